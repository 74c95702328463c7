package kserve

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
	"github.com/gpuperf/gpuperf/inference/backend/kserve/kservetest"
	inferencev2 "github.com/gpuperf/gpuperf/proto/inference"
)

// newBackend returns a backend for srv's model "simple" with the options
// kv (KEY=VALUE) added.
func newBackend(t testing.TB, srv *kservetest.Server, kv ...string) *Backend {
	t.Helper()
	opts := map[string]string{OptEndpoint: srv.Addr(), OptModel: "simple", OptTimeout: "5s"}
	for _, e := range kv {
		k, v, _ := strings.Cut(e, "=")
		opts[k] = v
	}
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// issue sends n samples with IDs from first, in queries of q samples.
func issue(b inference.Backend, first, n, q int) {
	batch := make([]inference.Sample, 0, q)
	for i := first; i < first+n; i++ {
		batch = append(batch, inference.Sample{ID: uint64(i), Index: uint32(i)})
		if len(batch) == q || i == first+n-1 {
			b.IssueQuery(batch)
			batch = batch[:0]
		}
	}
}

// outcome counts completions by result and checks each ID came back once.
func outcome(t *testing.T, f *backendtest.Fake, n int) (ok, failed int, firstErr error) {
	t.Helper()
	seen := make(map[uint64]bool)
	for _, r := range f.Records() {
		if seen[r.ID] || r.ID >= uint64(n) {
			t.Fatalf("completion %+v: duplicate or unknown ID", r)
		}
		seen[r.ID] = true
		if r.Err != nil {
			failed++
			if firstErr == nil {
				firstErr = r.Err
			}
		} else {
			ok++
		}
	}
	return ok, failed, firstErr
}

// recorder keeps a copy of the requests the server receives.
type recorder struct {
	mu   sync.Mutex // protects reqs
	reqs []*inferencev2.ModelInferRequest
}

func (r *recorder) inspect(req *inferencev2.ModelInferRequest) {
	c := &inferencev2.ModelInferRequest{ModelName: req.GetModelName(), ModelVersion: req.GetModelVersion(), Id: req.GetId()}
	for _, in := range req.GetInputs() {
		c.Inputs = append(c.Inputs, &inferencev2.ModelInferRequest_InferInputTensor{
			Name: in.GetName(), Datatype: in.GetDatatype(), Shape: append([]int64(nil), in.GetShape()...)})
	}
	for _, raw := range req.GetRawInputContents() {
		c.RawInputContents = append(c.RawInputContents, bytes.Clone(raw))
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, c)
	r.mu.Unlock()
}

func (r *recorder) all() []*inferencev2.ModelInferRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*inferencev2.ModelInferRequest(nil), r.reqs...)
}

// TestInfer checks that every sample comes back once, that requests carry
// up to batch samples as raw FP32 data of the model's shape, and that the
// requests use every connection.
func TestInfer(t *testing.T) {
	for _, stream := range []string{"false", "true"} {
		t.Run("stream="+stream, func(t *testing.T) {
			var rec recorder
			srv := kservetest.New(t, kservetest.Options{Inspect: rec.inspect})
			b := newBackend(t, srv, "batch=4", "max_inflight=8", "connections=3", "stream="+stream)
			f := backendtest.Start(t, b)
			const n = 203
			issue(b, 0, 150, 1)
			issue(b, 150, n-150, 7)
			if err := f.Wait(n, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if ok, failed, err := outcome(t, f, n); ok != n {
				t.Fatalf("%d ok, %d failed (%v); want %d ok", ok, failed, err, n)
			}
			if err := b.Stop(); err != nil {
				t.Fatal(err)
			}
			st := srv.Stats()
			// The test request at Start carries batch (4) samples.
			if st.Samples != n+4 || st.Failed != 0 {
				t.Errorf("server stats %+v; want %d samples, none failed", st, n+4)
			}
			if st.Conns != 3 {
				t.Errorf("server saw %d connections; want 3", st.Conns)
			}
			if stream == "true" && st.Streamed != st.Requests {
				t.Errorf("%d of %d requests streamed; want all", st.Streamed, st.Requests)
			}
			var samples int64
			for _, r := range rec.all() {
				if r.GetModelName() != "simple" || len(r.GetInputs()) != 1 || len(r.GetRawInputContents()) != 1 {
					t.Fatalf("request %v: want model simple, one input, raw data", r)
				}
				in := r.GetInputs()[0]
				rows := in.GetShape()[0]
				if in.GetName() != "INPUT0" || in.GetDatatype() != "FP32" || len(in.GetShape()) != 2 || rows < 1 || rows > 4 || in.GetShape()[1] != 16 {
					t.Fatalf("input %v: want INPUT0 FP32 [1..4,16]", in)
				}
				if got := len(r.GetRawInputContents()[0]); got != int(rows)*16*4 {
					t.Fatalf("raw input of %d bytes for shape %v", got, in.GetShape())
				}
				if in.GetContents() != nil {
					t.Fatal("contents set next to raw_input_contents")
				}
				if (r.GetId() != "") != (stream == "true") {
					t.Fatalf("request id %q with stream=%s", r.GetId(), stream)
				}
				samples += rows
			}
			if samples != n+4 {
				t.Errorf("requests carried %d samples; want %d", samples, n+4)
			}
		})
	}
}

// TestMaxInflight checks the bound on requests in flight and that latency
// is charged: with 3 in flight and 30 ms each, 9 samples need 3 rounds.
func TestMaxInflight(t *testing.T) {
	srv := kservetest.New(t, kservetest.Options{Behavior: kservetest.Behavior{Latency: 30 * time.Millisecond}})
	b := newBackend(t, srv, "max_inflight=3", "connections=2")
	f := backendtest.Start(t, b)
	start := backendtest.Now()
	issue(b, 0, 9, 9)
	if err := f.Wait(9, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := outcome(t, f, 9); ok != 9 {
		t.Fatalf("%d ok (%v); want 9", ok, err)
	}
	recs := f.Records()
	// Lower bounds only: a busy host can only make it slower.
	if first := time.Duration(recs[0].At - start); first < 30*time.Millisecond {
		t.Errorf("first completion after %v; want at least the 30ms latency", first)
	}
	if last := time.Duration(recs[8].At - start); last < 90*time.Millisecond {
		t.Errorf("ninth completion after %v; want at least 3 rounds of 30ms with 3 in flight", last)
	}
	if st := srv.Stats(); st.MaxInflight > 3 {
		t.Errorf("server held %d requests at once; want at most max_inflight=3", st.MaxInflight)
	}
}

// TestInjectedErrors checks that failed inferences complete as errors,
// exactly those the server failed, and that a run with them is INVALID.
func TestInjectedErrors(t *testing.T) {
	for _, stream := range []string{"false", "true"} {
		t.Run("stream="+stream, func(t *testing.T) {
			srv := kservetest.New(t, kservetest.Options{})
			b := newBackend(t, srv, "stream="+stream)
			f := backendtest.Start(t, b)
			srv.SetBehavior(kservetest.Behavior{FailEvery: 3})
			const n = 90
			issue(b, 0, n, 1)
			if err := f.Wait(n, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			ok, failed, err := outcome(t, f, n)
			if st := srv.Stats(); int64(failed) != st.Failed || failed != n/3 || ok != n-n/3 {
				t.Fatalf("%d ok, %d failed; server failed %d; want %d failed", ok, failed, st.Failed, n/3)
			}
			if !strings.Contains(err.Error(), "injected failure") || !strings.HasPrefix(err.Error(), "kserve: ") {
				t.Errorf("error %q; want the server's message, prefixed with kserve", err)
			}
		})
	}
}

func TestRunInvalidOnErrors(t *testing.T) {
	srv := kservetest.New(t, kservetest.Options{Behavior: kservetest.Behavior{FailEvery: 2}})
	b := newBackend(t, srv, "max_inflight=4")
	s, qsl, err := inference.Settings("resnet50", inference.Offline, inference.ProfileQuick)
	if err != nil {
		t.Fatal(err)
	}
	s.MinDurationMs, s.WarmupMs, s.OfflineExpectedQPS = 200, 0, 500
	res, err := inference.Run(context.Background(), b, inference.Config{Settings: s, QSL: qsl, Model: "resnet50"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Validity.Valid || res.SamplesFailed == 0 || res.SamplesComplete != res.SamplesIssued {
		t.Fatalf("valid=%v, %d failed, %d of %d complete; want INVALID with every sample complete", res.Validity.Valid, res.SamplesFailed, res.SamplesComplete, res.SamplesIssued)
	}
	if r := res.Validity.InvalidReason; !strings.Contains(r, "max_error_pct") || !strings.Contains(r, "injected failure") {
		t.Errorf("invalid reason %q; want the error share and the server's error", r)
	}
}

// TestInputs checks the data each input source sends.
func TestInputs(t *testing.T) {
	first := func(t *testing.T, kv ...string) [][]byte {
		t.Helper()
		var rec recorder
		srv := kservetest.New(t, kservetest.Options{Inspect: rec.inspect})
		b := newBackend(t, srv, kv...)
		f := backendtest.Start(t, b)
		issue(b, 0, 4, 1)
		if err := f.Wait(4, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		b.Stop()
		// Each request holds one sample; the first is the test request.
		var out [][]byte
		for _, r := range rec.all()[1:] {
			out = append(out, r.GetRawInputContents()[0])
		}
		return out
	}
	zeros := first(t, "inputs=zeros")
	for _, d := range zeros {
		if !bytes.Equal(d, make([]byte, 64)) {
			t.Fatalf("inputs=zeros sent %x", d)
		}
	}
	a := first(t, "seed=7", "samples=3")
	again := first(t, "seed=7", "samples=3")
	other := first(t, "seed=8", "samples=3")
	byIndex := func(reqs [][]byte, seen map[string]bool) {
		for _, d := range reqs {
			seen[string(d)] = true
		}
	}
	sa, sb, so := map[string]bool{}, map[string]bool{}, map[string]bool{}
	byIndex(a, sa)
	byIndex(again, sb)
	byIndex(other, so)
	// Four samples from a pool of three: three distinct payloads.
	if len(sa) != 3 {
		t.Errorf("seed 7 with samples=3 sent %d distinct payloads; want 3", len(sa))
	}
	for d := range sa {
		if !sb[d] {
			t.Error("seed 7 sent different data in two runs")
		}
		if so[d] {
			t.Error("seeds 7 and 8 sent the same data")
		}
		for j := 0; j < len(d); j += 4 {
			if v := math.Float32frombits(binary.LittleEndian.Uint32([]byte(d[j:]))); !(v >= 0 && v < 1) {
				t.Fatalf("random FP32 value %v outside [0, 1)", v)
			}
		}
	}
}

// TestRestart starts the backend three times, as the peak search does,
// and checks that the input data is generated (or read) once.
func TestRestart(t *testing.T) {
	npy := filepath.Join(t.TempDir(), "x.npy")
	writeNPY(t, npy, "<f4", []int64{2, 16}, make([]byte, 128))
	for _, inputs := range []string{"random", npy} {
		t.Run(filepath.Base(inputs), func(t *testing.T) { testRestart(t, "inputs="+inputs) })
	}
}

func testRestart(t *testing.T, kv ...string) {
	srv := kservetest.New(t, kservetest.Options{})
	b := newBackend(t, srv, kv...)
	var data *dataset
	for i := range 3 {
		f := backendtest.Start(t, b)
		issue(b, 0, 10, 2)
		if err := f.Wait(10, 10*time.Second); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if data != nil && b.sess.data != data {
			t.Error("the input data was generated again on restart")
		}
		data = b.sess.data
		if err := b.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := b.Stop(); err != nil {
			t.Fatalf("second Stop: %v", err)
		}
	}
	if err := b.StartWith(context.Background(), &backendtest.Fake{}); err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	if err := b.StartWith(context.Background(), &backendtest.Fake{}); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Errorf("second StartWith = %v; want already started", err)
	}
}

func TestDescribe(t *testing.T) {
	srv := kservetest.New(t, kservetest.Options{Name: "triton", Version: "2.50.0", Extensions: []string{"statistics", "classification"}})
	b := newBackend(t, srv, "batch=8", "seed=3", "connections=2")
	want := map[string]string{
		"server": "triton", "server_version": "2.50.0", "server_extensions": "classification,statistics",
		"model": "simple", "model_version": "", "model_versions": "1", "model_platform": "kservetest",
		"model_inputs": "INPUT0 FP32[-1,16]", "model_outputs": "OUTPUT0 FP32[-1,4]",
		"request": "INPUT0 FP32[-1,16] as [1,16]", "batch": "8", "inputs": "random seed=3 samples=16",
		"connections": "2", "max_inflight": "64", "stream": "false",
	}
	check := func(when string, got map[string]string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: Describe() = %v", when, err)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: Describe()[%q] = %q; want %q", when, k, got[k], v)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: Describe() has %d keys; want %d", when, len(got), len(want))
		}
	}
	got, err := b.Describe(context.Background())
	check("not started", got, err)
	backendtest.Start(t, b)
	got, err = b.Describe(context.Background())
	check("started", got, err)

	bad := newBackend(t, srv, "model=nope")
	if _, err := bad.Describe(context.Background()); err == nil || !strings.Contains(err.Error(), `model "nope"`) {
		t.Errorf("Describe(model=nope) = %v; want an error naming the model", err)
	}
}

// TestDescribeModelConfig: from a server with Triton's model configuration,
// the fingerprint records the instances, batching, backend and cache.
func TestDescribeModelConfig(t *testing.T) {
	m := kservetest.Simple()
	m.Config = &inferencev2.ModelConfig{
		Name: "simple", Backend: "onnxruntime", MaxBatchSize: 32,
		InstanceGroup: []*inferencev2.ModelInstanceGroup{
			{Count: 2, Kind: inferencev2.ModelInstanceGroup_KIND_GPU, Gpus: []int32{0, 1}},
			{Kind: inferencev2.ModelInstanceGroup_KIND_CPU},
		},
		DynamicBatching: &inferencev2.ModelDynamicBatching{PreferredBatchSize: []int32{8, 16}, MaxQueueDelayMicroseconds: 100},
	}
	srv := kservetest.New(t, kservetest.Options{Models: []kservetest.Model{m}})
	b := newBackend(t, srv)
	want := map[string]string{
		"config_backend": "onnxruntime", "config_max_batch_size": "32",
		"config_instances":        "2 per GPU on GPUs [0 1]; 1 on CPU",
		"config_dynamic_batching": "on, max queue delay 100 µs, preferred batch sizes [8 16]",
		"config_response_cache":   "false",
	}
	for _, started := range []bool{false, true} {
		if started {
			backendtest.Start(t, b)
		}
		got, err := b.Describe(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("started %v: Describe()[%q] = %q; want %q", started, k, got[k], v)
			}
		}
		if _, ok := got["config_error"]; ok {
			t.Errorf("started %v: config_error %q", started, got["config_error"])
		}
	}
	// A model without it (UNIMPLEMENTED, as on a server that is not
	// Triton) leaves the config keys out: TestDescribe counts the keys.
}
