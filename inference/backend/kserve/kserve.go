package kserve

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
	inferencev2 "github.com/gpuperf/gpuperf/proto/inference"
)

// Backend is the Open Inference Protocol client. Create it with New or
// NewWithConfig; Start connects, Stop disconnects, and it may be started
// again (the peak search starts it once per probe).
type Backend struct {
	cfg Config
	// set is the seed set random inputs are drawn from (see Reseed).
	set int

	// cur is the running session, nil when stopped; IssueQuery reads it
	// without the lock.
	cur atomic.Pointer[session]

	// mu serializes Start, Stop and Describe, and protects the fields
	// below.
	mu   sync.Mutex
	sess *session
	// spec and data are the request layout and input data prepared for
	// the model metadata preparedFor describes (see prepare).
	preparedFor string
	spec        *spec
	data        *dataset
	// stats reads the server's statistics at the timed runs' edges (see
	// ServerWindow); it keeps the last run's past Stop.
	stats *backend.StatsWindow[statsRead]
}

var (
	_ inference.Backend        = (*Backend)(nil)
	_ inference.Describer      = (*Backend)(nil)
	_ backend.Starter          = (*Backend)(nil)
	_ inference.Reseeder       = (*Backend)(nil)
	_ inference.OptionReporter = (*Backend)(nil)
)

// Reseed draws random inputs from seed set set: the configured seed for
// set 0, inference.DeriveSeed of it otherwise; the data is generated
// again at the next Start. It returns that seed. Inputs of zeros or from
// files do not depend on it.
func (b *Backend) Reseed(set int) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if set != b.set {
		b.set = set
		b.preparedFor, b.spec, b.data = "", nil, nil
	}
	return inference.DeriveSeed(b.cfg.Seed, set)
}

// EffectiveOptions returns the options that shape the requests, defaults
// included (see Config.Options).
func (b *Backend) EffectiveOptions() map[string]string { return b.cfg.Options() }

// New returns a backend configured by options (see the Opt constants and
// DefaultConfig); model is required.
func New(opts map[string]string) (*Backend, error) {
	c, err := ParseConfig(opts)
	if err != nil {
		return nil, err
	}
	return newWithConfig(c), nil
}

// NewWithConfig returns a backend configured by c.
func NewWithConfig(c Config) (*Backend, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return newWithConfig(c), nil
}

// newWithConfig returns a backend configured by c, which is valid.
func newWithConfig(c Config) *Backend {
	b := &Backend{cfg: c}
	b.stats = backend.NewStatsWindow(b.readStats, delta)
	return b
}

// Config returns the backend's configuration.
func (b *Backend) Config() Config { return b.cfg }

// Name returns "kserve".
func (b *Backend) Name() string { return "kserve" }

// Start connects and reports to rec; see StartWith.
func (b *Backend) Start(ctx context.Context, rec *inference.Recorder) error {
	if rec == nil {
		return errors.New("kserve: start: nil recorder")
	}
	return b.StartWith(ctx, rec)
}

// StartWith connects to the server, checks that it and the model are ready,
// learns the model's inputs, prepares the input data, sends one test
// request of batch samples, and starts max_inflight workers reporting to c.
// All of it but the data preparation is bounded by the timeout option.
func (b *Backend) StartWith(ctx context.Context, c backend.Completer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sess != nil {
		return errors.New("kserve: start: already started")
	}
	s, err := b.open(ctx)
	if err != nil {
		return fmt.Errorf("kserve: %w", err)
	}
	if err := s.probe(ctx); err != nil {
		s.close()
		return fmt.Errorf("kserve: %w", err)
	}
	b.stats.Open(s.ctx)
	s.async = backend.NewAsync(s, b.cfg.MaxInflight, b.cfg.Batch)
	if err := s.async.(backend.Starter).StartWith(ctx, c); err != nil {
		s.close()
		return fmt.Errorf("kserve: %w", err)
	}
	b.sess = s
	b.cur.Store(s)
	return nil
}

// IssueQuery queues the samples for the workers; it never waits for the
// server. Before Start and after Stop it drops them.
func (b *Backend) IssueQuery(samples []inference.Sample) {
	if s := b.cur.Load(); s != nil {
		s.async.IssueQuery(samples)
	}
}

// FlushQueries does nothing: workers never hold samples back to fill a
// batch.
func (b *Backend) FlushQueries() {}

// Stop cancels the requests in flight, waits for the workers and the
// stream readers, and closes the connections. Samples still queued or in
// flight are dropped, never reported.
func (b *Backend) Stop() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sess
	if s == nil {
		return nil
	}
	b.cur.Store(nil)
	b.sess = nil
	err := s.async.Stop()
	b.stats.Close()
	s.close()
	return err
}

// session is one started run: the connections, the model's request
// layout and the input data. It is the synchronous model call that
// backend.NewAsync runs on max_inflight workers.
type session struct {
	cfg     *Config
	conns   []*grpc.ClientConn
	clients []inferencev2.GRPCInferenceServiceClient
	streams []*streamConn // nil for unary calls
	server  *inferencev2.ServerMetadataResponse
	// config is the model's configuration (Triton's extension), nil when
	// the server has none; configErr says why not, when it failed.
	config    *inferencev2.ModelConfig
	configErr string
	model     *inferencev2.ModelMetadataResponse
	spec      *spec
	data      *dataset
	async     inference.Backend

	next atomic.Uint64 // round-robin over connections

	// ctx is the streams' parent, cancelled by close; wg counts the
	// stream readers.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// callOptions lift gRPC's 4 MiB default on received messages: outputs of a
// large batch pass it.
var callOptions = []grpc.CallOption{grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)}

// dial opens the configured number of connections. gRPC connects lazily,
// so this never blocks; the first call on each connection does.
func (c *Config) dial() ([]*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if c.TLS != nil {
		creds = credentials.NewTLS(c.TLS)
	}
	conns := make([]*grpc.ClientConn, 0, c.Connections)
	for range c.Connections {
		cc, err := grpc.NewClient(c.Endpoint,
			grpc.WithTransportCredentials(creds),
			grpc.WithDefaultCallOptions(callOptions...),
			grpc.WithUserAgent("gpuperf-kserve"))
		if err != nil {
			for _, cc := range conns {
				cc.Close()
			}
			return nil, fmt.Errorf("%s=%q: %w", OptEndpoint, c.Endpoint, err)
		}
		conns = append(conns, cc)
	}
	return conns, nil
}

// open connects, checks readiness, reads the metadata and prepares the
// request layout and input data.
func (b *Backend) open(parent context.Context) (*session, error) {
	c := &b.cfg
	conns, err := c.dial()
	if err != nil {
		return nil, err
	}
	s := &session{cfg: c, conns: conns}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(parent))
	for _, cc := range conns {
		s.clients = append(s.clients, inferencev2.NewGRPCInferenceServiceClient(cc))
	}
	ctx, cancel := context.WithTimeout(parent, c.Timeout)
	defer cancel()
	if s.server, s.model, err = c.ready(ctx, s.clients[0]); err != nil {
		s.close()
		return nil, err
	}
	s.config, s.configErr = c.modelConfig(ctx, s.clients[0])
	// Open every other connection now, so the first requests of the run
	// do not pay for the handshakes.
	for i, cl := range s.clients[1:] {
		if _, err := cl.ServerLive(ctx, &inferencev2.ServerLiveRequest{}); err != nil {
			s.close()
			return nil, fmt.Errorf("server %s: connection %d of %d: %w", c.Endpoint, i+2, len(s.clients), c.rpcError(ctx, "ServerLive", err))
		}
	}
	if s.spec, s.data, err = b.prepare(s.model); err != nil {
		s.close()
		return nil, err
	}
	if c.Stream {
		s.streams = make([]*streamConn, len(s.clients))
		for i, cl := range s.clients {
			s.streams[i] = &streamConn{client: cl, parent: s.ctx, wg: &s.wg}
		}
	}
	return s, nil
}

// ready checks that the server is live and ready and the model ready, and
// returns the server's and the model's metadata.
func (c *Config) ready(ctx context.Context, cl inferencev2.GRPCInferenceServiceClient) (*inferencev2.ServerMetadataResponse, *inferencev2.ModelMetadataResponse, error) {
	where := "server " + c.Endpoint
	live, err := cl.ServerLive(ctx, &inferencev2.ServerLiveRequest{})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", where, c.rpcError(ctx, "ServerLive", err))
	}
	if !live.GetLive() {
		return nil, nil, fmt.Errorf("%s: not live (ServerLive says false)", where)
	}
	ready, err := cl.ServerReady(ctx, &inferencev2.ServerReadyRequest{})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", where, c.rpcError(ctx, "ServerReady", err))
	}
	if !ready.GetReady() {
		return nil, nil, fmt.Errorf("%s: not ready (ServerReady says false)", where)
	}
	server, err := cl.ServerMetadata(ctx, &inferencev2.ServerMetadataRequest{})
	switch {
	case status.Code(err) == codes.Unimplemented:
		server = &inferencev2.ServerMetadataResponse{}
	case err != nil:
		return nil, nil, fmt.Errorf("%s: %w", where, c.rpcError(ctx, "ServerMetadata", err))
	}
	if server.GetName() != "" {
		where += fmt.Sprintf(" (%s %s)", server.GetName(), server.GetVersion())
	}
	model := fmt.Sprintf("model %q", c.Model)
	if c.ModelVersion != "" {
		model += fmt.Sprintf(" version %q", c.ModelVersion)
	}
	mr, err := cl.ModelReady(ctx, &inferencev2.ModelReadyRequest{Name: c.Model, Version: c.ModelVersion})
	if err != nil {
		return nil, nil, fmt.Errorf("%s is not ready on %s: %w", model, where, c.rpcError(ctx, "ModelReady", err))
	}
	if !mr.GetReady() {
		return nil, nil, fmt.Errorf("%s is not ready on %s (ModelReady says false: is the name right, and is it loaded?)", model, where)
	}
	md, err := cl.ModelMetadata(ctx, &inferencev2.ModelMetadataRequest{Name: c.Model, Version: c.ModelVersion})
	if err != nil {
		return nil, nil, fmt.Errorf("%s on %s: %w", model, where, c.rpcError(ctx, "ModelMetadata", err))
	}
	return server, md, nil
}

// rpcError words a failed call: a deadline names the timeout option, an
// unreachable server says so.
func (c *Config) rpcError(ctx context.Context, rpc string, err error) error {
	switch {
	case status.Code(err) == codes.DeadlineExceeded || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s: no answer within %v (option %s): %w", rpc, c.Timeout, OptTimeout, err)
	case status.Code(err) == codes.Unavailable:
		return fmt.Errorf("%s: not reachable (is the server running, and does it speak %s?): %w", rpc, c.transport(), err)
	}
	return fmt.Errorf("%s: %w", rpc, err)
}

func (c *Config) transport() string {
	if c.TLS != nil {
		return "gRPC over TLS"
	}
	return "plaintext gRPC"
}

// prepare resolves the request layout for the model's metadata and
// returns it with the input data. Both are kept while the metadata stays
// the same, so a restart (a peak-search probe) neither generates nor reads
// the data again. The caller holds b.mu.
func (b *Backend) prepare(md *inferencev2.ModelMetadataResponse) (*spec, *dataset, error) {
	key := tensors(md.GetInputs()) + " -> " + tensors(md.GetOutputs())
	if b.data != nil && b.preparedFor == key {
		return b.spec, b.data, nil
	}
	c := b.cfg
	sp, err := newSpec(md, c)
	if err != nil {
		return nil, nil, err
	}
	var d *dataset
	if c.Files != nil {
		d, err = load(sp, c)
	} else {
		for i := range sp.inputs {
			if err = sp.resolve(i, c, nil); err != nil {
				break
			}
		}
		if err == nil {
			d, err = generate(sp, c.Inputs, inference.DeriveSeed(c.Seed, b.set), c.Samples)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("model %q: %w", c.Model, err)
	}
	b.preparedFor, b.spec, b.data = key, sp, d
	return sp, d, nil
}

// probe sends one request of batch samples and checks its response, so a
// request the server rejects (a shape it does not accept, a batch past its
// maximum, no streaming) is a clear error at Start rather than a run of
// failed samples.
func (s *session) probe(ctx context.Context) error {
	batch := make([]inference.Sample, s.cfg.Batch)
	for i := range batch {
		batch[i] = inference.Sample{ID: uint64(i), Index: uint32(i)}
	}
	if err := s.Infer(ctx, batch); err != nil {
		return fmt.Errorf("model %q: a test request of %d samples (%s) failed: %w", s.cfg.Model, len(batch), s.spec, err)
	}
	return nil
}

// close cancels the streams, waits for their readers and closes the
// connections.
func (s *session) close() {
	s.cancel()
	s.wg.Wait()
	for _, cc := range s.conns {
		cc.Close()
	}
}

// Name returns "kserve".
func (s *session) Name() string { return "kserve" }

// Infer sends one request of the batch's samples and checks the response.
func (s *session) Infer(ctx context.Context, batch []inference.Sample) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	i := (s.next.Add(1) - 1) % uint64(len(s.conns))
	var resp *inferencev2.ModelInferResponse
	var err error
	if s.streams != nil {
		resp, err = s.streams[i].infer(ctx, func(id string) *wireRequest { return s.encode(batch, id) })
	} else {
		resp = new(inferencev2.ModelInferResponse)
		err = s.conns[i].Invoke(ctx, modelInferMethod, s.encode(batch, ""), resp, withWireCodec)
	}
	if err != nil {
		// The server may see the deadline pass first and say so.
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
			return fmt.Errorf("no response within %v (option %s): %w", s.cfg.Timeout, OptTimeout, err)
		}
		return err
	}
	return s.spec.check(resp, len(batch))
}
