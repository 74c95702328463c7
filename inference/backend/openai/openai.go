package openai

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
)

// Backend is the openai backend. Create it with New or NewWithConfig.
type Backend struct {
	cfg     Config
	prompts *prompts
	apiKey  string
	base    string // the URL, without a trailing slash
	tr      *http.Transport
	client  *http.Client
	pool    *backend.Pool
	decs    sync.Pool    // *decoder
	metrics *http.Client // the scrapes' (see newMetricsClient)

	facts facts

	// stats scrapes the server's metrics at the timed runs' edges (see
	// ServerWindow); nil when metrics are off.
	stats *backend.StatsWindow[metricsRead]
}

var (
	_ inference.Backend   = (*Backend)(nil)
	_ inference.Describer = (*Backend)(nil)
	_ inference.Annotator = (*Backend)(nil)
	_ backend.Starter     = (*Backend)(nil)

	_ inference.Reseeder       = (*Backend)(nil)
	_ inference.OptionReporter = (*Backend)(nil)
)

// Reseed draws synthetic prompts from seed set set: the configured seed
// for set 0, inference.DeriveSeed of it otherwise. It returns that seed;
// prompts from a file do not depend on it. Call it before a run.
func (b *Backend) Reseed(set int) uint64 {
	seed := inference.DeriveSeed(b.cfg.Seed, set)
	b.prompts.cfg.Seed = seed
	return seed
}

// EffectiveOptions returns the options that shape the requests, defaults
// included (see Config.Options).
func (b *Backend) EffectiveOptions() map[string]string { return b.cfg.Options() }

// firstTokener is the part of *inference.Recorder that stamps a sample's
// first token (LoadGen's FirstTokenComplete).
type firstTokener interface {
	FirstToken(id uint64)
}

var _ firstTokener = (*inference.Recorder)(nil)

// New returns the openai backend configured by options (see Config and
// the package documentation). It reads the prompts file, the CA file and
// the API key's variable, but does not contact the server: Start does.
func New(opts map[string]string) (*Backend, error) {
	c, err := ParseConfig(opts)
	if err != nil {
		return nil, err
	}
	return NewWithConfig(c)
}

// NewWithConfig returns the openai backend configured by c.
func NewWithConfig(c Config) (*Backend, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p, err := newPrompts(c)
	if err != nil {
		return nil, err
	}
	key, err := c.apiKey()
	if err != nil {
		return nil, err
	}
	pool, err := c.rootCAs()
	if err != nil {
		return nil, err
	}
	conns := c.Connections
	if conns == 0 {
		conns = c.MaxInflight
	}
	dialer := &net.Dialer{Timeout: c.ConnectTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		// No proxy: a proxy in the path would be measured as the server.
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: c.ConnectTimeout,
		ForceAttemptHTTP2:   true,
		MaxConnsPerHost:     conns,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		// Compression would make the server buffer the event stream.
		DisableCompression: true,
	}
	b := &Backend{
		cfg: c, prompts: p, apiKey: key, base: c.URL, tr: tr,
		client: &http.Client{Transport: tr}, metrics: newMetricsClient(tr),
	}
	// One request per sample: the API has no batches.
	b.pool = backend.NewPool(requester{b}, c.MaxInflight, 1)
	b.stats = b.newStatsWindow()
	return b, nil
}

// Config returns the backend's configuration.
func (b *Backend) Config() Config { return b.cfg }

// Name returns "openai".
func (b *Backend) Name() string { return "openai" }

// Start checks the server and starts the workers, reporting to rec.
func (b *Backend) Start(ctx context.Context, rec *inference.Recorder) error {
	if rec == nil {
		return errors.New("openai: start: nil recorder")
	}
	return b.StartWith(ctx, rec)
}

// StartWith checks that the server answers and serves the model (within
// connect_timeout), then starts max_inflight workers reporting to c. When
// c also has FirstToken(id uint64), as *inference.Recorder has, each
// sample's first token is stamped through it.
func (b *Backend) StartWith(ctx context.Context, c backend.Completer) error {
	if _, err := b.checkModel(ctx); err != nil {
		return fmt.Errorf("openai: start: %w", err)
	}
	if err := b.pool.StartWith(ctx, c); err != nil {
		return err
	}
	if b.stats != nil {
		b.stats.Open(ctx)
	}
	// No sample can have been issued yet, so no worker has added a fact.
	b.facts.reset()
	return nil
}

// IssueQuery queues the samples and returns; a free worker sends each as
// its own request. Before Start and after Stop it drops them.
func (b *Backend) IssueQuery(samples []inference.Sample) { b.pool.IssueQuery(samples) }

// FlushQueries does nothing: every sample is sent as soon as a worker is
// free.
func (b *Backend) FlushQueries() {}

// Stop cancels the requests in flight and a metrics scrape, and waits for
// them. Their samples, and those still queued, are dropped: incomplete,
// not failed.
func (b *Backend) Stop() error {
	err := b.pool.Stop()
	if b.stats != nil {
		b.stats.Close()
	}
	b.metrics.CloseIdleConnections()
	b.tr.CloseIdleConnections()
	return err
}

// Annotations reports what the last run learned (see facts.annotations):
// where token counts came from, chiefly.
func (b *Backend) Annotations() map[string]string { return b.facts.annotations(b.cfg.Stream) }

// requester is the pool's model call: one request per sample.
type requester struct{ *Backend }

func (r requester) Serve(ctx context.Context, batch []inference.Sample, c backend.Completer) {
	ft, _ := c.(firstTokener)
	dec, _ := r.decs.Get().(*decoder)
	if dec == nil {
		dec = new(decoder)
	}
	for _, s := range batch {
		r.serve(ctx, s, c, ft, dec)
	}
	r.decs.Put(dec)
}

// serve sends one sample's request and reports it, unless the backend
// stopped meanwhile.
func (b *Backend) serve(ctx context.Context, s inference.Sample, c backend.Completer, ft firstTokener, dec *decoder) {
	body, _, err := b.prompts.body(s.Index)
	if err != nil {
		c.Complete(inference.Response{ID: s.ID, Err: fmt.Errorf("openai: sample %d: request body: %w", s.Index, err)})
		return
	}
	call := b.newCall(ctx, dec)
	defer call.release()
	o := call.do(b, body, func() {
		if ft != nil {
			ft.FirstToken(s.ID)
		}
	})
	if ctx.Err() != nil {
		return // stopped: the sample is dropped
	}
	if o.err != nil {
		o.err = fmt.Errorf("openai: %w", o.err)
	}
	c.Complete(inference.Response{ID: s.ID, Tokens: o.tokens, Err: o.err})
	b.facts.add(o)
}

// outcome is what one request produced.
type outcome struct {
	tokens int64
	// usage is usage.completion_tokens, or -1 when the server sent no
	// usage; chunks counts the streamed chunks that carried text.
	usage  int64
	chunks int64
	finish string // the last finish_reason seen
	err    error
}

// call is one request in flight: its context, its timers and its body.
type call struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	total  *time.Timer // request_timeout
	stall  *time.Timer // stall_timeout, reset on every read
	stallD time.Duration
	body   io.ReadCloser
	dec    *decoder
	done   bool // the response was read to its end
}

func (b *Backend) newCall(parent context.Context, dec *decoder) *call {
	ctx, cancel := context.WithCancelCause(parent)
	cl := &call{ctx: ctx, cancel: cancel, stallD: b.cfg.StallTimeout, dec: dec}
	cl.total = time.AfterFunc(b.cfg.RequestTimeout, func() {
		cancel(fmt.Errorf("%w after %s (%s)", ErrTimeout, b.cfg.RequestTimeout, OptRequestTimeout))
	})
	if b.cfg.Stream {
		cl.stall = time.AfterFunc(cl.stallD, func() {
			cancel(fmt.Errorf("%w: no data from the server for %s (%s)", ErrStalled, cl.stallD, OptStallTimeout))
		})
	}
	return cl
}

// release ends the request. A response read to its end leaves its
// connection for the next request: the little that follows [DONE] (the
// chunked encoding's last chunk) is read before the body is closed. Any
// other response is closed at once, and its connection with it, so a
// worker never waits on the rest of a stream it has given up on.
func (cl *call) release() {
	if cl.body != nil {
		if cl.done {
			_, _ = io.CopyN(io.Discard, cl.body, 4<<10)
		}
		cl.body.Close()
	}
	cl.total.Stop()
	if cl.stall != nil {
		cl.stall.Stop()
	}
	cl.cancel(nil)
}

// fail returns err, or the reason the call's context ended when that is
// what caused it: a timeout or a stall rather than "context canceled".
func (cl *call) fail(err error) error {
	if cause := context.Cause(cl.ctx); cause != nil && cl.ctx.Err() != nil {
		return cause
	}
	return err
}

// Read reads the body, restarting the stall timer whenever data arrives.
func (cl *call) Read(p []byte) (int, error) {
	n, err := cl.body.Read(p)
	if n > 0 && cl.stall != nil {
		cl.stall.Reset(cl.stallD)
	}
	return n, err
}

// do sends body and reads the response; first is called when the first
// token arrives.
func (cl *call) do(b *Backend, body []byte, first func()) outcome {
	o := outcome{usage: -1}
	req, err := http.NewRequestWithContext(cl.ctx, http.MethodPost, b.base+b.cfg.endpoint(), bytes.NewReader(body))
	if err != nil {
		o.err = err
		return o
	}
	req.Header.Set("Content-Type", "application/json")
	if b.cfg.Stream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	b.authorize(req)
	resp, err := b.client.Do(req)
	if err != nil {
		o.err = cl.fail(err)
		return o
	}
	cl.body = resp.Body
	if resp.StatusCode != http.StatusOK {
		// An error response is short and complete: reading it to its end
		// keeps the connection for the next request (a 429 storm must not
		// become a reconnect storm).
		cl.done = true
		o.err = cl.fail(statusError(resp))
		return o
	}
	if !b.cfg.Stream {
		return cl.whole()
	}
	if ct := resp.Header.Get("Content-Type"); !isEventStream(ct) {
		// A server that ignored "stream": true, or a proxy's error page.
		buf, _ := io.ReadAll(io.LimitReader(cl, 64<<10))
		if m := errorMessage(buf); m != "" {
			o.err = fmt.Errorf("%w: %s", ErrServer, m)
		} else {
			o.err = fmt.Errorf("%w: Content-Type %q, want text/event-stream: %s", ErrMalformed, ct, compact(buf))
		}
		return o
	}
	return cl.stream(first)
}

func isEventStream(ct string) bool {
	mt, _, _ := bytes.Cut([]byte(ct), []byte(";"))
	return string(bytes.TrimSpace(mt)) == "text/event-stream"
}

// stream reads the event stream up to [DONE].
func (cl *call) stream(first func()) outcome {
	o := outcome{usage: -1}
	er := newEventReader(cl)
	events := 0
	for {
		typ, data, err := er.next()
		if err == io.EOF {
			o.err = cl.fail(ErrTruncated)
			break
		}
		if err != nil {
			o.err = cl.fail(err)
			break
		}
		if string(data) == "[DONE]" {
			cl.done = true
			break
		}
		if string(typ) == "error" {
			// TGI-style: an error event, its data JSON or plain text.
			m := errorMessage(data)
			if m == "" {
				m = compact(data)
			}
			o.err = fmt.Errorf("%w: %s", ErrServer, m)
			break
		}
		events++
		d, err := cl.dec.decode(data)
		if err != nil {
			o.err = fmt.Errorf("event %d: %w", events, err)
			break
		}
		if d.text > 0 {
			if o.chunks == 0 {
				first()
			}
			o.chunks++
		}
		if d.finish != "" {
			o.finish = d.finish
		}
		if d.usage >= 0 {
			o.usage = d.usage
		}
	}
	o.tokens = o.chunks
	if o.usage >= 0 {
		o.tokens = o.usage
	}
	return o
}

// whole reads a response that was not streamed.
func (cl *call) whole() outcome {
	o := outcome{usage: -1}
	buf, err := io.ReadAll(io.LimitReader(cl, maxEventBytes+1))
	if err == nil && len(buf) > maxEventBytes {
		err = fmt.Errorf("%w: a response longer than %d bytes", ErrMalformed, maxEventBytes)
	}
	if err != nil {
		o.err = cl.fail(err)
		return o
	}
	cl.done = true
	d, err := cl.dec.decode(buf)
	if err != nil {
		o.err = err
		return o
	}
	o.finish = d.finish
	if d.usage < 0 {
		o.err = fmt.Errorf("%w: %s=false needs a server that reports usage", ErrNoUsage, OptStream)
		return o
	}
	o.usage, o.tokens = d.usage, d.usage
	return o
}

// authorize adds the API key, when there is one.
func (b *Backend) authorize(req *http.Request) {
	req.Header.Set("User-Agent", userAgent)
	if b.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+b.apiKey)
	}
}
