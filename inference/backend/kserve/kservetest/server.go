// Package kservetest is an Open Inference Protocol (KServe v2) gRPC server
// for tests: it serves models described by their tensors, checks every
// request as Triton does, answers with outputs of the right shape, and
// injects latency and faults (errors, malformed responses, stalls, a kill
// mid-run) on demand, so clients can be tested on loopback without a real
// inference server.
package kservetest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	inferencev2 "github.com/gpuperf/gpuperf/proto/inference"
)

// Tensor describes one input or output; -1 marks a variable dimension.
type Tensor struct {
	Name     string
	Datatype string
	Shape    []int64
}

// Model is one served model. When its inputs' first dimension is -1, that
// dimension is the batch: requests carry any number of samples along it,
// up to MaxBatch when MaxBatch is positive.
type Model struct {
	Name     string
	Version  string
	Platform string
	Inputs   []Tensor
	Outputs  []Tensor
	MaxBatch int
	// Advertised, when set, is what ModelMetadata reports for the inputs
	// in place of Inputs, which the server still enforces: a server whose
	// metadata does not describe what it accepts.
	Advertised []Tensor
	// Config, when set, is what ModelConfig answers (Triton's model
	// configuration); without it ModelConfig is UNIMPLEMENTED, as on a
	// server that is not Triton.
	Config *inferencev2.ModelConfig
}

// Simple returns the default model "simple": FP32 INPUT0 [-1,16] in, FP32
// OUTPUT0 [-1,4] out.
func Simple() Model {
	return Model{
		Name: "simple", Version: "1", Platform: "kservetest",
		Inputs:  []Tensor{{Name: "INPUT0", Datatype: "FP32", Shape: []int64{-1, 16}}},
		Outputs: []Tensor{{Name: "OUTPUT0", Datatype: "FP32", Shape: []int64{-1, 4}}},
	}
}

// ResNet50 returns a model with ResNet-50's tensors: FP32 input
// [-1,3,224,224], FP32 output [-1,1000].
func ResNet50() Model {
	return Model{
		Name: "resnet50", Version: "1", Platform: "kservetest",
		Inputs:  []Tensor{{Name: "input", Datatype: "FP32", Shape: []int64{-1, 3, 224, 224}}},
		Outputs: []Tensor{{Name: "output", Datatype: "FP32", Shape: []int64{-1, 1000}}},
	}
}

// Fault is a malformed response the server sends instead of a good one.
type Fault string

// Faults.
const (
	FaultNone          Fault = ""
	FaultNoOutputs     Fault = "no-outputs"     // a response without outputs
	FaultShortRaw      Fault = "short-raw"      // raw output data one element short
	FaultWrongDatatype Fault = "wrong-datatype" // outputs declared INT8 whatever the model says
	FaultWrongBatch    Fault = "wrong-batch"    // the output batch dimension one more than the request's
	FaultRawCount      Fault = "raw-count"      // one raw_output_contents entry more than outputs
	FaultStreamID      Fault = "stream-id"      // stream responses carry an id no request has
)

// Behavior is how the server answers; change it at any time with
// SetBehavior.
type Behavior struct {
	// Latency delays every inference response; the server's statistics
	// count it as compute_infer.
	Latency time.Duration
	// Queue delays every inference before its Latency, counted as time in
	// the server's queue.
	Queue time.Duration
	// FailEvery makes every FailEvery-th inference fail: INTERNAL on
	// ModelInfer, an error_message on the stream. 0 never fails.
	FailEvery int
	// Fault malforms every inference response.
	Fault Fault
	// Stall leaves every inference unanswered until the client gives up
	// or the server closes.
	Stall bool
	// NotLive and NotReady make ServerLive and ServerReady say false.
	NotLive, NotReady bool
	// NoStatistics makes ModelStatistics answer UNIMPLEMENTED, as a
	// server without Triton's statistics extension does.
	NoStatistics bool
}

// Options configure a Server.
type Options struct {
	// Addr is the address to listen on; "127.0.0.1:0" when empty.
	Addr string
	// Name, Version and Extensions are ServerMetadata's answer; Name and
	// Version default to "kservetest" and "1.0.0".
	Name, Version string
	Extensions    []string
	// Models are the served models; Simple() when empty.
	Models   []Model
	Behavior Behavior
	// TLS, when set, serves TLS (set ClientAuth for mutual TLS).
	TLS *tls.Config
	// Inspect, when set, sees every inference request before it is
	// checked, on the handler's goroutine. It must not keep the request.
	Inspect func(*inferencev2.ModelInferRequest)
}

// Stats counts what the server saw.
type Stats struct {
	Conns    int64 // connections accepted
	Requests int64 // inference requests received, unary and streamed
	Streamed int64 // of which on ModelStreamInfer
	Samples  int64 // samples (batch dimensions) in valid requests
	Failed   int64 // requests answered with an error, injected or not
	// MaxInflight is the most inference requests the server held at once.
	MaxInflight int64
}

// Server is a running test server.
type Server struct {
	inferencev2.UnimplementedGRPCInferenceServiceServer

	opts     Options
	lis      net.Listener
	g        *grpc.Server
	served   chan struct{} // closed when Serve returns
	behavior atomic.Pointer[Behavior]

	conns, requests, streamed, samples, failed atomic.Int64
	seq                                        atomic.Int64 // counts inferences, for FailEvery
	inflight, maxInflight                      atomic.Int64

	zeros sync.Map // zeroKey -> []byte, read-only output data

	statsMu sync.Mutex
	stats   map[string]*modelStats // by model name
}

// modelStats is what ModelStatistics reports for one model: the latency
// wait counts as compute_infer, the checks and the response building as
// compute_input and compute_output.
type modelStats struct {
	inferences, executions                     uint64
	success, fail, queue, input, infer, output duration
}

// duration is a StatisticDuration's count and total.
type duration struct{ count, ns uint64 }

func add(d *duration, ns time.Duration) {
	d.count++
	d.ns += uint64(ns)
}

func (d duration) proto() *inferencev2.StatisticDuration {
	return &inferencev2.StatisticDuration{Count: d.count, Ns: d.ns}
}

type zeroKey struct{ n int64 }

// Start listens and serves until Close.
func Start(o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Name == "" {
		o.Name = "kservetest"
	}
	if o.Version == "" {
		o.Version = "1.0.0"
	}
	if len(o.Models) == 0 {
		o.Models = []Model{Simple()}
	}
	for _, m := range o.Models {
		for _, t := range append(slices.Clone(m.Inputs), m.Outputs...) {
			if _, ok := sizeOf(t.Datatype); !ok {
				return nil, fmt.Errorf("kservetest: model %q: tensor %q: unknown datatype %q", m.Name, t.Name, t.Datatype)
			}
		}
	}
	lis, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("kservetest: listen: %w", err)
	}
	s := &Server{opts: o, served: make(chan struct{})}
	b := o.Behavior
	s.behavior.Store(&b)
	s.lis = countingListener{Listener: lis, n: &s.conns}
	gopts := []grpc.ServerOption{grpc.MaxRecvMsgSize(1 << 30), grpc.MaxSendMsgSize(1 << 30)}
	if o.TLS != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	s.g = grpc.NewServer(gopts...)
	inferencev2.RegisterGRPCInferenceServiceServer(s.g, s)
	go func() {
		defer close(s.served)
		_ = s.g.Serve(s.lis) // returns when Close stops the server
	}()
	return s, nil
}

// New starts a server for a test and closes it when the test ends.
func New(tb testing.TB, o Options) *Server {
	tb.Helper()
	s, err := Start(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Addr returns the address the server listens on, HOST:PORT.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// SetBehavior changes how the server answers from now on.
func (s *Server) SetBehavior(b Behavior) { s.behavior.Store(&b) }

// Behavior returns how the server answers.
func (s *Server) Behavior() Behavior { return *s.behavior.Load() }

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	return Stats{Conns: s.conns.Load(), Requests: s.requests.Load(), Streamed: s.streamed.Load(),
		Samples: s.samples.Load(), Failed: s.failed.Load(), MaxInflight: s.maxInflight.Load()}
}

// Close kills the server as a crash would: the listener and every
// connection close at once, calls in flight fail. It returns once every
// handler has returned. Close may be called more than once.
func (s *Server) Close() {
	s.g.Stop()
	<-s.served
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// ServerLive implements the RPC.
func (s *Server) ServerLive(context.Context, *inferencev2.ServerLiveRequest) (*inferencev2.ServerLiveResponse, error) {
	return &inferencev2.ServerLiveResponse{Live: !s.Behavior().NotLive}, nil
}

// ServerReady implements the RPC.
func (s *Server) ServerReady(context.Context, *inferencev2.ServerReadyRequest) (*inferencev2.ServerReadyResponse, error) {
	return &inferencev2.ServerReadyResponse{Ready: !s.Behavior().NotReady}, nil
}

// ServerMetadata implements the RPC.
func (s *Server) ServerMetadata(context.Context, *inferencev2.ServerMetadataRequest) (*inferencev2.ServerMetadataResponse, error) {
	return &inferencev2.ServerMetadataResponse{Name: s.opts.Name, Version: s.opts.Version, Extensions: s.opts.Extensions}, nil
}

// ModelReady implements the RPC: false for a model it does not serve, as
// Triton answers.
func (s *Server) ModelReady(_ context.Context, r *inferencev2.ModelReadyRequest) (*inferencev2.ModelReadyResponse, error) {
	_, err := s.model(r.GetName(), r.GetVersion())
	return &inferencev2.ModelReadyResponse{Ready: err == nil}, nil
}

// ModelMetadata implements the RPC.
func (s *Server) ModelMetadata(_ context.Context, r *inferencev2.ModelMetadataRequest) (*inferencev2.ModelMetadataResponse, error) {
	m, err := s.model(r.GetName(), r.GetVersion())
	if err != nil {
		return nil, err
	}
	inputs := m.Inputs
	if m.Advertised != nil {
		inputs = m.Advertised
	}
	return &inferencev2.ModelMetadataResponse{
		Name: m.Name, Versions: []string{m.Version}, Platform: m.Platform,
		Inputs: metadata(inputs), Outputs: metadata(m.Outputs),
	}, nil
}

func metadata(ts []Tensor) []*inferencev2.ModelMetadataResponse_TensorMetadata {
	out := make([]*inferencev2.ModelMetadataResponse_TensorMetadata, len(ts))
	for i, t := range ts {
		out[i] = &inferencev2.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: slices.Clone(t.Shape)}
	}
	return out
}

func (s *Server) model(name, version string) (*Model, error) {
	for i := range s.opts.Models {
		m := &s.opts.Models[i]
		if m.Name == name {
			if version != "" && version != m.Version {
				return nil, status.Errorf(codes.NotFound, "Request for unknown model: '%s' version %s is not found", name, version)
			}
			return m, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "Request for unknown model: '%s' is not found", name)
}

// ModelInfer implements the RPC.
func (s *Server) ModelInfer(ctx context.Context, r *inferencev2.ModelInferRequest) (*inferencev2.ModelInferResponse, error) {
	s.requests.Add(1)
	resp, err := s.infer(ctx, r)
	if err != nil {
		s.failed.Add(1)
		return nil, err
	}
	return resp, nil
}

// ModelStreamInfer implements the RPC: requests are answered concurrently,
// each when it is done, so responses may overtake one another.
func (s *Server) ModelStreamInfer(stream grpc.BidiStreamingServer[inferencev2.ModelInferRequest, inferencev2.ModelStreamInferResponse]) error {
	ctx := stream.Context()
	var (
		wg     sync.WaitGroup
		sendMu sync.Mutex // one Send at a time
	)
	defer wg.Wait()
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		s.requests.Add(1)
		s.streamed.Add(1)
		wg.Go(func() {
			resp, err := s.infer(ctx, r)
			if ctx.Err() != nil {
				return
			}
			out := &inferencev2.ModelStreamInferResponse{InferResponse: resp}
			if err != nil {
				s.failed.Add(1)
				out = &inferencev2.ModelStreamInferResponse{
					ErrorMessage:  status.Convert(err).Message(),
					InferResponse: &inferencev2.ModelInferResponse{Id: r.GetId()},
				}
			}
			if s.Behavior().Fault == FaultStreamID && out.InferResponse != nil {
				out.InferResponse.Id = "not-" + r.GetId()
			}
			sendMu.Lock()
			defer sendMu.Unlock()
			_ = stream.Send(out) // a failed Send ends the stream; Recv reports it
		})
	}
}

// infer checks a request, waits out the latency and builds the response,
// or fails as the behaviour says; the model's statistics count each phase.
func (s *Server) infer(ctx context.Context, r *inferencev2.ModelInferRequest) (*inferencev2.ModelInferResponse, error) {
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for m := s.maxInflight.Load(); n > m && !s.maxInflight.CompareAndSwap(m, n); m = s.maxInflight.Load() {
	}
	if s.opts.Inspect != nil {
		s.opts.Inspect(r)
	}
	t0 := time.Now()
	b := s.Behavior()
	m, err := s.model(r.GetModelName(), r.GetModelVersion())
	if err != nil {
		return nil, err
	}
	samples, err := check(m, r)
	if err != nil {
		s.record(m.Name, func(st *modelStats) { add(&st.fail, time.Since(t0)) })
		return nil, err
	}
	seq := s.seq.Add(1)
	if b.Stall {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	tc := time.Now()
	if b.Queue > 0 {
		if err := sleep(ctx, b.Queue); err != nil {
			return nil, err
		}
	}
	t1 := time.Now()
	if b.Latency > 0 {
		if err := sleep(ctx, b.Latency); err != nil {
			return nil, err
		}
	}
	t2 := time.Now()
	if b.FailEvery > 0 && seq%int64(b.FailEvery) == 0 {
		s.record(m.Name, func(st *modelStats) { add(&st.fail, t2.Sub(t0)) })
		return nil, status.Errorf(codes.Internal, "injected failure (request %d)", seq)
	}
	s.samples.Add(samples)
	resp := s.response(m, r, samples, b.Fault)
	t3 := time.Now()
	s.record(m.Name, func(st *modelStats) {
		st.inferences += uint64(samples)
		st.executions++
		add(&st.success, t3.Sub(t0))
		add(&st.queue, t1.Sub(tc))
		add(&st.input, tc.Sub(t0))
		add(&st.infer, t2.Sub(t1))
		add(&st.output, t3.Sub(t2))
	})
	return resp, nil
}

// sleep waits d, or fails with the context's status.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// record updates model name's statistics.
func (s *Server) record(name string, f func(*modelStats)) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	if s.stats == nil {
		s.stats = map[string]*modelStats{}
	}
	st := s.stats[name]
	if st == nil {
		st = &modelStats{}
		s.stats[name] = st
	}
	f(st)
}

// ModelConfig implements Triton's model configuration RPC for models that
// have a Config.
func (s *Server) ModelConfig(_ context.Context, r *inferencev2.ModelConfigRequest) (*inferencev2.ModelConfigResponse, error) {
	m, err := s.model(r.GetName(), r.GetVersion())
	if err != nil {
		return nil, err
	}
	if m.Config == nil {
		return nil, status.Error(codes.Unimplemented, "unknown method ModelConfig")
	}
	return &inferencev2.ModelConfigResponse{Config: m.Config}, nil
}

// ModelStatistics implements Triton's statistics extension for the served
// models: one entry per model (version "1"), all models when the request
// names none.
func (s *Server) ModelStatistics(_ context.Context, r *inferencev2.ModelStatisticsRequest) (*inferencev2.ModelStatisticsResponse, error) {
	if s.Behavior().NoStatistics {
		return nil, status.Error(codes.Unimplemented, "unknown method ModelStatistics")
	}
	var names []string
	if r.GetName() != "" {
		m, err := s.model(r.GetName(), r.GetVersion())
		if err != nil {
			return nil, err
		}
		names = []string{m.Name}
	} else {
		for _, m := range s.opts.Models {
			names = append(names, m.Name)
		}
	}
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	resp := &inferencev2.ModelStatisticsResponse{}
	for _, name := range names {
		st := s.stats[name]
		if st == nil {
			st = &modelStats{}
		}
		resp.ModelStats = append(resp.ModelStats, &inferencev2.ModelStatistics{
			Name: name, Version: "1", InferenceCount: st.inferences, ExecutionCount: st.executions,
			InferenceStats: &inferencev2.InferStatistics{
				Success: st.success.proto(), Fail: st.fail.proto(), Queue: st.queue.proto(),
				ComputeInput: st.input.proto(), ComputeInfer: st.infer.proto(), ComputeOutput: st.output.proto(),
			},
		})
	}
	return resp, nil
}

// check validates a request against the model as Triton does, and returns
// its number of samples.
func check(m *Model, r *inferencev2.ModelInferRequest) (int64, error) {
	bad := func(format string, a ...any) error {
		return status.Errorf(codes.InvalidArgument, format, a...)
	}
	if len(r.GetInputs()) != len(m.Inputs) {
		return 0, bad("expected %d inputs but got %d inputs for model '%s'", len(m.Inputs), len(r.GetInputs()), m.Name)
	}
	raw := r.GetRawInputContents()
	if len(raw) > 0 && len(raw) != len(r.GetInputs()) {
		return 0, bad("%d raw input contents for %d inputs of model '%s'", len(raw), len(r.GetInputs()), m.Name)
	}
	batch := int64(-1)
	for i, in := range r.GetInputs() {
		j := slices.IndexFunc(m.Inputs, func(t Tensor) bool { return t.Name == in.GetName() })
		if j < 0 {
			return 0, bad("unexpected inference input '%s' for model '%s'", in.GetName(), m.Name)
		}
		want := m.Inputs[j]
		if in.GetDatatype() != want.Datatype {
			return 0, bad("inference input '%s' data-type is '%s', but model '%s' expects '%s'", in.GetName(), in.GetDatatype(), m.Name, want.Datatype)
		}
		shape := in.GetShape()
		ok := len(shape) == len(want.Shape)
		for k := 0; ok && k < len(shape); k++ {
			ok = shape[k] >= 0 && (want.Shape[k] == -1 || shape[k] == want.Shape[k])
		}
		if !ok {
			return 0, bad("unexpected shape for input '%s' for model '%s'. Expected %v, got %v", in.GetName(), m.Name, want.Shape, shape)
		}
		if batched(m) {
			switch {
			case batch == -1:
				batch = shape[0]
			case shape[0] != batch:
				return 0, bad("input '%s' batch size %d differs from %d", in.GetName(), shape[0], batch)
			}
		}
		elems := int64(1)
		for _, d := range shape {
			elems *= d
		}
		size, _ := sizeOf(in.GetDatatype())
		switch {
		case len(raw) > 0 && in.GetContents() != nil:
			return 0, bad("input '%s' has both contents and raw_input_contents", in.GetName())
		case len(raw) > 0 && size == 0:
			if got, err := countBytes(raw[i]); err != nil || got != elems {
				return 0, bad("input '%s': raw BYTES data holds %d elements (%v), shape needs %d", in.GetName(), got, err, elems)
			}
		case len(raw) > 0:
			if int64(len(raw[i])) != elems*int64(size) {
				return 0, bad("unexpected total byte size %d for input '%s', expecting %d", len(raw[i]), in.GetName(), elems*int64(size))
			}
		case in.GetContents() == nil:
			return 0, bad("input '%s' has no data", in.GetName())
		}
	}
	if !batched(m) {
		return 1, nil
	}
	if batch < 1 {
		return 0, bad("batch size %d for model '%s'", batch, m.Name)
	}
	if m.MaxBatch > 0 && batch > int64(m.MaxBatch) {
		return 0, bad("inference request batch-size must be <= %d for '%s'", m.MaxBatch, m.Name)
	}
	return batch, nil
}

// batched reports whether the model's first dimension is the batch.
func batched(m *Model) bool {
	for _, t := range m.Inputs {
		if len(t.Shape) == 0 || t.Shape[0] != -1 {
			return false
		}
	}
	return true
}

// response builds the outputs of a request of n samples: zeros of the
// outputs' shapes (the batch dimension n, other variable dimensions 1),
// malformed as fault says.
func (s *Server) response(m *Model, r *inferencev2.ModelInferRequest, n int64, fault Fault) *inferencev2.ModelInferResponse {
	resp := &inferencev2.ModelInferResponse{ModelName: m.Name, ModelVersion: m.Version, Id: r.GetId()}
	if fault == FaultNoOutputs {
		return resp
	}
	for i, t := range m.Outputs {
		shape := slices.Clone(t.Shape)
		for k, d := range shape {
			switch {
			case k == 0 && d == -1 && batched(m):
				shape[k] = n
			case d == -1:
				shape[k] = 1
			}
		}
		elems := int64(1)
		for _, d := range shape {
			elems *= d
		}
		size, _ := sizeOf(t.Datatype)
		var data []byte
		if size == 0 { // BYTES: empty strings
			data = s.zeroBytes(elems * 4)
		} else {
			data = s.zeroBytes(elems * int64(size))
		}
		dtype := t.Datatype
		switch fault {
		case FaultShortRaw:
			if i == 0 && len(data) > 0 {
				data = data[:len(data)-max(size, 4)]
			}
		case FaultWrongDatatype:
			dtype = "INT8"
		case FaultWrongBatch:
			if batched(m) {
				shape[0]++
			}
		}
		resp.Outputs = append(resp.Outputs, &inferencev2.ModelInferResponse_InferOutputTensor{Name: t.Name, Datatype: dtype, Shape: shape})
		resp.RawOutputContents = append(resp.RawOutputContents, data)
	}
	if fault == FaultRawCount {
		resp.RawOutputContents = append(resp.RawOutputContents, nil)
	}
	return resp
}

// zeroBytes returns n zero bytes, shared: responses only read them.
func (s *Server) zeroBytes(n int64) []byte {
	if b, ok := s.zeros.Load(zeroKey{n}); ok {
		return b.([]byte)
	}
	b, _ := s.zeros.LoadOrStore(zeroKey{n}, make([]byte, n))
	return b.([]byte)
}

// sizeOf returns the size of a datatype's element, 0 for BYTES. The server
// keeps its own table, apart from the client's, so a mistake in one shows
// up as a rejected request instead of passing both.
func sizeOf(dtype string) (int, bool) {
	switch dtype {
	case "BOOL", "UINT8", "INT8":
		return 1, true
	case "UINT16", "INT16", "FP16", "BF16":
		return 2, true
	case "UINT32", "INT32", "FP32":
		return 4, true
	case "UINT64", "INT64", "FP64":
		return 8, true
	case "BYTES":
		return 0, true
	}
	return 0, false
}

// countBytes counts the elements of raw BYTES data (4-byte little-endian
// length, then the bytes).
func countBytes(raw []byte) (int64, error) {
	var n int64
	for len(raw) > 0 {
		if len(raw) < 4 {
			return n, errors.New("truncated length")
		}
		l := int64(raw[0]) | int64(raw[1])<<8 | int64(raw[2])<<16 | int64(raw[3])<<24
		if l > int64(len(raw)-4) {
			return n, errors.New("element past the end")
		}
		raw = raw[4+l:]
		n++
	}
	return n, nil
}
