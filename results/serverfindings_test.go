package results

import (
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
)

// withServer sets the run's server statistics (ms per request) and the
// client's mean latency (ms; 0 leaves it unset).
func withServer(queueMs, inferMs, clientMs float64) func(int, *inference.Result) {
	return func(k int, r *inference.Result) {
		j := 0.002 * float64(k%2) // a little spread between repetitions
		r.ServerStats = &inference.ServerStats{
			Source: "triton-statistics", Requests: 1000, Inferences: 1000, Executions: 1000,
			QueueNs: (queueMs + j) * 1e6, ComputeInferNs: (inferMs + j) * 1e6, RequestNs: (queueMs + inferMs + 0.1 + 2*j) * 1e6,
		}
		if clientMs > 0 {
			r.Latency.MeanNs = int64((clientMs + j) * 1e6)
		}
	}
}

// The candidate is slower and its server took longer to execute the
// model: the gap is in the GPU's work.
func TestServerComputeFinding(t *testing.T) {
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, fxPairs(4, withServer(0.1, 2.0, 0), withServer(0.1, 2.4, 0)), Options{})
	fs := Attribute(c)
	f, ok := findKind(fs, FindingServerCompute)
	if !ok {
		t.Fatalf("findings %v; want %s", kinds(fs), FindingServerCompute)
	}
	if want := "per request, the model's execution on the server (compute_infer) took 2.001 ms on the baseline, 2.401 ms on the candidate (+20.0%); the model itself ran slower on the candidate"; !strings.Contains(f.Text, want) {
		t.Errorf("text %q; want %q", f.Text, want)
	}
	if _, ok := findKind(fs, FindingServerQueue); ok {
		t.Errorf("findings %v: the queues were the same", kinds(fs))
	}
	if _, ok := findKind(fs, FindingOutsideServer); ok {
		t.Errorf("findings %v: Offline's client latency is the burst's queueing", kinds(fs))
	}
}

// A faster candidate whose server computed longer is no finding: the
// finding is about the side that did worse.
func TestServerComputeOnlyOnTheWorseSide(t *testing.T) {
	runs := fxPairs(4, withServer(0.1, 2.4, 0), withServer(0.1, 2.0, 0))
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, runs, Options{})
	if f, ok := findKind(Attribute(c), FindingServerCompute); ok {
		t.Errorf("finding %q on the baseline, which did better", f.Text)
	}
}

// SingleStream: the client waited 0.5 ms longer per request on the
// candidate, the server spent the same time: the gap is outside the
// server.
func TestOutsideServerFinding(t *testing.T) {
	var runs []fxRun
	for k := range 4 {
		b := fxRun{host: "bm", sc: inference.SingleStream, rep: k, value: 2.6e6 + float64(k%2)*1e3}
		cd := fxRun{host: "vm", sc: inference.SingleStream, rep: k, value: 3.1e6 + float64(k%2)*1e3}
		b.mod = func(r *inference.Result) { withServer(0, 2.0, 2.5)(k, r) }
		cd.mod = func(r *inference.Result) { withServer(0, 2.0, 3.0)(k, r) }
		runs = append(runs, b, cd)
	}
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, runs, Options{})
	fs := Attribute(c)
	f, ok := findKind(fs, FindingOutsideServer)
	if !ok {
		t.Fatalf("findings %v; want %s", kinds(fs), FindingOutsideServer)
	}
	if want := "0.500 ms of the candidate's extra time lies between client and server (the network, the RPC or HTTP stack, the client's CPU)"; !strings.Contains(f.Text, want) {
		t.Errorf("text %q; want %q", f.Text, want)
	}
	if _, ok := findKind(fs, FindingServerCompute); ok {
		t.Errorf("findings %v: the server's compute was the same", kinds(fs))
	}
}

// The queue in front of the model grew on the candidate.
func TestServerQueueFinding(t *testing.T) {
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, fxPairs(4, withServer(0.1, 2.0, 0), withServer(0.9, 2.0, 0)), Options{})
	f, ok := findKind(Attribute(c), FindingServerQueue)
	if !ok || !strings.Contains(f.Text, "per request, the wait in the server's queue was 0.101 ms on the baseline, 0.901 ms on the candidate") {
		t.Errorf("finding %+v", f)
	}
}

// An LLM server's execution splits into prefill and decode; the finding
// says which grew.
func TestServerComputeFindingLLM(t *testing.T) {
	llm := func(prefill, decode float64) func(int, *inference.Result) {
		return func(k int, r *inference.Result) {
			withServer(1, prefill+decode, 0)(k, r)
			r.ServerStats.Source = "vllm-metrics"
			r.ServerStats.PrefillNs, r.ServerStats.DecodeNs = prefill*1e6, (decode+0.002*float64(k%2))*1e6
		}
	}
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, fxPairs(4, llm(20, 600), llm(21, 700)), Options{})
	f, ok := findKind(Attribute(c), FindingServerCompute)
	if !ok || !strings.Contains(f.Text, "prompt processing (prefill) 20.000 ms on the baseline, 21.000 ms on the candidate (+5.0%), token generation (decode) 600.001 ms on the baseline, 700.001 ms on the candidate (+16.7%)") {
		t.Errorf("finding %+v", f)
	}
}

// The scenario carries both sides' server times, finding or not; a side
// whose server kept no statistics says why.
func TestSummarizeServers(t *testing.T) {
	none := func(k int, r *inference.Result) {
		r.ServerStats = &inference.ServerStats{Source: "triton-statistics", Unavailable: "the server has no statistics extension"}
	}
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, fxPairs(2, withServer(0.5, 2.0, 0), none), Options{})
	st := c.Scenarios[0].Server
	if st == nil || st.Baseline == nil || st.Candidate == nil {
		t.Fatalf("server times = %+v", st)
	}
	b := st.Baseline
	if b.Source != "triton-statistics" || b.Runs != 2 || b.Unavailable != "" || b.QueueMs == nil || *b.QueueMs < 0.5 || *b.QueueMs > 0.51 ||
		b.InferMs == nil || *b.InferMs < 2 || *b.InferMs > 2.01 || b.PrefillMs != nil {
		t.Errorf("baseline = %+v", *b)
	}
	if k := st.Candidate; k.Runs != 0 || k.Unavailable != "the server has no statistics extension" || k.RequestMs != nil {
		t.Errorf("candidate = %+v", *k)
	}
	// Runs without server statistics leave the scenario without them.
	c = fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, fxPairs(2, nil, nil), Options{})
	if c.Scenarios[0].Server != nil {
		t.Errorf("server times = %+v; want none", c.Scenarios[0].Server)
	}
}
