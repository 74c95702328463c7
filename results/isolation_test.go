package results

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/interference"
)

// loadedRun is one synthetic Offline run of an isolation tree.
type loadedRun struct {
	host, role, load string
	rep              int
	value            float64 // samples/s
	steal            float64 // host CPU steal %
	achieved         float64 // the neighbour's achieved duty, %
	genCPU           float64 // the measured process's CPU %
}

// buildIsolationTree writes a tree whose runs are quiet (load "") or under
// a cpu load, each with its host's CPU steal, and a neighbour.json for the
// loaded ones.
func buildIsolationTree(t *testing.T, runs []loadedRun) (*Tree, *Manifest) {
	t.Helper()
	tree, err := Create(t.TempDir(), "iso-run")
	if err != nil {
		t.Fatal(err)
	}
	spec := interference.Spec{Kind: interference.KindCPU, Cores: 1, DutyCycle: 0.5}
	specJSON, _ := json.Marshal(spec)
	m := &Manifest{Schema: ManifestSchema, RunID: "iso-run", Model: "resnet50", Backend: "sim", Profile: "quick", Order: "interleaved",
		Interference: []InterferenceLoad{{Name: "cpu", Kind: interference.KindCPU, Description: spec.Describe(), Load: specJSON}}}
	for _, h := range []Host{{Name: "bm", Role: RoleBaseline}, {Name: "vm", Role: RoleCandidate}} {
		m.Hosts = append(m.Hosts, h)
		if err := tree.WriteHost(h.Name, hostJSON(t, "")); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range runs {
		rec := RunRecord{Host: r.host, Role: r.role, Scenario: "Offline", Repetition: r.rep, Sequence: i, Status: StatusOK, Interference: r.load, Valid: true}
		var files RunFiles
		if r.load == "" {
			rec.Dir = RunDir(r.host, "resnet50", inference.Offline, r.rep)
		} else {
			rec.Dir = InterferenceRunDir(r.host, "resnet50", inference.Offline, r.load, r.rep)
			rep := interference.Report{Schema: interference.ReportSchema, Load: spec, Description: spec.Describe(), Achieved: r.achieved,
				Target: 50, Unit: "% duty", StoppedBy: interference.StoppedByCoordinator}
			files.Neighbour, _ = json.Marshal(rep)
		}
		s := inference.DefaultTestSettings()
		s.Scenario = inference.Offline
		res := &inference.Result{Schema: inference.ResultSchema, Model: "resnet50", Backend: "sim", Requested: s,
			Effective: s.Effective(inference.QSL{TotalSampleCount: 1024, PerformanceSampleCount: 1024}), QueriesIssued: 1,
			SamplesPerSecond: r.value, Metric: inference.Metric{Name: "result_samples_per_second", Value: r.value, Unit: "samples/s", HigherIsBetter: true}}
		res.Validity.Valid = true
		res.Health.HostStealPct = r.steal
		res.Health.GeneratorCPUPct = r.genCPU
		var err error
		if files.Result, err = json.Marshal(res); err != nil {
			t.Fatal(err)
		}
		if err := tree.WriteRun(rec.Dir, files); err != nil {
			t.Fatal(err)
		}
		m.Runs = append(m.Runs, rec)
	}
	if err := tree.WriteManifest(m); err != nil {
		t.Fatal(err)
	}
	return tree, m
}

// isolationRuns lays the runs out as the coordinator does: per
// repetition, quiet then loaded on even ones and the reverse on odd ones,
// each phase's pair ABBA.
func isolationRuns(bq, bl, cq, cl []float64, candSteal float64) []loadedRun {
	var out []loadedRun
	for k := range bq {
		phases := []string{"", "cpu"}
		if k%2 == 1 {
			phases = []string{"cpu", ""}
		}
		for _, ph := range phases {
			b := loadedRun{host: "bm", role: RoleBaseline, load: ph, rep: k, value: bq[k], steal: 0.1}
			c := loadedRun{host: "vm", role: RoleCandidate, load: ph, rep: k, value: cq[k], steal: 0.2 + 0.05*float64(k)}
			if ph != "" {
				b.value, b.achieved = bl[k], 49+float64(k)
				c.value, c.achieved, c.steal = cl[k], 48+float64(k), candSteal+float64(k)
			}
			if k%2 == 0 {
				out = append(out, b, c)
			} else {
				out = append(out, c, b)
			}
		}
	}
	return out
}

func TestIsolationTable(t *testing.T) {
	bq := []float64{1000, 1010, 990, 1005}
	bl := []float64{750, 770, 735, 760}
	cq := []float64{800, 805, 795, 810}
	cl := []float64{560, 580, 545, 570}
	tree, m := buildIsolationTree(t, isolationRuns(bq, bl, cq, cl, 12))
	c, err := Compare(tree, m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sc := only(t, c)
	// The loaded runs stay out of the comparison itself.
	if sc.Baseline.Counted != 4 || sc.Candidate.Counted != 4 || sc.Pairing != PairingPaired {
		t.Fatalf("the comparison counted %d and %d runs (%s); want the 4 quiet pairs", sc.Baseline.Counted, sc.Candidate.Counted, sc.Pairing)
	}
	iso := c.Isolation
	if iso == nil || len(iso.Scenarios) != 1 || len(iso.Scenarios[0].Loads) != 1 || len(iso.Loads) != 1 {
		t.Fatalf("isolation %+v", iso)
	}
	si := iso.Scenarios[0]
	if si.RetainedQuietPct == nil || *si.RetainedQuietPct != *sc.RetainedPct {
		t.Errorf("retained quiet %v; want the comparison's %v", si.RetainedQuietPct, *sc.RetainedPct)
	}
	li := si.Loads[0]
	pairedRatio := func(from, to []float64) float64 {
		var s float64
		for i := range from {
			s += math.Log(to[i] / from[i])
		}
		return 100 * math.Exp(s/float64(len(from)))
	}
	for _, tc := range []struct {
		side     string
		got      SideIsolation
		from, to []float64
		achieved float64
	}{{"baseline", li.Baseline, bq, bl, 50.5}, {"candidate", li.Candidate, cq, cl, 49.5}} {
		want := pairedRatio(tc.from, tc.to)
		if tc.got.RatioPct == nil || math.Abs(*tc.got.RatioPct-want) > 1e-9 {
			t.Errorf("%s: isolation ratio %v; want %.6f", tc.side, tc.got.RatioPct, want)
		}
		if iv := tc.got.Interval; iv == nil || iv.Method != MethodPairedT || iv.N != 4 || iv.LowPct > want || iv.HighPct < want || iv.HighPct > 85 {
			t.Errorf("%s: interval %+v", tc.side, iv)
		}
		if tc.got.Verdict != VerdictLower || tc.got.Pairing != PairingPaired {
			t.Errorf("%s: verdict %q pairing %q", tc.side, tc.got.Verdict, tc.got.Pairing)
		}
		if n := tc.got.Neighbour; n == nil || n.Runs != 4 || n.Achieved != tc.achieved || n.Unit != "% duty" || n.Target != 50 {
			t.Errorf("%s: neighbour %+v; want 4 runs at %v%% duty", tc.side, n, tc.achieved)
		}
		if tc.got.Loaded.Counted != 4 || tc.got.QuietGeomean == nil {
			t.Errorf("%s: loaded %d counted, quiet geomean %v", tc.side, tc.got.Loaded.Counted, tc.got.QuietGeomean)
		}
	}
	if want := pairedRatio(bl, cl); li.RetainedPct == nil || math.Abs(*li.RetainedPct-want) > 1e-9 || li.Pairing != PairingPaired {
		t.Errorf("retained under the load %v (%s); want %.6f paired", li.RetainedPct, li.Pairing, want)
	}
	// The candidate's CPU steal rose from about 0.3% to about 13.5%: the
	// resource that moved. Nothing moved on the baseline, so its ratio is
	// put on the load's own resource.
	if mv := li.Candidate.Moved; len(mv) == 0 || mv[0].Resource != "CPU steal" || !strings.HasPrefix(li.Candidate.Attribution, "CPU steal moved: CPU steal 0.3% quiet, 13.5% under the load") {
		t.Errorf("candidate: moved %+v, attribution %q", mv, li.Candidate.Attribution)
	}
	if want := "no recorded telemetry moved beyond noise: the contention was in CPU time, the resource the load takes (it achieved 50.5% duty)"; li.Baseline.Attribution != want {
		t.Errorf("baseline attribution %q\nwant %q", li.Baseline.Attribution, want)
	}
}

// TestIsolationUnaffected: a load that moves nothing is "equivalent"
// (isolated), and says the load did not reach the side.
func TestIsolationUnaffected(t *testing.T) {
	q := []float64{1000, 1010, 990, 1005}
	l := []float64{1001, 1009, 991, 1004}
	tree, m := buildIsolationTree(t, isolationRuns(q, l, q, l, 0.3))
	c, err := Compare(tree, m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := c.Isolation.Scenarios[0].Loads[0].Baseline
	if b.Verdict != VerdictEquivalent || !strings.HasPrefix(b.Attribution, "nothing moved beyond noise: the load (CPU time) did not reach this side") {
		t.Errorf("verdict %q, attribution %q", b.Verdict, b.Attribution)
	}
}

func TestIsolationAbsentWithoutLoads(t *testing.T) {
	c := compareTree(t, "interleaved", nil, abba(inference.Offline, pairBase, pairCand, nil), Options{})
	if c.Isolation != nil {
		t.Errorf("isolation %+v for a tree without neighbour loads", c.Isolation)
	}
}

// TestIsolationFailedLoadedRuns: loaded runs that failed leave that side
// without a ratio, saying why, and do not touch the comparison.
func TestIsolationFailedLoadedRuns(t *testing.T) {
	q := []float64{1000, 1010, 990, 1005}
	runs := isolationRuns(q, q, q, q, 0)
	tree, m := buildIsolationTree(t, runs)
	for i := range m.Runs {
		if m.Runs[i].Host == "vm" && m.Runs[i].Interference != "" {
			m.Runs[i].Status, m.Runs[i].Error, m.Runs[i].Dir = StatusFailed, "neighbour load cpu stopped before the run ended (deadline)", ""
		}
	}
	c, err := Compare(tree, m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cand := c.Isolation.Scenarios[0].Loads[0].Candidate
	if cand.RatioPct != nil || cand.Loaded.Failed != 4 || !strings.Contains(strings.Join(cand.Notes, "; "), "no counted loaded run") {
		t.Errorf("candidate %+v", cand)
	}
	if only(t, c).Candidate.Counted != 4 {
		t.Error("failed loaded runs changed the comparison")
	}
}

func TestIsolationAttributionWords(t *testing.T) {
	v := 84.6
	wide := &Interval{LowPct: 50.2, HighPct: 142.8}
	short := &NeighbourAchieved{Achieved: 9.07, Unit: "% duty", Target: 50}
	for _, tc := range []struct {
		si   SideIsolation
		want string
	}{
		{SideIsolation{RatioPct: &v, Interval: wide, Verdict: VerdictInconclusive, Neighbour: short},
			"nothing moved beyond noise, and the ratio's interval is too wide to say whether the load (CPU time) reached this side; the neighbour reached only 18% of its target (9.07% duty of 50% duty): the host did not give it what it asked"},
		{SideIsolation{RatioPct: &v, Interval: &Interval{LowPct: 80, HighPct: 88}, Verdict: VerdictLower, Neighbour: &NeighbourAchieved{Achieved: 49, Unit: "% duty", Target: 50}},
			"no recorded telemetry moved beyond noise: the contention was in CPU time, the resource the load takes (it achieved 49% duty)"},
		{SideIsolation{}, ""},
	} {
		if got := attribution(tc.si, interference.KindCPU); got != tc.want {
			t.Errorf("attribution = %q\nwant %q", got, tc.want)
		}
	}
}

// TestIsolationCPUTime: the measured process getting less CPU under a
// load is the resource that moved; getting more (the load ran inside it,
// as an embedded neighbour does) is not.
func TestIsolationCPUTime(t *testing.T) {
	for _, tc := range []struct {
		quiet, loaded float64
		want          string
	}{
		{190, 120, "CPU time moved: the measured agent's process got 190% CPU quiet, 120% under the load: the neighbour took CPU time from it"},
		{120, 190, "no recorded telemetry moved beyond noise: the contention was in CPU time"},
	} {
		runs := isolationRuns([]float64{1000, 1010, 990, 1005}, []float64{750, 770, 735, 760}, []float64{1000, 1010, 990, 1005}, []float64{750, 770, 735, 760}, 0.2)
		for i := range runs {
			runs[i].steal = 0.1
			runs[i].genCPU = tc.quiet
			if runs[i].load != "" {
				runs[i].genCPU = tc.loaded
			}
		}
		tree, m := buildIsolationTree(t, runs)
		c, err := Compare(tree, m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := c.Isolation.Scenarios[0].Loads[0].Baseline.Attribution
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("CPU %v%% quiet, %v%% loaded: attribution %q\nwant %q", tc.quiet, tc.loaded, got, tc.want)
		}
	}
}
