package results

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
)

// run describes one synthetic run of a tree.
type run struct {
	host, role string
	sc         inference.Scenario
	rep        int     // 0-based
	value      float64 // the headline: samples/s, or latency in ns
	invalid    bool
	errors     int
	failed     bool
	queries    uint64
	targetQPS  float64
	peak       *inference.PeakSearch
	tokenSrc   string
	seed       uint64
}

// fingerprint builds host.json as the agent writes it: protojson of
// Describe, whose fingerprint_json (bytes) is base64.
func hostJSON(t *testing.T, fp string) []byte {
	t.Helper()
	d := map[string]any{"agentVersion": "test", "hostname": "h"}
	if fp != "" {
		d["fingerprintJson"] = base64.StdEncoding.EncodeToString([]byte(fp))
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// buildTree writes a gpuperf tree with the given runs, in order.
func buildTree(t *testing.T, order string, hosts map[string]string, runs []run) (*Tree, *Manifest) {
	t.Helper()
	tree, err := Create(t.TempDir(), "test-run")
	if err != nil {
		t.Fatal(err)
	}
	m := &Manifest{Schema: ManifestSchema, RunID: "test-run", Model: "resnet50", Backend: "sim", Profile: "quick", Order: order}
	for _, name := range []string{"bm", "vm"} {
		role := RoleBaseline
		if name == "vm" {
			role = RoleCandidate
		}
		m.Hosts = append(m.Hosts, Host{Name: name, Role: role})
		if err := tree.WriteHost(name, hostJSON(t, hosts[name])); err != nil {
			t.Fatal(err)
		}
	}
	// Hosts beyond bm and vm (several hosts per role) come from the runs.
	for _, r := range runs {
		if !slices.ContainsFunc(m.Hosts, func(h Host) bool { return h.Name == r.host }) {
			m.Hosts = append(m.Hosts, Host{Name: r.host, Role: r.role})
			if err := tree.WriteHost(r.host, hostJSON(t, hosts[r.host])); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, r := range runs {
		rec := RunRecord{Host: r.host, Role: r.role, Scenario: r.sc.String(), Repetition: r.rep, Sequence: i, Status: StatusOK}
		if r.failed {
			rec.Status, rec.Error = StatusFailed, "agent unavailable"
			m.Runs = append(m.Runs, rec)
			continue
		}
		rec.Dir = RunDir(r.host, "resnet50", r.sc, r.rep)
		s := inference.DefaultTestSettings()
		s.Scenario = r.sc
		s.ScheduleRNGSeed = r.seed
		s.ServerTargetQPS = r.targetQPS
		res := &inference.Result{Schema: inference.ResultSchema, Model: "resnet50", Backend: "sim", Requested: s,
			Effective: s.Effective(inference.QSL{TotalSampleCount: 1024, PerformanceSampleCount: 1024}), QueriesIssued: r.queries,
			TargetPercentile: 0.99, Peak: r.peak}
		res.Validity.Valid = !r.invalid
		for range r.errors {
			res.Errors = append(res.Errors, "Ending early: Too many outstanding queries.")
		}
		if r.tokenSrc != "" {
			res.BackendFacts = map[string]string{"token_count_source": r.tokenSrc}
		}
		switch r.sc {
		case inference.Offline:
			res.SamplesPerSecond = r.value
			res.Metric = inference.Metric{Name: "result_samples_per_second", Value: r.value, Unit: "samples/s", HigherIsBetter: true}
		case inference.Server:
			if r.peak != nil {
				res.CompletedSamplesPerSecond = r.value
				res.Metric = inference.Metric{Name: "result_completed_samples_per_sec", Value: r.value, Unit: "samples/s", HigherIsBetter: true}
			} else {
				res.TargetLatencyNs = int64(r.value)
				res.Metric = inference.Metric{Name: "result_completed_samples_per_sec", Value: r.targetQPS, Unit: "samples/s", HigherIsBetter: true}
			}
		case inference.SingleStream:
			res.EarlyStopping.EstimateNs = int64(r.value)
			res.Metric = inference.Metric{Name: "early_stopping_latency_ss", Value: r.value, Unit: "ns"}
		}
		js, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.WriteRun(rec.Dir, RunFiles{Result: js}); err != nil {
			t.Fatal(err)
		}
		rec.Valid = !r.invalid
		m.Runs = append(m.Runs, rec)
	}
	if err := tree.WriteManifest(m); err != nil {
		t.Fatal(err)
	}
	return tree, m
}

// abba lays out paired values in ABBA order, repetition k with seed set k
// on both sides, as a plan with seeds: vary runs them.
func abba(sc inference.Scenario, base, cand []float64, mod func(*run)) []run {
	var out []run
	for k := range base {
		seed := inference.DeriveSeed(inference.OfficialScheduleSeed, k)
		b := run{host: "bm", role: RoleBaseline, sc: sc, rep: k, value: base[k], queries: 1000, targetQPS: 500, seed: seed}
		c := run{host: "vm", role: RoleCandidate, sc: sc, rep: k, value: cand[k], queries: 1000, targetQPS: 500, seed: seed}
		if mod != nil {
			mod(&b)
			mod(&c)
		}
		if k%2 == 0 {
			out = append(out, b, c)
		} else {
			out = append(out, c, b)
		}
	}
	return out
}

var (
	pairBase = []float64{1000, 1010, 990, 1005}
	pairCand = []float64{960, 975, 950, 962}
)

func compareTree(t *testing.T, order string, hosts map[string]string, runs []run, opts Options) *Comparison {
	t.Helper()
	tree, m := buildTree(t, order, hosts, runs)
	c, err := Compare(tree, m, opts)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("the model does not encode: %v", err)
	}
	var back Comparison
	if err := json.Unmarshal(js, &back); err != nil || back.Schema != ComparisonSchema {
		t.Fatalf("the model does not decode: %v %q", err, back.Schema)
	}
	return c
}

func only(t *testing.T, c *Comparison) ScenarioComparison {
	t.Helper()
	if len(c.Scenarios) != 1 {
		t.Fatalf("%d scenarios, want 1: %+v", len(c.Scenarios), c.Scenarios)
	}
	return c.Scenarios[0]
}

// The paired and Welch expectations are the mpmath values of
// stats_test.go (same data).
func TestCompareTreePairedABBA(t *testing.T) {
	c := compareTree(t, "interleaved", nil, abba(inference.Offline, pairBase, pairCand, nil), Options{Gate: GateRegression, MinRetainedPct: 97})
	s := only(t, c)
	if s.Pairing != PairingPaired || s.Status != StatusCompared || s.Interval.Method != MethodPairedT {
		t.Fatalf("pairing %s, status %s, interval %+v", s.Pairing, s.Status, s.Interval)
	}
	near(t, "retained", *s.RetainedPct, 96.05345126756806, 1e-9)
	near(t, "low", s.Interval.LowPct, 95.50938246853426, 1e-7)
	near(t, "high", s.Interval.HighPct, 96.60061935224723, 1e-7)
	if s.Verdict != VerdictLower || s.RepsNeeded == nil || *s.RepsNeeded != MinPairs {
		t.Errorf("verdict %s, reps %v", s.Verdict, s.RepsNeeded)
	}
	// [95.5, 96.6] lies wholly below 97: a regression.
	if c.Gate.ExitCode != ExitRegression || s.Gate.Outcome != OutcomeRegression {
		t.Errorf("gate %+v", c.Gate)
	}
	if s.Baseline.Counted != 4 || s.Candidate.Counted != 4 || s.Baseline.Geomean == nil {
		t.Errorf("sides %+v %+v", s.Baseline, s.Candidate)
	}
	// The geometric mean of the baseline: (1000·1010·990·1005)^(1/4).
	near(t, "baseline geomean", *s.Baseline.Geomean, math.Pow(1000*1010*990*1005, 0.25), 1e-9)
	if c.Definitions.Percentile == "" || !strings.Contains(c.Definitions.Percentile, "sorted[floor(n·p)]") {
		t.Errorf("percentile definition %q", c.Definitions.Percentile)
	}
	// At 95%, the same interval passes.
	c = compareTree(t, "interleaved", nil, abba(inference.Offline, pairBase, pairCand, nil), Options{Gate: GateRegression, MinRetainedPct: 95})
	if c.Gate.ExitCode != ExitOK {
		t.Errorf("gate at 95%%: %+v", c.Gate)
	}
}

func TestCompareTreeSequentialIsUnpaired(t *testing.T) {
	// Welch on these values (mpmath): df 5.7253733285, [94.44176936143, 97.69263709050].
	c := compareTree(t, "sequential", nil, abba(inference.Offline, pairBase, pairCand, nil), Options{})
	s := only(t, c)
	if s.Pairing != PairingUnpaired || s.Interval.Method != MethodWelchT {
		t.Fatalf("pairing %s, interval %+v", s.Pairing, s.Interval)
	}
	near(t, "low", s.Interval.LowPct, 94.44176936143002, 1e-7)
	near(t, "high", s.Interval.HighPct, 97.69263709050198, 1e-7)
	near(t, "df", s.Interval.DF, 5.725373328504939, 1e-9)
}

func TestCompareTreeStoredBaselineIsUnpaired(t *testing.T) {
	tree, m := buildTree(t, "sequential", nil, abba(inference.Offline, pairBase, pairCand, nil))
	m.StoredBaseline = &StoredBaseline{Dir: "/srv/baselines/known-good", RunID: "old"}
	c, err := Compare(tree, m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := only(t, c); s.Pairing != PairingUnpaired {
		t.Errorf("pairing %s", s.Pairing)
	}
	if c.Baseline.StoredBaseline != "/srv/baselines/known-good" || len(c.Notes) == 0 || !strings.Contains(c.Notes[0], "stored") {
		t.Errorf("stored baseline %q, notes %q", c.Baseline.StoredBaseline, c.Notes)
	}
}

func TestCompareTreeFixedQPSServer(t *testing.T) {
	// p99 latencies: retained = baseline / candidate, paired (mpmath):
	// 92.01309865957534 [89.79208382940649, 94.28905048046157].
	bl := []float64{5.0e6, 5.2e6, 4.9e6, 5.1e6}
	cl := []float64{5.5e6, 5.6e6, 5.4e6, 5.45e6}
	c := compareTree(t, "interleaved", nil, abba(inference.Server, bl, cl, nil), Options{})
	s := only(t, c)
	if s.Metric.Name != "target_percentile_latency_ns" || s.Metric.HigherIsBetter {
		t.Errorf("metric %+v", s.Metric)
	}
	for _, l := range []string{"p99-latency ratio at fixed QPS", LabelLatencyInverted} {
		if !strings.Contains(strings.Join(s.Labels, "|"), l) {
			t.Errorf("labels %q lack %q", s.Labels, l)
		}
	}
	near(t, "retained", *s.RetainedPct, 92.01309865957534, 1e-9)
	near(t, "low", s.Interval.LowPct, 89.79208382940649, 1e-7)
	near(t, "high", s.Interval.HighPct, 94.28905048046157, 1e-7)

	// Different query counts: refused.
	runs := abba(inference.Server, bl, cl, func(r *run) {
		if r.role == RoleCandidate {
			r.queries = 1200
		}
	})
	s = only(t, compareTree(t, "interleaved", nil, runs, Options{}))
	if s.Status != StatusRefused || !strings.Contains(s.Refusal, "different query counts on the same seeds") ||
		!strings.Contains(s.Refusal, "baseline 1000, candidate 1200") || s.RetainedPct != nil {
		t.Errorf("status %s, refusal %q", s.Status, s.Refusal)
	}
	// Seeds varied across repetitions: each seed set's schedule has its
	// own count, the same on both sides. Compared, not refused.
	runs = abba(inference.Server, bl, cl, func(r *run) { r.queries = 1000 + uint64(r.rep)*37 })
	if s = only(t, compareTree(t, "interleaved", nil, runs, Options{})); s.Status == StatusRefused {
		t.Errorf("per-seed counts refused: %q", s.Refusal)
	}
	// One seed set, counts differing on one repetition only: refused.
	runs = abba(inference.Server, bl, cl, func(r *run) {
		r.queries = 1000 + uint64(r.rep)*37
		if r.role == RoleCandidate && r.rep == 2 {
			r.queries++
		}
	})
	if s = only(t, compareTree(t, "interleaved", nil, runs, Options{})); s.Status != StatusRefused ||
		!strings.Contains(s.Refusal, "repetition 3's: baseline 1074, candidate 1075") {
		t.Errorf("status %s, refusal %q", s.Status, s.Refusal)
	}
	// Different target QPS: refused.
	runs = abba(inference.Server, bl, cl, func(r *run) {
		if r.role == RoleCandidate {
			r.targetQPS = 600
		}
	})
	if s = only(t, compareTree(t, "interleaved", nil, runs, Options{})); s.Status != StatusRefused || !strings.Contains(s.Refusal, "target QPS") {
		t.Errorf("status %s, refusal %q", s.Status, s.Refusal)
	}
}

func TestCompareTreeLatencyQueryCounts(t *testing.T) {
	runs := abba(inference.SingleStream, []float64{1.2e6, 1.21e6}, []float64{1.3e6, 1.31e6}, func(r *run) {
		if r.role == RoleBaseline && r.rep == 1 {
			r.queries = 999
		}
	})
	s := only(t, compareTree(t, "interleaved", nil, runs, Options{Gate: GateRegression}))
	if s.Status != StatusRefused || s.Gate.ExitCode != ExitUsage {
		t.Errorf("status %s, gate %+v", s.Status, s.Gate)
	}
}

func peakSearch(start, peak float64, confirmed bool) *inference.PeakSearch {
	return &inference.PeakSearch{Precision: 1, PeakQPS: peak, Confirmed: confirmed,
		Probes: []inference.PeakProbe{{TargetQPS: start, Valid: true}, {TargetQPS: 2 * start}, {TargetQPS: peak, Valid: true, Confirmation: true}}}
}

func TestCompareTreePeakSearch(t *testing.T) {
	peak := func(r *run) { r.peak = peakSearch(400, r.value, true) }
	s := only(t, compareTree(t, "interleaved", nil, abba(inference.Server, pairBase, pairCand, peak), Options{}))
	if s.Metric.Name != "result_completed_samples_per_sec" || !strings.Contains(strings.Join(s.Labels, "|"), LabelPeakSearch) {
		t.Errorf("metric %+v labels %q", s.Metric, s.Labels)
	}
	near(t, "retained", *s.RetainedPct, 96.05345126756806, 1e-9)
	if len(s.Notes) != 0 {
		t.Errorf("notes %q", s.Notes)
	}

	// An unconfirmed candidate search: its value is a probe's and never
	// counts; under a gate it is a regression.
	runs := abba(inference.Server, pairBase, pairCand, func(r *run) {
		r.peak = peakSearch(400, r.value, !(r.role == RoleCandidate && r.rep == 2))
	})
	c := compareTree(t, "interleaved", nil, runs, Options{Gate: GateRegression})
	s = only(t, c)
	if s.Candidate.Counted != 3 || c.Gate.ExitCode != ExitRegression {
		t.Errorf("counted %d, gate %+v", s.Candidate.Counted, c.Gate)
	}
	var excluded string
	for _, r := range s.Candidate.Runs {
		if r.Repetition == 3 {
			excluded = r.Excluded
		}
	}
	if !strings.Contains(excluded, "probes never count") {
		t.Errorf("run 3 excluded as %q", excluded)
	}

	// An unconfirmed baseline search voids the scenario.
	runs = abba(inference.Server, pairBase, pairCand, func(r *run) {
		r.peak = peakSearch(400, r.value, r.role == RoleCandidate)
	})
	if c = compareTree(t, "interleaved", nil, runs, Options{}); only(t, c).Status != StatusVoid || c.Gate.ExitCode != ExitVoid {
		t.Errorf("status %s, gate %+v", only(t, c).Status, c.Gate)
	}

	// Searches from different starts: refused.
	runs = abba(inference.Server, pairBase, pairCand, func(r *run) {
		start := 400.0
		if r.role == RoleCandidate {
			start = 300
		}
		r.peak = peakSearch(start, r.value, true)
	})
	if s = only(t, compareTree(t, "interleaved", nil, runs, Options{})); s.Status != StatusRefused || !strings.Contains(s.Refusal, "started at different QPS") {
		t.Errorf("status %s, refusal %q", s.Status, s.Refusal)
	}

	// Coarse precision: a note.
	runs = abba(inference.Server, pairBase, pairCand, func(r *run) {
		r.peak = peakSearch(400, r.value, true)
		r.peak.Precision = 50 // 5% of a 1000 QPS peak, more than 3%/4
	})
	if s = only(t, compareTree(t, "interleaved", nil, runs, Options{})); len(s.Notes) == 0 || !strings.Contains(s.Notes[0], "coarser than a quarter") {
		t.Errorf("notes %q", s.Notes)
	}

	// One side a peak search, the other a fixed QPS: refused.
	runs = abba(inference.Server, pairBase, pairCand, func(r *run) {
		if r.role == RoleBaseline {
			r.peak = peakSearch(400, r.value, true)
		}
	})
	if s = only(t, compareTree(t, "interleaved", nil, runs, Options{})); s.Status != StatusRefused || !strings.Contains(s.Refusal, "fixed QPS") {
		t.Errorf("status %s, refusal %q", s.Status, s.Refusal)
	}
}

func TestCompareTreeValidity(t *testing.T) {
	// A baseline INVALID: void, exit 3 even without a gate.
	runs := abba(inference.Offline, pairBase, pairCand, func(r *run) { r.invalid = r.role == RoleBaseline && r.rep == 1 })
	c := compareTree(t, "interleaved", nil, runs, Options{})
	if s := only(t, c); s.Status != StatusVoid || !strings.Contains(s.Void, "baseline run 2") || s.RetainedPct != nil || c.Gate.ExitCode != ExitVoid {
		t.Errorf("status %s, void %q, gate %+v", s.Status, s.Void, c.Gate)
	}
	// A baseline with LoadGen errors: void.
	runs = abba(inference.Offline, pairBase, pairCand, func(r *run) {
		if r.role == RoleBaseline && r.rep == 0 {
			r.errors = 1
		}
	})
	if s := only(t, compareTree(t, "interleaved", nil, runs, Options{})); s.Status != StatusVoid || !strings.Contains(s.Void, "LoadGen error") {
		t.Errorf("status %s, void %q", s.Status, s.Void)
	}
	// Every candidate run INVALID: a regression under a gate, 3 without.
	runs = abba(inference.Offline, pairBase, pairCand, func(r *run) { r.invalid = r.role == RoleCandidate })
	c = compareTree(t, "interleaved", nil, runs, Options{Gate: GateQualify})
	if s := only(t, c); s.Status != StatusCandidateInvalid || c.Gate.ExitCode != ExitRegression {
		t.Errorf("status %s, gate %+v", s.Status, c.Gate)
	}
	if c = compareTree(t, "interleaved", nil, runs, Options{}); c.Gate.ExitCode != ExitVoid {
		t.Errorf("no gate: %+v", c.Gate)
	}
	// One candidate run INVALID: compared on the rest, and a regression.
	runs = abba(inference.Offline, pairBase, pairCand, func(r *run) { r.invalid = r.role == RoleCandidate && r.rep == 3 })
	c = compareTree(t, "interleaved", nil, runs, Options{Gate: GateRegression})
	s := only(t, c)
	if s.Status != StatusCompared || s.Interval.N != 3 || c.Gate.ExitCode != ExitRegression {
		t.Errorf("status %s, interval %+v, gate %+v", s.Status, s.Interval, c.Gate)
	}
	// A failed run is left out; the pairs left are compared.
	runs = abba(inference.Offline, pairBase, pairCand, func(r *run) { r.failed = r.role == RoleCandidate && r.rep == 0 })
	s = only(t, compareTree(t, "interleaved", nil, runs, Options{}))
	if s.Candidate.Failed != 1 || s.Interval.N != 3 || !strings.Contains(strings.Join(s.Notes, "|"), "without a counted partner") {
		t.Errorf("failed %d, interval %+v, notes %q", s.Candidate.Failed, s.Interval, s.Notes)
	}
}

func TestCompareTreeTokenSources(t *testing.T) {
	runs := abba(inference.Offline, pairBase, pairCand, func(r *run) {
		r.tokenSrc = "usage"
		if r.role == RoleCandidate {
			r.tokenSrc = "counted_chunks"
		}
	})
	if s := only(t, compareTree(t, "interleaved", nil, runs, Options{})); s.Status != StatusRefused || !strings.Contains(s.Refusal, "token counts") {
		t.Errorf("status %s, refusal %q", s.Status, s.Refusal)
	}
}

func TestCompareTreePerGPU(t *testing.T) {
	hosts := map[string]string{
		// The gpu package's fingerprint: a "gpus" list.
		"bm": `{"schema":"gpuperf.fingerprint/v1","gpus":[{"index":0,"name":"H100"},{"index":1,"name":"H100"}]}`,
		// No GPU named: assumed 1, and said so.
		"vm": `{"hostname":"vm","cpus":8}`,
	}
	base := []float64{2000, 2020, 1980, 2010} // two GPUs: per GPU pairBase
	c := compareTree(t, "interleaved", hosts, abba(inference.Offline, base, pairCand, nil), Options{PerGPU: true})
	s := only(t, c)
	near(t, "retained per GPU", *s.RetainedPct, 96.05345126756806, 1e-9)
	if !s.Metric.PerGPU || !strings.Contains(strings.Join(s.Labels, "|"), LabelPerGPU) {
		t.Errorf("metric %+v labels %q", s.Metric, s.Labels)
	}
	if g := c.Baseline.Hosts[0]; g.GPUs != 2 || !strings.Contains(g.GPUsFrom, "gpus (2 listed)") || len(g.Fingerprint) == 0 {
		t.Errorf("baseline host %+v", g)
	}
	if g := c.Candidate.Hosts[0]; g.GPUs != 1 || !strings.Contains(g.GPUsFrom, "assumed 1") {
		t.Errorf("candidate host %+v", g)
	}
	if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "--per-gpu: vm's GPU count is unknown") {
		t.Errorf("notes %q", c.Notes)
	}
	if s.Baseline.Runs[0].RawValue != 2000 || s.Baseline.Runs[0].Value != 1000 {
		t.Errorf("baseline run %+v", s.Baseline.Runs[0])
	}
	// Without --per-gpu the totals are compared.
	s = only(t, compareTree(t, "interleaved", hosts, abba(inference.Offline, base, pairCand, nil), Options{}))
	near(t, "retained in total", *s.RetainedPct, 96.05345126756806/2, 1e-9)
}

func TestCompareTreeHostSide(t *testing.T) {
	tree, _ := buildTree(t, "interleaved", nil, abba(inference.Offline, pairBase, pairCand, nil))
	// TREE/HOST on both sides: the same tree, read as two stored sides,
	// compared unpaired.
	b, err := ReadSource(filepath.Join(tree.Root, "bm"), RoleBaseline)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := ReadSource(filepath.Join(tree.Root, "vm"), RoleCandidate)
	if err != nil {
		t.Fatal(err)
	}
	c, err := CompareSources(b, cs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := only(t, c); s.Pairing != PairingUnpaired || s.Interval.Method != MethodWelchT {
		t.Errorf("pairing %s, interval %+v", s.Pairing, s.Interval)
	}
	// The tree root as the candidate reads its candidate host.
	cs, err = ReadSource(tree.Root, RoleCandidate)
	if err != nil || cs.Side.Name != "vm" {
		t.Errorf("candidate side %+v, %v", cs, err)
	}
	var ie *InputError
	if _, err := ReadSource(filepath.Join(tree.Root, "nohost"), RoleCandidate); err == nil || !errors.As(err, &ie) {
		t.Errorf("a missing host: %v", err)
	}
}

func TestCompareTreeEverythingFailed(t *testing.T) {
	runs := abba(inference.Offline, pairBase, pairCand, func(r *run) { r.failed = r.role == RoleCandidate })
	c := compareTree(t, "interleaved", nil, runs, Options{Gate: GateQualify})
	s := only(t, c)
	if s.Status != StatusNoData || s.Candidate.Failed != 4 || !strings.Contains(strings.Join(s.Notes, "|"), "no counted candidate run (run failed: agent unavailable)") {
		t.Errorf("status %s, failed %d, notes %q", s.Status, s.Candidate.Failed, s.Notes)
	}
	if c.Gate.ExitCode != ExitInconclusive {
		t.Errorf("gate %+v", c.Gate)
	}
	// The plan's runner reports the failed runs: exit 1 wins over 5.
	c.ApplyGate(Failures{Runtime: []string{"some runs failed"}})
	if c.Gate.ExitCode != ExitFailure {
		t.Errorf("gate with failures %+v", c.Gate)
	}
	runs = abba(inference.Offline, pairBase, pairCand, func(r *run) { r.failed = true })
	s = only(t, compareTree(t, "interleaved", nil, runs, Options{}))
	if s.Status != StatusNoData || slices.Contains(s.Labels, LabelLatencyInverted) {
		t.Errorf("every run failed: status %s, labels %q", s.Status, s.Labels)
	}
}

// TestCompareTreeHostsAreTheUnit: with several hosts per role, each host's
// repetitions collapse to their geometric mean and the interval is Welch's
// over hosts, not over the pooled runs.
func TestCompareTreeHostsAreTheUnit(t *testing.T) {
	var runs []run
	add := func(host, role string, vals ...float64) {
		for k, v := range vals {
			runs = append(runs, run{host: host, role: role, sc: inference.Offline, rep: k, value: v})
		}
	}
	// bm and vm are in every tree; here they are one host of each side.
	add("bm", RoleBaseline, 1000, 1010, 990)
	add("bm2", RoleBaseline, 1100, 1090, 1110)
	add("bm3", RoleBaseline, 1050, 1040, 1060)
	add("vm", RoleCandidate, 950, 960, 940)
	add("vm2", RoleCandidate, 1020, 1030, 1010)
	add("vm3", RoleCandidate, 990, 985, 995)
	s := only(t, compareTree(t, "sequential", nil, runs, Options{}))
	hostMean := func(vals ...float64) float64 {
		var sum float64
		for _, v := range vals {
			sum += math.Log(v)
		}
		return sum / float64(len(vals))
	}
	want, err := estimateRetained(estimateInput{
		Base:   []float64{hostMean(1000, 1010, 990), hostMean(1100, 1090, 1110), hostMean(1050, 1040, 1060)},
		Cand:   []float64{hostMean(950, 960, 940), hostMean(1020, 1030, 1010), hostMean(990, 985, 995)},
		Method: IntervalAuto, Confidence: 0.95, EquivConf: 0.90, MarginPct: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Interval == nil || s.Interval.Method != MethodWelchT {
		t.Fatalf("interval %+v", s.Interval)
	}
	near(t, "retained", *s.RetainedPct, want.RetainedPct, 1e-9)
	near(t, "low", s.Interval.LowPct, want.Interval.LowPct, 1e-9)
	near(t, "df", s.Interval.DF, want.Interval.DF, 1e-9)
	// Three hosts a side: Welch's df is at most 4, where nine pooled runs
	// a side would give about 16.
	if s.Interval.DF > 4 {
		t.Errorf("df %v: the runs were pooled", s.Interval.DF)
	}
	if !strings.Contains(strings.Join(s.Notes, "|"), "baseline: 3 hosts") || !strings.Contains(strings.Join(s.Notes, "|"), "candidate: 3 hosts") {
		t.Errorf("notes %q", s.Notes)
	}
}

// Seed sets: pairs that share a seed set while pairs differ give a
// confidence interval; the same seeds in every run a repeatability
// interval, said in the notes and the definitions; a pair whose sides
// drew different seeds is noted, and refuses a peak search.
func TestCompareIntervalKind(t *testing.T) {
	c := compareTree(t, "interleaved", nil, abba(inference.Offline, pairBase, pairCand, nil), Options{})
	s := only(t, c)
	if s.IntervalKind != IntervalConfidence || !strings.Contains(c.Definitions.Interval, "it is a confidence interval: repetition k ran seed set k on both sides") {
		t.Errorf("varied seeds: kind %q, definition %q", s.IntervalKind, c.Definitions.Interval)
	}
	if len(s.Notes) != 0 {
		t.Errorf("notes %q", s.Notes)
	}

	fixed := func(r *run) { r.seed = inference.OfficialScheduleSeed }
	c = compareTree(t, "interleaved", nil, abba(inference.Offline, pairBase, pairCand, fixed), Options{})
	s = only(t, c)
	if s.IntervalKind != IntervalRepeatability || !strings.Contains(c.Definitions.Interval, "it is a repeatability interval") ||
		!slices.ContainsFunc(s.Notes, func(n string) bool { return strings.HasPrefix(n, "repeatability interval:") }) {
		t.Errorf("fixed seeds: kind %q, definition %q, notes %q", s.IntervalKind, c.Definitions.Interval, s.Notes)
	}

	skewed := func(r *run) {
		if r.role == RoleCandidate && r.rep == 3 {
			r.seed++
		}
	}
	s = only(t, compareTree(t, "interleaved", nil, abba(inference.Offline, pairBase, pairCand, skewed), Options{}))
	if !slices.Contains(s.Notes, "the two sides ran with different seeds") {
		t.Errorf("a pair with different seeds: notes %q", s.Notes)
	}
	peak := func(r *run) {
		skewed(r)
		r.peak = peakSearch(400, r.value, true)
	}
	s = only(t, compareTree(t, "interleaved", nil, abba(inference.Server, pairBase, pairCand, peak), Options{}))
	if s.Status != StatusRefused || !strings.Contains(s.Refusal, "different seeds") {
		t.Errorf("peak searches with different seeds in a pair: %s %q", s.Status, s.Refusal)
	}
}
