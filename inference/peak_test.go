package inference_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
)

func TestFindPeakOnSim(t *testing.T) {
	if testing.Short() {
		t.Skip("a dozen 1 s probes")
	}
	// One 1 ms server: capacity 1000/s. Latency counts from the scheduled
	// instant, so a busy host's late issues (tens of ms on a loaded 2-core
	// machine) land in it; the 25 ms p99 bound sits above that noise and
	// still tells capacity apart: 5% over it, a 1 s probe's backlog alone
	// is 50 ms, while at 80% load M/D/1's p99 wait is about 10 ms.
	cfg := quickConfig(t, inference.Server)
	cfg.Settings.MinDurationMs = 1000
	cfg.Settings.ServerTargetQPS = 300
	cfg.Settings.ServerTargetLatencyNs = 25e6
	cfg.Settings.PeakBudgetMs = 20_000
	var res *inference.Result
	retryTiming(t, 3, func() error {
		var err error
		res, err = inference.FindPeak(context.Background(), newSim(t, map[string]string{"latency": "1ms"}), cfg, 50)
		if err != nil {
			t.Fatal(err)
		}
		pk := res.Peak
		if pk == nil || !pk.Confirmed {
			return fmt.Errorf("peak search %+v", pk)
		}
		if pk.PeakQPS < 500 || pk.PeakQPS >= 1050 {
			return fmt.Errorf("peak %.1f QPS; want between half and all of the 1000/s capacity", pk.PeakQPS)
		}
		return nil
	})
	pk := res.Peak
	if !res.Validity.Valid || res.Requested.ServerTargetQPS != pk.PeakQPS {
		t.Fatalf("result is not the VALID confirmation run at the peak: %+v at %.1f", res.Validity, res.Requested.ServerTargetQPS)
	}
	t.Logf("peak %.1f QPS, %d probes in %s: %+v", pk.PeakQPS, len(pk.Probes), time.Duration(pk.ElapsedNs), pk.Probes)
	if time.Duration(pk.ElapsedNs) > 20*time.Second+2*time.Second {
		t.Errorf("the search took %s, past its 20 s budget", time.Duration(pk.ElapsedNs))
	}
	var confirmations, above int
	for _, p := range pk.Probes {
		if p.Confirmation {
			confirmations++
		}
		if p.Valid && p.TargetQPS > pk.PeakQPS+50 {
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

// A backend that never meets the bound: the search halves down to its
// floor and stops there, in probes of fixed length, however low the QPS.
func TestFindPeakStopsAtTheFloor(t *testing.T) {
	cfg := quickConfig(t, inference.Server)
	cfg.Settings.ServerTargetQPS = 1000
	cfg.Settings.ServerTargetLatencyNs = 1e6 // the 5 ms service never meets it
	cfg.Settings.PeakMinQPS = 100
	start := time.Now()
	res, err := inference.FindPeak(context.Background(), newSim(t, map[string]string{"latency": "5ms", "servers": "64"}), cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	pk := res.Peak
	if pk.Confirmed || len(pk.Probes) != 4 || pk.MinQPS != 100 || !strings.Contains(pk.Note, "floor of 100 QPS") {
		t.Fatalf("search %+v; want probes at 1000, 500, 250, 125 and a stop at the floor", pk)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("four 300 ms probes took %s", took)
	}
}

// The budget ends the search: what passed is confirmed, and the note says
// the budget stopped it.
func TestFindPeakHonoursItsBudget(t *testing.T) {
	cfg := quickConfig(t, inference.Server) // 300 ms probes
	cfg.Settings.ServerTargetQPS = 100
	cfg.Settings.ServerTargetLatencyNs = 50e6
	cfg.Settings.PeakBudgetMs = 2000
	res, err := inference.FindPeak(context.Background(), newSim(t, map[string]string{"latency": "100us", "servers": "8"}), cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	pk := res.Peak
	if pk.BudgetMs != 2000 || !strings.Contains(pk.Note, "budget") {
		t.Fatalf("search %+v; want the 2 s budget to end it", pk)
	}
	if got := time.Duration(pk.ElapsedNs); got > 2*time.Second+3*time.Second {
		t.Fatalf("a 2 s search took %s", got)
	}
	for _, p := range pk.Probes {
		if !p.Confirmation && p.TargetQPS < 100 {
			t.Fatalf("probe below the start while every probe passes: %+v", pk.Probes)
		}
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
