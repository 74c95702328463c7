package results

import (
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
)

// Server at a fixed QPS whose candidate's generator was late by 1.2 ms at
// p99 against a 3.2 ms p99 latency: the latency is the generator's, so the
// scenario is not measurable on this host, with the figures, naming the
// candidate; no verdict on the device, and the gate decides nothing.
func TestGeneratorNotMeasurable(t *testing.T) {
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, generatorRuns(inference.Server, 1.6, 50_000, 1_200_000), Options{Gate: GateRegression})
	s := only(t, c)
	g := s.Generator
	if g == nil || !g.MetricIncludesIssueDelay || g.Candidate == nil || g.Candidate.IssueDelayP99Ms == nil {
		t.Fatalf("generator health %+v", g)
	}
	// 1.23 ms is 8% of the 15 ms bound (below a tenth) and 38% of the
	// candidate's 3.2 ms p99 (above a quarter).
	want := "the load generator's issue delay p99 was 1.23 ms on the candidate (38% of its 3.20 ms percentile latency), against 0.051 ms on the baseline: " +
		"Server latency counts from the scheduled issue, so it measured the host's generator, not the device; on the candidate CPU steal"
	if !strings.HasPrefix(g.NotMeasurable, want) {
		t.Errorf("not measurable:\n%q\nwant it to start\n%q", g.NotMeasurable, want)
	}
	if s.Verdict != VerdictNotMeasurable || s.Gate.Outcome != OutcomeNotMeasurable || c.Gate.ExitCode != ExitOK || c.Gate.Outcome == OutcomePass {
		t.Errorf("verdict %s, gate %+v, overall %+v", s.Verdict, s.Gate, c.Gate)
	}
	if s.RetainedPct == nil || s.Interval == nil {
		t.Error("the numbers are kept, for the record")
	}

	// A generator late by 50 µs is the device's business.
	c = fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, generatorRuns(inference.Server, 1.6, 50_000, 60_000), Options{Gate: GateRegression})
	if s := only(t, c); s.Verdict == VerdictNotMeasurable || s.Generator == nil || s.Generator.NotMeasurable != "" {
		t.Errorf("a prompt generator: verdict %s, %+v", s.Verdict, s.Generator)
	}
	// SingleStream's metric does not include the issue delay.
	c = fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, generatorRuns(inference.SingleStream, 1.6, 50_000, 5_000_000), Options{})
	if s := only(t, c); s.Verdict == VerdictNotMeasurable || s.Generator.MetricIncludesIssueDelay {
		t.Errorf("SingleStream: verdict %s, %+v", s.Verdict, s.Generator)
	}
}

// An undecided comparison says whether the host was too noisy to measure
// at the margin, from the generator's figures, or the spread is the runs'
// own.
func TestGeneratorHostNoise(t *testing.T) {
	pairs := func(steal, busy float64) []fxRun {
		var runs []fxRun
		base := []float64{1000, 1040, 960, 1020}
		cand := []float64{990, 950, 1010, 985}
		for k := range 4 {
			for _, r := range []fxRun{{host: "bm", sc: inference.Offline, rep: k, value: base[k]}, {host: "vm", sc: inference.Offline, rep: k, value: cand[k]}} {
				r.mod = func(res *inference.Result) {
					res.Health.HostStealPct, res.Health.HostStealNote = steal, ""
					res.Health.HostBusyPct, res.Health.HostCPUs, res.Health.GeneratorCPUPct = &busy, 2, 50
				}
				runs = append(runs, r)
			}
		}
		return runs
	}
	s := only(t, fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, pairs(3, 95), Options{}))
	if s.Verdict != VerdictInconclusive || s.Generator == nil ||
		!strings.HasPrefix(s.Generator.HostNoise, "host too noisy to measure at ±3%: the 95% interval ±") ||
		!strings.Contains(s.Generator.HostNoise, "CPU steal 3.0%, other work took 1.4 of 2 CPUs") {
		t.Errorf("noisy host: verdict %s, %+v", s.Verdict, s.Generator)
	}
	s = only(t, fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, pairs(0, 30), Options{}))
	if s.Verdict != VerdictInconclusive || !strings.Contains(s.Generator.HostNoise, "the host was quiet") ||
		!strings.Contains(s.Generator.HostNoise, "the spread is the runs' own") {
		t.Errorf("quiet host: %+v", s.Generator)
	}
}

// A void Server scenario whose baseline runs were INVALID while its
// generator was late by more than a tenth of the bound says so: the host,
// not the device, failed the bound.
func TestGeneratorExplainsVoid(t *testing.T) {
	runs := generatorRuns(inference.Server, 1.0, 3_000_000, 3_100_000)
	for i := range runs {
		mod := runs[i].mod
		runs[i].mod = func(r *inference.Result) {
			mod(r)
			r.Validity.Valid = false
		}
	}
	s := only(t, fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, runs, Options{Gate: GateRegression}))
	if s.Status != StatusVoid || s.Generator == nil || !strings.Contains(s.Generator.NotMeasurable, "of the 15.0 ms latency bound") ||
		!strings.Contains(strings.Join(s.Notes, "\n"), "the INVALID runs were not measurable on this host: the load generator's issue delay p99 was 3.") {
		t.Errorf("status %s, generator %+v, notes %q", s.Status, s.Generator, s.Notes)
	}
}
