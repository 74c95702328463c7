package inference_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
)

// An Offline run is one query: the wait for it is the whole run. A drain
// limit far below the run's length must not cut a healthy backend off.
func TestDrainGuardKeepsLongHealthyOffline(t *testing.T) {
	cfg := quickConfig(t, inference.Offline)
	cfg.Settings.MinDurationMs = 3000
	cfg.Settings.OfflineExpectedQPS = 1000 // 3300 samples: about 3.3 s at 1000/s
	// A 1 s floor, a third of the run (a fixed drain timeout this long
	// failed every Offline run longer than it); still far above the
	// completion gaps of a loaded host (up to about 0.7 s seen).
	cfg.Settings.DrainTimeoutMs = 1000
	res := runOrFail(t, newSim(t, map[string]string{"latency": "1ms"}), cfg)
	if !res.Validity.Valid {
		t.Fatalf("a %s Offline run with a 1 s drain floor is INVALID: %s", time.Duration(res.DurationNs), res.Validity.InvalidReason)
	}
}

// stallBackend completes the first n samples it is given, then nothing.
type stallBackend struct {
	inlineBackend
	n    int
	done int
}

func (b *stallBackend) IssueQuery(s []inference.Sample) {
	for _, x := range s {
		if b.done < b.n {
			b.done++
			b.rec.Complete(inference.Response{ID: x.ID})
		}
	}
}

func TestDrainGuardEndsAStalledRun(t *testing.T) {
	cfg := quickConfig(t, inference.Offline)
	cfg.Settings.OfflineExpectedQPS = 1000
	cfg.Settings.DrainTimeoutMs = 100
	start := time.Now()
	res := runOrFail(t, &stallBackend{n: 10}, cfg)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("a stalled run took %s to end", took)
	}
	if res.Validity.Valid || res.SamplesComplete != 10 {
		t.Fatalf("valid %v, %d samples complete", res.Validity.Valid, res.SamplesComplete)
	}
	if !strings.Contains(res.Validity.InvalidReason, "no sample completed for") {
		t.Fatalf("reason %q does not name the stall", res.Validity.InvalidReason)
	}
}

// A hint far above the backend's rate makes the query far longer than
// expected; the wait gives up at ten times the expected duration.
func TestDrainGuardEndsARunawayRun(t *testing.T) {
	cfg := quickConfig(t, inference.Offline)
	cfg.Settings.MinDurationMs = 200
	cfg.Settings.OfflineExpectedQPS = 10000 // 2200 samples, expected in 220 ms
	cfg.Settings.DrainTimeoutMs = 1000      // the stall limit: above a busy host's gaps
	start := time.Now()
	// 250 samples/s: the query needs 8.8 s; the limit is 2.2 s.
	res := runOrFail(t, newSim(t, map[string]string{"latency": "4ms"}), cfg)
	if took := time.Since(start); took > 6*time.Second {
		t.Errorf("the run took %s; its limit is 2.2 s", took)
	}
	if res.Validity.Valid {
		t.Fatal("a run ten times longer than its hint said is VALID")
	}
	if !strings.Contains(res.Validity.InvalidReason, "the drain reached its") {
		t.Fatalf("reason %q does not name the overall limit", res.Validity.InvalidReason)
	}
}
