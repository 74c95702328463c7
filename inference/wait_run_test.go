package inference_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
)

// TestServerRecordsWait: a Server run records its spin policy in the
// settings and how it waited in generator_health.wait; other scenarios
// record no wait.
func TestServerRecordsWait(t *testing.T) {
	for _, p := range []inference.SpinPolicy{inference.SpinAuto, inference.SpinNever, inference.SpinAlways} {
		cfg := quickConfig(t, inference.Server)
		cfg.Settings.ServerTargetQPS = 2000
		cfg.Settings.ServerTargetLatencyNs = uint64(50 * time.Millisecond)
		cfg.Settings.GeneratorSpin = p
		res, err := inference.Run(context.Background(), &inlineBackend{}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		w := res.Health.Wait
		if w == nil || w.Spin != p || res.Requested.GeneratorSpin != p {
			t.Fatalf("%s: wait %+v, requested %q", p, w, res.Requested.GeneratorSpin)
		}
		js, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		var back inference.Result
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatal(err)
		}
		if back.Health.Wait == nil || *back.Health.Wait != *w || back.Requested.GeneratorSpin != p {
			t.Fatalf("%s: wait did not survive result.json", p)
		}
	}
	res, err := inference.Run(context.Background(), &inlineBackend{}, quickConfig(t, inference.SingleStream))
	if err != nil {
		t.Fatal(err)
	}
	if res.Health.Wait != nil {
		t.Fatalf("SingleStream recorded a wait: %+v", res.Health.Wait)
	}
}
