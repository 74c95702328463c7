package inference_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
)

func TestFindPeakOnSim(t *testing.T) {
	if testing.Short() {
		t.Skip("a dozen 1 s runs")
	}
	// One 100 µs server: capacity 10000/s; the 2 ms p99 bound is met well
	// below that, and never above it.
	cfg := quickConfig(t, inference.Server)
	cfg.Settings.MinDurationMs = 300
	cfg.Settings.ServerTargetQPS = 3000
	cfg.Settings.ServerTargetLatencyNs = 2e6
	var res *inference.Result
	retryTiming(t, 3, func() error {
		var err error
		res, err = inference.FindPeak(context.Background(), newSim(t, map[string]string{"latency": "100us"}), cfg, 250)
		if err != nil {
			t.Fatal(err)
		}
		pk := res.Peak
		if pk == nil || !pk.Confirmed {
			return fmt.Errorf("peak search %+v", pk)
		}
		if pk.PeakQPS < 5000 || pk.PeakQPS >= 10000 {
			return fmt.Errorf("peak %.1f QPS; want between half and all of the 10000/s capacity", pk.PeakQPS)
		}
		return nil
	})
	pk := res.Peak
	if !res.Validity.Valid || res.Requested.ServerTargetQPS != pk.PeakQPS {
		t.Fatalf("result is not the VALID confirmation run at the peak: %+v at %.1f", res.Validity, res.Requested.ServerTargetQPS)
	}
	t.Logf("peak %.1f QPS, %d probes: %+v", pk.PeakQPS, len(pk.Probes), pk.Probes)
	var confirmations, above int
	for _, p := range pk.Probes {
		if p.Confirmation {
			confirmations++
		}
		if p.Valid && p.TargetQPS > pk.PeakQPS+250 {
			above++
		}
		if !p.Valid && p.Reason == "" {
			t.Errorf("failed probe at %.1f has no reason", p.TargetQPS)
		}
	}
	if confirmations == 0 || above > 0 {
		t.Fatalf("probes %+v", pk.Probes)
	}
}

func TestFindPeakRefusesOtherScenarios(t *testing.T) {
	if _, err := inference.FindPeak(context.Background(), &inlineBackend{}, quickConfig(t, inference.Offline), 0); err == nil {
		t.Fatal("peak search ran on Offline")
	}
}

// tokenBackend streams: it reports the first token inline and the whole
// response with n tokens.
type tokenBackend struct {
	inlineBackend
	tokens int64
}

func (b *tokenBackend) IssueQuery(s []inference.Sample) {
	for _, x := range s {
		b.rec.FirstToken(x.ID)
		b.rec.Complete(inference.Response{ID: x.ID, Tokens: b.tokens})
	}
}

func TestTokenLatencies(t *testing.T) {
	s, qsl, err := inference.Settings("llama2-70b", inference.Server, inference.ProfileQuick)
	if err != nil {
		t.Fatal(err)
	}
	s.MinDurationMs, s.WarmupMs, s.ServerTargetQPS = 200, 0, 5000
	res, err := inference.Run(context.Background(), &tokenBackend{tokens: 11}, inference.Config{Settings: s, QSL: qsl, Model: "llama2-70b"})
	if err != nil {
		t.Fatal(err)
	}
	tk := res.Tokens
	if tk == nil || tk.TotalTokens != 11*int64(res.SamplesComplete) {
		t.Fatalf("tokens %+v for %d samples", tk, res.SamplesComplete)
	}
	if tk.FirstToken.MaxNs > res.Latency.MaxNs || tk.TimePerOutputToken.MaxNs > res.Latency.MaxNs/10+1 {
		t.Fatalf("TTFT %+v TPOT %+v latency %+v", tk.FirstToken, tk.TimePerOutputToken, res.Latency)
	}
	if res.Metric.Name != "result_completed_tokens_per_second" || res.Metric.Unit != "tokens/s" || res.Metric.Value <= 0 {
		t.Fatalf("metric %+v", res.Metric)
	}
	if len(res.EarlyStopping.TTFTLines) == 0 || len(res.EarlyStopping.TPOTLines) == 0 {
		t.Fatalf("no TTFT/TPOT early-stopping text: %+v", res.EarlyStopping)
	}
	if !res.Validity.Valid {
		t.Fatalf("INVALID: %s", res.Validity.InvalidReason)
	}
}
