package openai

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/openai/openaitest"
)

// statsRun runs a short Offline llama2-70b run against url and returns its
// result; warm is the warm-up in ms.
func statsRun(t *testing.T, url string, warm uint64, kv ...string) *inference.Result {
	t.Helper()
	s, qsl, err := inference.Settings("llama2-70b", inference.Offline, inference.ProfileQuick)
	if err != nil {
		t.Fatal(err)
	}
	// A loaded set of 16, so equal issue pads the query to a few dozen
	// samples, not to the real data set.
	s.MinDurationMs, s.WarmupMs, s.MinQueryCount, s.OfflineExpectedQPS = 300, warm, 40, 100
	s.PerformanceSampleCountOverride, qsl.PerformanceSampleCount = 16, 16
	b := newBackend(t, url, kv...)
	res, err := inference.Run(context.Background(), b, inference.Config{Settings: s, QSL: qsl, Model: "llama2-70b"})
	if err != nil {
		t.Fatal(err)
	}
	if res.SamplesComplete != res.SamplesIssued || res.SamplesFailed != 0 {
		t.Fatalf("%d of %d samples complete, %d failed (%s): the run must go on whatever the metrics", res.SamplesComplete, res.SamplesIssued, res.SamplesFailed, res.FirstError)
	}
	return res
}

// The server's metrics over the timed run: the warm-up's requests are
// left out, and the times per request are the test server's schedule.
func TestServerStats(t *testing.T) {
	const (
		queue  = 10 * time.Millisecond
		ttft   = 20 * time.Millisecond
		inter  = 5 * time.Millisecond
		tokens = 6
	)
	srv, ts := openaitest.Serve(t, openaitest.Config{Metrics: true, Queue: queue, TTFT: ttft, InterToken: inter})
	res := statsRun(t, ts.URL, 100, OptMaxTokens, strconv.Itoa(tokens))
	st := res.ServerStats
	if st == nil || st.Source != "vllm-metrics" || st.Unavailable != "" {
		t.Fatalf("server stats = %+v", st)
	}
	ms := func(ns float64) float64 { return ns / 1e6 }
	t.Logf("timed run: %d samples; server: %d requests (%d in all), request %.3f ms, queue %.3f ms, prefill %.3f ms, decode %.3f ms, infer %.3f ms",
		res.SamplesIssued, st.Requests, len(srv.Requests()), ms(st.RequestNs), ms(st.QueueNs), ms(st.PrefillNs), ms(st.DecodeNs), ms(st.ComputeInferNs))
	// The warm-up drains before the start's scrape, and the test server
	// counts a request before its [DONE], so before the end's scrape; but
	// the start's scrape runs beside the first requests, and a loaded
	// machine may delay it past a round or two of them (max_inflight 8).
	if st.Requests > res.SamplesIssued || st.Requests+16 < res.SamplesIssued {
		t.Errorf("server counted %d requests; the timed run sent %d", st.Requests, res.SamplesIssued)
	}
	if all := len(srv.Requests()); int(st.Requests) >= all {
		t.Errorf("server counted %d requests in the window of %d in all: the warm-up is in it", st.Requests, all)
	}
	if st.Inferences != st.Requests || st.Failed != 0 || st.Executions != 0 {
		t.Errorf("inferences %d, failed %d, executions %d; want %d, 0 and 0", st.Inferences, st.Failed, st.Executions, st.Requests)
	}
	// The queue is the server's schedule, exact; prefill and decode are
	// what it sent, late on a loaded machine, so the upper bounds are
	// generous.
	decode := (tokens - 1) * inter
	if q := time.Duration(st.QueueNs); q < queue-time.Microsecond || q > queue+time.Microsecond {
		t.Errorf("queue %v; want %v", q, queue)
	}
	if p := time.Duration(st.PrefillNs); p < ttft || p > ttft+500*time.Millisecond {
		t.Errorf("prefill %v; want about %v", p, ttft)
	}
	if d := time.Duration(st.DecodeNs); d < decode/2 || d > decode+500*time.Millisecond {
		t.Errorf("decode %v; want about %v", d, decode)
	}
	if sum := st.PrefillNs + st.DecodeNs; math.Abs(st.ComputeInferNs-sum) > 1e-6*sum {
		t.Errorf("inference %.0f ns; want prefill + decode = %.0f ns", st.ComputeInferNs, sum)
	}
	if st.RequestNs < st.QueueNs+st.ComputeInferNs {
		t.Errorf("request %.0f ns shorter than its queue and inference %.0f ns", st.RequestNs, st.QueueNs+st.ComputeInferNs)
	}
}

// countMetrics wraps h, counting the requests for /metrics.
type countMetrics struct {
	http.Handler
	mu   sync.Mutex
	hits int
}

func (c *countMetrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/metrics" {
		c.mu.Lock()
		c.hits++
		c.mu.Unlock()
	}
	c.Handler.ServeHTTP(w, r)
}

// With metrics off there are no server statistics at all, and no scrape.
func TestServerStatsOff(t *testing.T) {
	h := &countMetrics{Handler: openaitest.New(openaitest.Config{Metrics: true})}
	ts := httptest.NewServer(h)
	defer ts.Close()
	res := statsRun(t, ts.URL, 0, OptMetrics, MetricsOff)
	if res.ServerStats != nil {
		t.Errorf("server stats = %+v; want none", res.ServerStats)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hits != 0 {
		t.Errorf("%d scrapes with metrics off", h.hits)
	}
}

// A server without /metrics (over TLS, so the scrape must use ca_file):
// the run goes on, and the result names the URL it tried.
func TestServerStatsNoEndpoint(t *testing.T) {
	srv := openaitest.New(openaitest.Config{})
	ts := httptest.NewTLSServer(srv)
	defer ts.Close()
	defer srv.Close()
	ca := writeFile(t, "ca.pem", string(pemCert(ts.Certificate().Raw)))
	res := statsRun(t, ts.URL, 0, OptCAFile, ca)
	st := res.ServerStats
	t.Logf("server stats: %+v", st)
	want := "at the timed run's start: metrics at " + ts.URL + "/metrics: GET /metrics: HTTP 404"
	if st == nil || !strings.HasPrefix(st.Unavailable, want) || st.Requests != 0 {
		t.Fatalf("server stats = %+v; want unavailable: %q", st, want)
	}
}

// Metrics at an explicit URL, carrying the API key, but none of vLLM's:
// unavailable, saying so.
func TestServerStatsNotVLLM(t *testing.T) {
	_, ts := openaitest.Serve(t, openaitest.Config{APIKey: "sk-test"})
	var mu sync.Mutex
	var auth []string
	ms := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# TYPE tgi_request_count counter\ntgi_request_count 3\n")
	}))
	defer ms.Close()
	t.Setenv("GPUPERF_TEST_KEY", "sk-test")
	res := statsRun(t, ts.URL, 0, OptMetrics, ms.URL+"/stats", OptAPIKeyEnv, "GPUPERF_TEST_KEY")
	st := res.ServerStats
	t.Logf("server stats: %+v", st)
	want := "the server exposes no vLLM or TGI request metrics at " + ms.URL + "/stats"
	if st == nil || !strings.Contains(st.Unavailable, want) {
		t.Fatalf("server stats = %+v; want unavailable: %q", st, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auth) != 2 || auth[0] != "Bearer sk-test" || auth[1] != "Bearer sk-test" {
		t.Errorf("scrapes' Authorization headers %q; want the key twice", auth)
	}
}

// Scrapes that fail name the URL: a server that is gone, one whose
// exposition does not parse.
func TestScrapeErrors(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "vllm:e2e_request_latency_seconds_count{model_name=\"m\" 1\n")
	}))
	defer broken.Close()
	b := newBackend(t, gone.URL)
	for u, want := range map[string]string{
		gone.URL + "/metrics":   "metrics at " + gone.URL + "/metrics are not reachable: dial tcp",
		broken.URL + "/metrics": "parse the metrics at " + broken.URL + "/metrics: ",
	} {
		r := b.scrape(context.Background(), u)
		if r.err == nil || !strings.HasPrefix(r.err.Error(), want) {
			t.Errorf("scrape(%s) = %v; want %q", u, r.err, want)
		}
	}
}

// exposition is vLLM's /metrics for two models, with the _created
// gauges Python's client adds and a metric of another type.
const exposition = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="llama"} 3.0
# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{engine="0",le="1.0",model_name="llama"} 4.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="+Inf",model_name="llama"} 10.0
vllm:e2e_request_latency_seconds_count{engine="0",model_name="llama"} 10.0
vllm:e2e_request_latency_seconds_sum{engine="0",model_name="llama"} 12.5
vllm:e2e_request_latency_seconds_bucket{engine="1",le="1.0",model_name="llama"} 1.0
vllm:e2e_request_latency_seconds_bucket{engine="1",le="+Inf",model_name="llama"} 2.0
vllm:e2e_request_latency_seconds_count{engine="1",model_name="llama"} 2.0
vllm:e2e_request_latency_seconds_sum{engine="1",model_name="llama"} 1.5
vllm:e2e_request_latency_seconds_bucket{engine="0",le="+Inf",model_name="mistral"} 5.0
vllm:e2e_request_latency_seconds_count{engine="0",model_name="mistral"} 5.0
vllm:e2e_request_latency_seconds_sum{engine="0",model_name="mistral"} 50.0
# HELP vllm:e2e_request_latency_seconds_created Histogram of e2e request latency in seconds.
# TYPE vllm:e2e_request_latency_seconds_created gauge
vllm:e2e_request_latency_seconds_created{engine="0",model_name="llama"} 1.7e+09
# HELP vllm:request_queue_time_seconds Histogram of time spent in WAITING phase for request.
# TYPE vllm:request_queue_time_seconds histogram
vllm:request_queue_time_seconds_bucket{engine="0",le="+Inf",model_name="llama"} 10.0
vllm:request_queue_time_seconds_count{engine="0",model_name="llama"} 10.0
vllm:request_queue_time_seconds_sum{engine="0",model_name="llama"} 0.25
vllm:request_queue_time_seconds_bucket{engine="0",le="+Inf",model_name="mistral"} 5.0
vllm:request_queue_time_seconds_count{engine="0",model_name="mistral"} 5.0
vllm:request_queue_time_seconds_sum{engine="0",model_name="mistral"} 1.0
`

func TestParseMetrics(t *testing.T) {
	for _, tc := range []struct {
		name, model string
		want        map[string]hist
	}{
		// Both engines' series of the model, none of the other's.
		{"one of two models", "llama", map[string]hist{metricE2E: {12, 14}, metricQueue: {10, 0.25}}},
		// No series is the model's: a single-model server under another
		// name, so every series counts.
		{"a name no series has", "meta-llama/Llama-2-70b", map[string]hist{metricE2E: {17, 64}, metricQueue: {15, 1.25}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, source, err := parseMetrics(strings.NewReader(exposition), tc.model)
			if err != nil {
				t.Fatal(err)
			}
			if source != "vllm-metrics" {
				t.Errorf("source %q; want vllm-metrics", source)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("parseMetrics(%q) = %v; want %v", tc.model, got, tc.want)
			}
		})
	}
	// TGI's histograms, read under vLLM's names; TGI has no model label
	// and no prefill and decode split.
	tgi := `# TYPE tgi_request_duration histogram
tgi_request_duration_bucket{le="+Inf"} 4
tgi_request_duration_sum 2.5
tgi_request_duration_count 4
# TYPE tgi_request_queue_duration histogram
tgi_request_queue_duration_bucket{le="+Inf"} 4
tgi_request_queue_duration_sum 0.5
tgi_request_queue_duration_count 4
# TYPE tgi_request_inference_duration histogram
tgi_request_inference_duration_bucket{le="+Inf"} 4
tgi_request_inference_duration_sum 1.75
tgi_request_inference_duration_count 4
`
	got, source, err := parseMetrics(strings.NewReader(tgi), "bigscience/bloom")
	want := map[string]hist{metricE2E: {4, 2.5}, metricQueue: {4, 0.5}, metricInfer: {4, 1.75}}
	if err != nil || source != "tgi-metrics" || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parseMetrics(tgi) = %v, %q, %v; want %v from tgi-metrics", got, source, err, want)
	}
	// Another server's metrics: no histogram gpuperf reads, no error.
	got, _, err = parseMetrics(strings.NewReader("# TYPE sglang:num_requests gauge\nsglang:num_requests 1\n"), "m")
	if err != nil || len(got) != 0 {
		t.Errorf("parseMetrics(sglang) = %v, %v; want nothing", got, err)
	}
	if _, _, err := parseMetrics(strings.NewReader("vllm:x{model_name=\"a\" 1\n"), "a"); err == nil {
		t.Error("parseMetrics of a broken line: no error")
	}
}

func TestDelta(t *testing.T) {
	read := func(kv ...any) metricsRead {
		r := metricsRead{h: map[string]hist{}, source: "vllm-metrics"}
		for i := 0; i < len(kv); i += 2 {
			r.h[kv[i].(string)] = kv[i+1].(hist)
		}
		return r
	}
	a := read(metricE2E, hist{10, 10}, metricQueue, hist{10, 1}, metricPrefill, hist{10, 2}, metricDecode, hist{10, 5})
	b := read(metricE2E, hist{14, 14}, metricQueue, hist{14, 1.2}, metricPrefill, hist{14, 2.4}, metricDecode, hist{14, 6})
	st := delta(a, b)
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-3 }
	// No inference histogram: prefill and decode make it.
	if st.Unavailable != "" || st.Requests != 4 || st.Inferences != 4 || !near(st.RequestNs, 1e9) || !near(st.QueueNs, 0.05e9) ||
		!near(st.PrefillNs, 0.1e9) || !near(st.DecodeNs, 0.25e9) || !near(st.ComputeInferNs, 0.35e9) {
		t.Errorf("delta = %+v", st)
	}
	b.h[metricInfer] = hist{14, 3}
	a.h[metricInfer] = hist{10, 1}
	if st := delta(a, b); !near(st.ComputeInferNs, 0.5e9) {
		t.Errorf("delta with the inference histogram = %+v; want compute_infer 0.5 s", st)
	}
	if st := delta(b, a); !strings.Contains(st.Unavailable, "went back") || st.Requests != 0 {
		t.Errorf("delta of counters that went back = %+v", st)
	}
	if st := delta(a, metricsRead{err: fmt.Errorf("boom")}); st.Unavailable != "at the timed run's end: boom" || st.Source != "vllm-metrics" {
		t.Errorf("delta of a failed end = %+v", st)
	}
	a.source, b.source = "vllm-metrics", "tgi-metrics"
	if st := delta(a, b); !strings.Contains(st.Unavailable, "changed from vllm-metrics to tgi-metrics") || st.Source != "tgi-metrics" {
		t.Errorf("delta across dialects = %+v", st)
	}
}
