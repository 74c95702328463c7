package history

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/internal/testpaths"
	"github.com/gpuperf/gpuperf/results"
)

// seedNights records n nightly comparisons of a vGPU guest against bare
// metal, as a plan would: three scenarios, four repetitions a side, both
// hosts' real-size fingerprints, the scenarios' own JSON. Retained % is
// 99.5 with 0.5 points of noise, 3 points lower from night 9n/10 on.
func seedNights(tb testing.TB, s *Store, n int) {
	tb.Helper()
	root := testpaths.ModuleRoot(tb)
	fp := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(root, "results", "testdata", "fairness", name))
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	bm, vm := fp("baremetal.json"), fp("vgpu-guest.json")
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)
	metrics := []results.Metric{
		{Name: "result_samples_per_second", Unit: "samples/s", HigherIsBetter: true},
		{Name: "result_completed_samples_per_sec", Unit: "samples/s", HigherIsBetter: true},
		{Name: "early_stopping_latency_ss", Unit: "ns"},
	}
	for night := range n {
		c := &results.Comparison{
			Schema:    results.ComparisonSchema,
			Baseline:  results.Side{Role: results.RoleBaseline, Name: "bm-h100", Format: results.FormatGpuperf, Hosts: []results.HostInfo{{Name: "bm-h100", GPUs: 1, Fingerprint: bm}}},
			Candidate: results.Side{Role: results.RoleCandidate, Name: "vgpu-h100", Format: results.FormatGpuperf, Hosts: []results.HostInfo{{Name: "vgpu-h100", GPUs: 1, Fingerprint: vm}}},
			Settings:  results.Settings{MarginPct: 2, MinRetainedPct: 95, Gate: results.GateRegression},
			Gate:      results.GateOutcome{Mode: results.GateRegression, MinRetainedPct: 95, Outcome: results.OutcomePass},
		}
		for i, sc := range []string{"Offline", "Server", "SingleStream"} {
			ret := 99.5 + 0.5*rng.NormFloat64()
			if night >= n*9/10 {
				ret -= 3
			}
			side := func(host string, level float64) results.SideValues {
				sv := results.SideValues{Counted: 4, Valid: 4}
				for rep := 1; rep <= 4; rep++ {
					v := level * (1 + 0.004*rng.NormFloat64())
					sv.Runs = append(sv.Runs, results.Repetition{Repetition: rep, Host: host, Dir: fmt.Sprintf("%s/resnet50/%s/performance/run_%d", host, sc, rep),
						File: "result.json", RawValue: v, Value: v, GPUs: 1, Status: results.StatusOK, Valid: true, Counted: true, Queries: 24576})
				}
				g := level
				sv.Geomean = &g
				return sv
			}
			r := ret
			c.Scenarios = append(c.Scenarios, results.ScenarioComparison{
				Benchmark: "resnet50", Scenario: sc, Metric: metrics[i], Status: results.StatusCompared, Pairing: results.PairingPaired,
				Baseline: side("bm-h100", 25000), Candidate: side("vgpu-h100", 250*ret), RetainedPct: &r,
				Interval: &results.Interval{Method: results.MethodPairedT, Confidence: 0.95, LowPct: ret - 0.9, HighPct: ret + 0.9, HalfWidthPct: 0.9, DF: 3, N: 4},
				Verdict:  results.VerdictEquivalent, Gate: results.ScenarioGate{Outcome: results.OutcomePass},
			})
		}
		start := t0.AddDate(0, 0, night)
		rec := &Record{Kind: KindCompare, RunID: start.Format("20060102-150405"), Tree: "/srv/nightly/" + start.Format("20060102-150405"),
			PlanHash: "5f1c0ffee000", Model: "resnet50", Backend: "kserve", Profile: "standard", Version: "v1.4.0",
			StartedAt: start, EndedAt: start.Add(47 * time.Minute), RecordedBy: "ci-runner-2", Command: "gpuperf compare --plan nightly.yaml --gate trend"}
		if err := rec.AddComparison(c); err != nil {
			tb.Fatal(err)
		}
		if _, err := s.Record(context.Background(), rec); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestSeedStore fills the store GPUPERF_SEED_STORE names with
// GPUPERF_SEED_NIGHTS (default 1000) nights, for the timings in
// BENCHMARKS.md; it skips otherwise.
func TestSeedStore(t *testing.T) {
	addr := os.Getenv("GPUPERF_SEED_STORE")
	if addr == "" {
		t.Skip("GPUPERF_SEED_STORE names no store to fill")
	}
	n := 1000
	if v := os.Getenv("GPUPERF_SEED_NIGHTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("GPUPERF_SEED_NIGHTS=%q", v)
		}
	}
	s, err := Open(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	seedNights(t, s, n)
	t.Logf("recorded %d nights into %s in %v", n, s.Where(), time.Since(start).Round(time.Millisecond))
}

func benchStore(b *testing.B, n int) *Store {
	b.Helper()
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "history.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	seedNights(b, s, n)
	return s
}

func BenchmarkList1000(b *testing.B) {
	s := benchStore(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		recs, err := s.List(context.Background(), Filter{})
		if err != nil || len(recs) != 1000 {
			b.Fatal(len(recs), err)
		}
	}
}

func BenchmarkSeries1000(b *testing.B) {
	s := benchStore(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		ss, err := s.Series(context.Background(), SeriesOptions{})
		if err != nil || len(ss) != 3 || len(ss[0].Points) != 1000 {
			b.Fatal(len(ss), err)
		}
	}
}

func BenchmarkRecord(b *testing.B) {
	s := benchStore(b, 1)
	b.ReportAllocs()
	for b.Loop() {
		seedNights(b, s, 1)
	}
}
