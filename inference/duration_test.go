package inference

import "testing"

// TestServerGeneratedQueryDuration checks generated_query_duration against
// LoadGen 6.0.17's detail log for resnet50 Server at 1,500 QPS for 10 s
// with the official seeds: 15,196 queries, the last at 10001667043 ns, and
// the duration one interval past it (LoadGen draws the next interval before
// it tests for the end of the window).
func TestServerGeneratedQueryDuration(t *testing.T) {
	s, qsl, err := Settings("resnet50", Server, ProfileMLPerf)
	if err != nil {
		t.Fatal(err)
	}
	s.ServerTargetQPS = 1500
	s.MinDurationMs = 10_000
	s.MinQueryCount = 100
	e := s.Effective(qsl)
	pl, err := generate(t.Context(), e, loadSampleSet(e), qsl.PerformanceSampleCount, 0)
	if err != nil {
		t.Fatal(err)
	}
	if pl.queries != 15196 {
		t.Errorf("generated_query_count %d, want LoadGen's 15196", pl.queries)
	}
	if last := pl.offsets[len(pl.offsets)-1]; last != 10001667043 {
		t.Errorf("last query at %d ns, want LoadGen's 10001667043", last)
	}
	if pl.duration != 10001807496 {
		t.Errorf("generated_query_duration %d ns, want LoadGen's 10001807496", pl.duration)
	}
}
