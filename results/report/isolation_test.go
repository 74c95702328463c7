package report

import (
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/internal/golden"
	"github.com/gpuperf/gpuperf/results"
)

// isolationComparison is the fixed comparison measured also under two
// neighbour loads: a cpu load that degrades the candidate (CPU steal
// moved) and leaves the baseline isolated, and a memory-bandwidth load
// whose loaded runs failed on the baseline.
func isolationComparison() *results.Comparison {
	c := fixedComparison()
	off := c.Scenarios[0]
	cpu := results.LoadIsolation{Load: "cpu",
		Baseline: results.SideIsolation{QuietGeomean: off.Baseline.Geomean, Loaded: reps("metal-a100", "Offline", []float64{2490, 2480, 2500, 2485, 2495}),
			RatioPct: f64(99.6), Interval: &results.Interval{Method: results.MethodPairedT, Confidence: 0.95, LowPct: 99.1, HighPct: 100.1, HalfWidthPct: 0.5, DF: 4, N: 5},
			Verdict: results.VerdictEquivalent, Pairing: results.PairingPaired,
			Neighbour:   &results.NeighbourAchieved{Description: "2 cores busy 50% of the time", Runs: 5, Achieved: 49.6, Low: 48.9, High: 50.1, Unit: "% duty", Target: 50},
			Attribution: "nothing moved beyond noise: the load (CPU time) did not reach this side"},
		Candidate: results.SideIsolation{QuietGeomean: off.Candidate.Geomean, Loaded: reps("vm-a100", "Offline", []float64{2120, 2090, 2135, 2101, 2110}),
			RatioPct: f64(85.5), Interval: &results.Interval{Method: results.MethodPairedT, Confidence: 0.95, LowPct: 84.2, HighPct: 86.8, HalfWidthPct: 1.3, DF: 4, N: 5},
			Verdict: results.VerdictLower, Pairing: results.PairingPaired,
			Neighbour: &results.NeighbourAchieved{Description: "2 cores busy 50% of the time", Runs: 5, Achieved: 49.1, Low: 48.2, High: 49.8, Unit: "% duty", Target: 50},
			Moved: []results.Movement{{Resource: "CPU steal", Metric: "host_steal_pct", Quiet: f64(0.4), Loaded: f64(13.2), Unit: "%",
				Text: "CPU steal 0.4% quiet, 13.2% under the load (share of all CPU time): the hypervisor gave this side's vCPUs to the neighbour"}},
			Attribution: "CPU steal moved: CPU steal 0.4% quiet, 13.2% under the load (share of all CPU time): the hypervisor gave this side's vCPUs to the neighbour"},
		RetainedPct: f64(84.7), Interval: &results.Interval{Method: results.MethodPairedT, Confidence: 0.95, LowPct: 83.5, HighPct: 85.9, HalfWidthPct: 1.2, DF: 4, N: 5},
		Pairing: results.PairingPaired,
	}
	failed := reps("metal-a100", "Offline", []float64{1, 1})
	for i := range failed.Runs {
		failed.Runs[i].Status, failed.Runs[i].Counted, failed.Runs[i].Excluded = results.StatusFailed, false, "run failed: neighbour load memory-bandwidth stopped before the run ended (deadline)"
	}
	failed.Counted, failed.Valid, failed.Failed, failed.Geomean, failed.SpreadPct = 0, 0, 2, nil, nil
	mem := results.LoadIsolation{Load: "memory-bandwidth",
		Baseline: results.SideIsolation{QuietGeomean: off.Baseline.Geomean, Loaded: failed, Verdict: results.VerdictNone, Notes: []string{"no counted loaded run"}},
		Candidate: results.SideIsolation{QuietGeomean: off.Candidate.Geomean, Loaded: reps("vm-a100", "Offline", []float64{2300, 2310}),
			RatioPct: f64(93.4), Interval: &results.Interval{Method: results.MethodPairedT, Confidence: 0.95, LowPct: 90.1, HighPct: 96.8, HalfWidthPct: 3.35, DF: 1, N: 2},
			Verdict: results.VerdictInconclusive, Pairing: results.PairingPaired,
			Neighbour:   &results.NeighbourAchieved{Description: "streaming copy over 128 MiB on 2 cores, flat out", Runs: 2, Achieved: 21.4, Low: 21.1, High: 21.7, Unit: "GB/s"},
			Attribution: "no recorded telemetry moved beyond noise: the contention was in memory bandwidth, the resource the load takes (it achieved 21.4 GB/s)"},
		Notes: []string{"no counted baseline run"},
	}
	c.Isolation = &results.Isolation{
		Loads: []results.InterferenceLoad{
			{Name: "cpu", Kind: "cpu", Description: "2 cores busy 50% of the time"},
			{Name: "memory-bandwidth", Kind: "memory-bandwidth", Description: "streaming copy over 128 MiB on 2 cores, flat out"},
		},
		Scenarios:  []results.ScenarioIsolation{{Benchmark: "resnet50", Scenario: "Offline", Metric: off.Metric, RetainedQuietPct: off.RetainedPct, QuietInterval: off.Interval, Loads: []results.LoadIsolation{cpu, mem}}},
		Definition: "the isolation ratio is 100 × a side's metric under a neighbour load ÷ the same side's metric quiet",
	}
	return c
}

// TestGoldenIsolation pins the isolation table in the text formats; the
// HTML page is checked for the same rows.
func TestGoldenIsolation(t *testing.T) {
	c := isolationComparison()
	for _, f := range []Format{Table, Markdown, JUnit} {
		t.Run(string(f), func(t *testing.T) {
			golden.Check(t, "isolation."+f.Ext()+".golden", render(t, f, c, Options{Runs: fakeRuns{}}))
		})
	}
	html := string(render(t, HTML, c, Options{Runs: fakeRuns{}}))
	for _, want := range []string{
		`<section id="isolation">`,
		`<td>resnet50 Offline</td><td>cpu</td><td class="num retained">98.6%</td><td class="num">[98.2, 99.0]</td><td class="num retained">84.7%</td><td class="num">[83.5, 85.9]</td><td class="num">-13.9 pts</td>`,
		`<td>resnet50 Offline</td><td>cpu</td><td>candidate</td><td class="num">2,467.0 samples/s</td>`,
		`<span class="tag fail">degraded</span>`,
		`<span class="tag pass">isolated</span>`,
		`49.1% duty (target 50), 48.2–49.8 over 5 runs`,
		`CPU steal moved: CPU steal 0.4% quiet, 13.2% under the load`,
		`no isolation ratio: no counted loaded run`,
		`<td>resnet50 Offline</td><td>memory-bandwidth</td><td>baseline</td><td class="num">2,501.2 samples/s</td><td class="num">– (0/2)</td><td class="num retained">–</td>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the HTML page lacks %q", want)
		}
	}
}
