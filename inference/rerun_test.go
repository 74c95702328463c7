package inference_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
)

// The backend beats the Offline hint by a third: the first run ends before
// min_duration; with Rerun the run is repeated with the observed rate and
// the result says so.
func TestRerunOfflineEndedEarly(t *testing.T) {
	cfg := quickConfig(t, inference.Offline)
	cfg.Settings.MinDurationMs = 500
	cfg.Settings.OfflineExpectedQPS = 1500 // the sim does 2000/s
	cfg.Rerun = true
	res := runOrFail(t, newSim(t, map[string]string{"servers": "4", "latency": "2ms"}), cfg)
	if !res.Validity.Valid {
		t.Fatalf("the repeat is INVALID: %s", res.Validity.InvalidReason)
	}
	r := res.Rerun
	if r == nil {
		t.Fatal("no rerun recorded")
	}
	if r.Setting != "offline_expected_qps" || r.From != 1500 || r.To != 2*r.FirstRate || !(r.FirstRate > 1500) {
		t.Fatalf("rerun %+v: want offline_expected_qps 1500 -> twice the rate the first run saw", r)
	}
	if !strings.Contains(r.Reason, "before min_duration") || r.FirstInvalidReason == "" {
		t.Fatalf("rerun reason %q, first %q", r.Reason, r.FirstInvalidReason)
	}
	if res.Requested.OfflineExpectedQPS != r.To || res.HintsFrom != "re-run" {
		t.Fatalf("requested %v hints from %q", res.Requested.OfflineExpectedQPS, res.HintsFrom)
	}
}

// Without Rerun the same run stays INVALID, as in LoadGen.
func TestNoRerunUnlessAsked(t *testing.T) {
	cfg := quickConfig(t, inference.Offline)
	cfg.Settings.MinDurationMs = 500
	cfg.Settings.OfflineExpectedQPS = 1500
	res := runOrFail(t, newSim(t, map[string]string{"servers": "4", "latency": "2ms"}), cfg)
	if res.Validity.Valid || res.Rerun != nil {
		t.Fatalf("valid %v rerun %+v", res.Validity.Valid, res.Rerun)
	}
}

// A fixed SingleStream count sized for a slower backend runs out before
// min_duration; the repeat grows the count to cover it.
func TestRerunSingleStreamCountRanOut(t *testing.T) {
	cfg := quickConfig(t, inference.SingleStream)
	cfg.Settings.MinDurationMs = 1000
	cfg.Settings.SingleStreamExpectedLatencyNs = 2e6
	// 70 queries (early stopping at p90 needs 64): 70 ms at 1 ms a query,
	// short of 1 s even on a host ten times slower.
	cfg.Settings.MinQueryCount, cfg.Settings.MaxQueryCount = 70, 70
	cfg.Rerun = true
	res := runOrFail(t, newSim(t, map[string]string{"latency": "1ms"}), cfg)
	if res.Rerun == nil && res.Validity.Valid && res.QueriesIssued == 70 {
		// The test measures its own timing: 70 queries of 1 ms lasted a
		// second, so there was nothing to repeat.
		t.Skipf("70 queries of 1 ms took %s on this host: too busy to run out of them", time.Duration(res.DurationNs))
	}
	if !res.Validity.Valid {
		t.Fatalf("the repeat is INVALID: %s %v", res.Validity.InvalidReason, res.Errors)
	}
	// The count covers min_duration twice at the pace observed (1 ms a
	// query on a quiet host, more on a busy one).
	r := res.Rerun
	if r == nil || r.QueryCountFrom != 70 || float64(r.QueryCountTo) < 1.9*1000e6/(1e9/r.FirstRate) {
		t.Fatalf("rerun %+v: want the count grown from 70 to cover 1 s at the observed pace", r)
	}
	if res.Requested.MinQueryCount != r.QueryCountTo || res.Requested.MaxQueryCount != r.QueryCountTo {
		t.Fatalf("requested counts %d..%d", res.Requested.MinQueryCount, res.Requested.MaxQueryCount)
	}
}

// A Server run that misses its latency bound is a result, not a rate that
// moved: no repeat.
func TestNoRerunForServerOverload(t *testing.T) {
	cfg := quickConfig(t, inference.Server)
	cfg.Settings.ServerTargetQPS = 3000 // one 500 µs server: capacity 2000/s
	cfg.Settings.ServerTargetLatencyNs = 2e6
	cfg.Rerun = true
	res, err := inference.Run(context.Background(), newSim(t, map[string]string{"latency": "500us"}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Validity.Valid || res.Rerun != nil {
		t.Fatalf("valid %v rerun %+v", res.Validity.Valid, res.Rerun)
	}
}
