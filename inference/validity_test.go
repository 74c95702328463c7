package inference

import (
	"slices"
	"strconv"
	"testing"
)

// fakeRun builds a finished phase from given latencies and summarizes it,
// so every §7.1 combination can be produced exactly.
func fakeRun(t *testing.T, s TestSettings, latencies []int64, lastIssue int64) *Result {
	t.Helper()
	qsl := QSL{Name: "t", TotalSampleCount: 1024, PerformanceSampleCount: 1024}
	e := s.Effective(qsl)
	spq := int(e.SamplesPerQuery)
	queries := len(latencies) / spq
	p := newPhase(2, queries, spq, false, nil)
	for i, l := range latencies {
		p.latency[i] = l + 1
	}
	if e.Scenario == Server {
		for q := range p.origin {
			p.origin[q] = int64(q) * lastIssue / int64(max(queries-1, 1))
		}
	}
	p.completed.Store(uint64(len(latencies)))
	is := &issuer{p: p, e: e, queriesIssued: uint64(queries), samplesIssued: uint64(len(latencies)), lastIssue: lastIssue}
	res := &Result{Requested: s, Effective: e}
	summarize(res, p, plan{queries: queries, spq: spq}, is, nil)
	return res
}

func constant(n int, v int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestValidityCombinations(t *testing.T) {
	ms := int64(1e6)
	server := DefaultTestSettings()
	server.Scenario = Server
	server.ServerTargetQPS = 100
	server.ServerTargetLatencyNs = uint64(10 * ms)
	server.MinDurationMs = 1000

	ss := DefaultTestSettings()
	ss.MinDurationMs = 1000

	off := DefaultTestSettings()
	off.Scenario = Offline
	off.OfflineExpectedQPS = 100
	off.MinDurationMs = 1000
	off.MinQueryCount = 10

	slow := constant(1000, 5*ms)
	over := append(constant(980, 5*ms), constant(20, 20*ms)...) // p99 over the bound
	borderline := append(constant(995, 5*ms), constant(5, 20*ms)...)

	for _, tc := range []struct {
		name                         string
		s                            TestSettings
		lat                          []int64
		lastIssue                    int64
		valid, perf, dur, qry, early bool
		rec                          string
	}{
		{"server all met", server, slow, 2000 * ms, true, true, true, true, true, ""},
		{"server latency bound", server, over, 2000 * ms, false, false, true, true, false, "Reduce target QPS to improve latency."},
		{"server early stopping only", server, borderline, 2000 * ms, false, true, true, true, false, ""},
		{"server short schedule", server, slow, 500 * ms, false, true, false, true, true, "Increase the target QPS so the loadgen pre-generates more queries."},
		{"server too few queries", withMinQueries(server, 5000), slow, 2000 * ms, false, true, true, false, true, MinQueriesRecommendation},
		{"single stream all met", ss, slow, 1500 * ms, true, true, true, true, true, ""},
		{"single stream short", ss, slow, 900 * ms, false, true, false, true, true, "Decrease the expected latency so the loadgen pre-generates more queries."},
		{"single stream under 64 queries", withMinQueries(ss, 10), constant(63, ms), 1500 * ms, false, true, true, true, false, ""},
		{"offline all met", off, constant(110, 1100*ms), 0, true, true, true, true, true, ""},
		{"offline too fast", off, constant(110, 900*ms), 0, false, true, false, true, true, "Increase expected QPS so the loadgen pre-generates a larger (coalesced) query."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fakeRun(t, tc.s, tc.lat, tc.lastIssue)
			v := r.Validity
			perf := v.PerfConstraintsMet == nil || *v.PerfConstraintsMet
			if v.Valid != tc.valid || perf != tc.perf || v.MinDurationMet != tc.dur || v.MinQueriesMet != tc.qry || v.EarlyStoppingMet != tc.early {
				t.Fatalf("validity %+v (perf %v); want valid %v perf %v dur %v queries %v early %v", v, perf, tc.valid, tc.perf, tc.dur, tc.qry, tc.early)
			}
			if tc.rec != "" && !slices.Contains(v.Recommendations, tc.rec) {
				t.Fatalf("recommendations %q; want %q", v.Recommendations, tc.rec)
			}
			if !tc.valid && v.InvalidReason == "" && len(v.Recommendations) > 0 {
				t.Fatal("no result_invalid_reason")
			}
			if (tc.s.Scenario == Server) != (v.PerfConstraintsMet != nil) {
				t.Fatal("performance constraints reported outside Server, or missing in Server")
			}
		})
	}
}

func withMinQueries(s TestSettings, n uint64) TestSettings {
	s.MinQueryCount = n
	return s
}

func TestEarlyStoppingText(t *testing.T) {
	ss := DefaultTestSettings()
	ss.MinDurationMs = 1
	lat := make([]int64, 2001)
	for i := range lat {
		lat[i] = int64(i)
	}
	r := fakeRun(t, ss, lat, 2e6)
	want := []string{
		" * Processed at least 64 queries (2001).",
		" * Would discard 167 highest latency queries.",
		" * Early stopping 90.0th percentile estimate: 1833",
		" * Early stopping 99.0th percentile estimate: " + strconv.FormatInt(r.EarlyStopping.Estimate99Ns, 10),
	}
	if !slices.Equal(r.EarlyStopping.Lines, want) {
		t.Fatalf("lines\n%q\nwant\n%q", r.EarlyStopping.Lines, want)
	}
	if r.EarlyStopping.EstimateNs != 1833 || r.Metric.Value != 1833 {
		t.Fatalf("estimate %d metric %v", r.EarlyStopping.EstimateNs, r.Metric)
	}
	short := fakeRun(t, ss, lat[:100], 2e6)
	if !slices.Contains(short.EarlyStopping.Lines, " least 662 total queries).") {
		t.Fatalf("no 99th-percentile shortfall text: %q", short.EarlyStopping.Lines)
	}
}

func TestServerMetricIsCompletedNotWallTime(t *testing.T) {
	server := DefaultTestSettings()
	server.Scenario = Server
	server.ServerTargetQPS = 100
	server.ServerTargetLatencyNs = 1e9
	server.MinDurationMs = 1
	lat := constant(1001, 1e6)
	lat[1000] = 9e6 // the last issued query completes 9 ms after its slot
	r := fakeRun(t, server, lat, 10e9)
	// (N−1) / (last issued query's completion − start) = 1000 / 10.009 s.
	want := 1000 / 10.009
	if d := r.CompletedSamplesPerSecond - want; d > 1e-9 || d < -1e-9 {
		t.Fatalf("completed %v, want %v", r.CompletedSamplesPerSecond, want)
	}
	if r.ScheduledSamplesPerSecond != 100 {
		t.Fatalf("scheduled %v, want 100", r.ScheduledSamplesPerSecond)
	}
	if r.Metric.Name != "result_completed_samples_per_sec" || r.Metric.Value != r.CompletedSamplesPerSecond {
		t.Fatalf("metric %+v", r.Metric)
	}
}

func TestInvalidExplanation(t *testing.T) {
	var res Result
	res.Validity.InvalidReason = "Reduce target QPS to improve latency. "
	if got := res.InvalidExplanation(); got != "Reduce target QPS to improve latency." {
		t.Errorf("got %q", got)
	}
	res.Validity.InvalidReason = ""
	res.EarlyStopping = EarlyStopping{Applies: true, Lines: []string{" * Only processed 10 queries.", " * Need to process at least 64 queries for early stopping."}}
	if got, want := res.InvalidExplanation(), "early stopping not met: Only processed 10 queries. Need to process at least 64 queries for early stopping."; got != want {
		t.Errorf("got %q; want %q", got, want)
	}
}
