package results

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/montanaflynn/stats"

	"github.com/gpuperf/gpuperf/interference"
)

// Isolation is how each side kept its performance while a neighbour load
// ran beside it: per scenario, side and load, the isolation ratio (the
// metric under the load ÷ the same side's metric quiet) with its interval,
// and the candidate's retained performance quiet and under each load, side
// by side. Quiet and loaded runs were interleaved as the sides were, so a
// drift of the hosts falls on both.
type Isolation struct {
	// Loads are the plan's neighbour loads, as run.json lists them.
	Loads     []InterferenceLoad  `json:"loads"`
	Scenarios []ScenarioIsolation `json:"scenarios"`
	// Definition states how the ratios are computed.
	Definition string `json:"definition"`
}

// ScenarioIsolation is one benchmark and scenario under every load.
type ScenarioIsolation struct {
	Benchmark string `json:"benchmark"`
	Scenario  string `json:"scenario"`
	Metric    Metric `json:"metric"`
	// RetainedQuietPct and QuietInterval are the comparison's own retained
	// % (no neighbour load), repeated here beside the loaded ones.
	RetainedQuietPct *float64        `json:"retained_quiet_pct"`
	QuietInterval    *Interval       `json:"quiet_interval,omitempty"`
	Loads            []LoadIsolation `json:"loads"`
}

// LoadIsolation is one scenario under one load.
type LoadIsolation struct {
	Load      string        `json:"load"`
	Baseline  SideIsolation `json:"baseline"`
	Candidate SideIsolation `json:"candidate"`
	// RetainedPct is the candidate's retained % under this load:
	// candidate ÷ baseline with both loaded alike, computed as the quiet
	// retained % is; Interval is its interval.
	RetainedPct *float64  `json:"retained_pct"`
	Interval    *Interval `json:"interval,omitempty"`
	Pairing     string    `json:"pairing,omitempty"`
	Notes       []string  `json:"notes,omitempty"`
}

// SideIsolation is one side of one scenario under one load.
type SideIsolation struct {
	// QuietGeomean is the side's quiet geometric mean (the comparison's);
	// Loaded its runs under the load.
	QuietGeomean *float64   `json:"quiet_geomean,omitempty"`
	Loaded       SideValues `json:"loaded_runs"`
	// RatioPct is the isolation ratio: 100 × loaded ÷ quiet (geometric
	// means, of the repetitions' ratios when paired), latencies inverted
	// so that below 100% the load cost performance. Interval is its
	// Settings.Confidence interval; Verdict the equivalence test's on the
	// margin (equivalent: the load moved the metric by less than the
	// margin). Nil when a phase has no counted run.
	RatioPct *float64  `json:"ratio_pct"`
	Interval *Interval `json:"interval,omitempty"`
	Verdict  string    `json:"verdict"`
	Pairing  string    `json:"pairing,omitempty"`
	// Neighbour is what the load achieved during the side's runs, as the
	// neighbour's agent measured it (neighbour.json).
	Neighbour *NeighbourAchieved `json:"neighbour,omitempty"`
	// Moved are the resources that moved between the quiet and the loaded
	// runs beyond their noise, most telling first; Attribution names the
	// one that explains the ratio, in a sentence.
	Moved       []Movement `json:"moved,omitempty"`
	Attribution string     `json:"attribution,omitempty"`
	Notes       []string   `json:"notes,omitempty"`
}

// NeighbourAchieved summarises the neighbour's reports over a side's runs
// under one load.
type NeighbourAchieved struct {
	Description string `json:"description"`
	// Runs counts the runs with a report; Achieved is the mean of their
	// achieved rates, Low and High the extremes, in Unit; Target is the
	// rate asked for (0 when flat out).
	Runs     int     `json:"runs"`
	Achieved float64 `json:"achieved"`
	Low      float64 `json:"low"`
	High     float64 `json:"high"`
	Unit     string  `json:"unit"`
	Target   float64 `json:"target,omitempty"`
}

// Movement is one resource that moved between a side's quiet runs and its
// runs under a load.
type Movement struct {
	// Resource names it: CPU steal, CPU time, load generator timing, SM
	// clock, SM occupancy, GPU utilization, PCIe bandwidth, GPU time slice.
	Resource string   `json:"resource"`
	Metric   string   `json:"metric"`
	Quiet    *float64 `json:"quiet"`
	Loaded   *float64 `json:"loaded"`
	Unit     string   `json:"unit"`
	DeltaPct *float64 `json:"delta_pct"`
	Text     string   `json:"text"`
	score    float64
}

const isolationDefinition = "the isolation ratio is 100 × a side's metric under a neighbour load ÷ the same side's metric quiet: geometric means, " +
	"of the repetitions' ratios when quiet and loaded runs were interleaved (paired), latencies inverted so that below 100% the load cost performance; " +
	"its interval and verdict are computed as retained %'s are; retained under a load is candidate ÷ baseline, both under that load"

// isolate computes the isolation table from the sides' loaded runs; nil
// when the tree had no neighbour loads.
func isolate(base, cand *Source, c *Comparison) *Isolation {
	loads := cand.loads
	if len(loads) == 0 {
		loads = base.loads
	}
	names := loadNames(loads, base.loaded, cand.loaded)
	if len(names) == 0 {
		return nil
	}
	iso := &Isolation{Loads: loads, Definition: isolationDefinition}
	paired := base.interleaved && cand.interleaved && base.Side.Path == cand.Side.Path && base.Side.RunID == cand.Side.RunID
	kinds := map[string]string{}
	for _, l := range loads {
		kinds[l.Name] = l.Kind
	}
	for _, sc := range c.Scenarios {
		if sc.Metric.Name == "" {
			continue
		}
		k := scenarioKey{sc.Benchmark, sc.Scenario}
		si := ScenarioIsolation{Benchmark: sc.Benchmark, Scenario: sc.Scenario, Metric: sc.Metric,
			RetainedQuietPct: sc.RetainedPct, QuietInterval: sc.Interval}
		bq := countOn(runsOf(base.runs, k, ""), sc.Metric)
		cq := countOn(runsOf(cand.runs, k, ""), sc.Metric)
		for _, name := range names {
			bl := countOn(runsOf(base.loaded, k, name), sc.Metric)
			cl := countOn(runsOf(cand.loaded, k, name), sc.Metric)
			if len(bl) == 0 && len(cl) == 0 {
				continue
			}
			li := LoadIsolation{Load: name}
			li.Baseline = sideIsolation(c.cache, base.Side, sc, bq, bl, c.Settings, base.interleaved, kinds[name])
			li.Baseline.QuietGeomean = sc.Baseline.Geomean
			li.Candidate = sideIsolation(c.cache, cand.Side, sc, cq, cl, c.Settings, cand.interleaved, kinds[name])
			li.Candidate.QuietGeomean = sc.Candidate.Geomean
			li.RetainedPct, li.Interval, li.Pairing, li.Notes = ratioOf(bl, cl, sc.Metric, c.Settings, paired, "baseline", "candidate")
			si.Loads = append(si.Loads, li)
		}
		if len(si.Loads) > 0 {
			iso.Scenarios = append(iso.Scenarios, si)
		}
	}
	return iso
}

// loadNames lists the loads in the plan's order, then any phase the runs
// name that the list lacks.
func loadNames(loads []InterferenceLoad, runs ...[]runData) []string {
	var out []string
	for _, l := range loads {
		out = appendNew(out, l.Name)
	}
	for _, rs := range runs {
		for _, r := range rs {
			out = appendNew(out, r.Phase)
		}
	}
	return out
}

func runsOf(runs []runData, k scenarioKey, phase string) []runData {
	var out []runData
	for _, r := range runs {
		if r.Benchmark == k.Benchmark && r.Scenario == k.Scenario && r.Phase == phase {
			out = append(out, r)
		}
	}
	return out
}

// countOn puts runs on metric m (per GPU when the comparison divided) and
// marks the ones that count, by the comparison's rules.
func countOn(runs []runData, m Metric) []runData {
	runs = onMetric(runs, m.Name)
	for i := range runs {
		r := &runs[i]
		r.Rep.Value = r.Rep.RawValue
		if m.PerGPU && r.Rep.GPUs > 0 {
			r.Rep.Value = r.Rep.RawValue / float64(r.Rep.GPUs)
		}
		r.Rep.Counted = r.ok && r.Metric.Name == m.Name && r.Rep.Status == StatusOK && r.Rep.Excluded == "" && r.Rep.Valid &&
			r.Rep.LoadGenErrors == 0 && r.Rep.Value > 0 && !math.IsInf(r.Rep.Value, 0)
		if r.Rep.Counted || r.Rep.Excluded != "" {
			continue
		}
		switch {
		case !r.ok:
			r.Rep.Excluded = "no headline value"
		case r.Metric.Name != m.Name:
			r.Rep.Excluded = fmt.Sprintf("reports %s, not %s", r.Metric.Name, m.Name)
		case !r.Rep.Valid:
			r.Rep.Excluded = "INVALID"
		case r.Rep.LoadGenErrors > 0:
			r.Rep.Excluded = fmt.Sprintf("%d LoadGen error(s)", r.Rep.LoadGenErrors)
		default:
			r.Rep.Excluded = fmt.Sprintf("headline %g is not a positive number", r.Rep.Value)
		}
	}
	return runs
}

// ratioOf is 100 × to ÷ from with its interval, paired by repetition when
// the runs were interleaved and at least two pairs are complete.
func ratioOf(from, to []runData, m Metric, set Settings, paired bool, fromWord, toWord string) (*float64, *Interval, string, []string) {
	var notes []string
	var fv, tv []float64
	pairing := PairingUnpaired
	if paired {
		var dropped int
		fv, tv, _, dropped = pairUp(from, to, m.HigherIsBetter)
		if dropped > 0 {
			notes = append(notes, fmt.Sprintf("%d repetition(s) without a counted partner left out of the pairs", dropped))
		}
		if len(fv) >= 2 {
			pairing = PairingPaired
		}
	}
	if pairing == PairingUnpaired {
		fv, _ = hostLogs(from, m.HigherIsBetter)
		tv, _ = hostLogs(to, m.HigherIsBetter)
	}
	if len(fv) == 0 || len(tv) == 0 {
		word := fromWord
		if len(fv) > 0 {
			word = toWord
		}
		notes = append(notes, "no counted "+word+" run")
		return nil, nil, "", notes
	}
	est, err := estimateRetained(estimateInput{
		Base: fv, Cand: tv, Paired: pairing == PairingPaired, Method: set.IntervalMethod,
		Confidence: set.Confidence, EquivConf: set.EquivalenceConfidence, MarginPct: set.MarginPct,
		Resamples: set.BootstrapResamples, Seed: set.BootstrapSeed,
	})
	if err != nil {
		return nil, nil, "", append(notes, err.Error())
	}
	v := est.RetainedPct
	return &v, est.Interval, pairing, append(notes, est.Notes...)
}

// sideIsolation is one side's ratio, neighbour and attribution under one
// load.
func sideIsolation(cache runCache, side Side, sc ScenarioComparison, quiet, loaded []runData, set Settings, paired bool, kind string) SideIsolation {
	si := SideIsolation{Loaded: sideValues(loaded), Verdict: VerdictNone}
	var notes []string
	si.RatioPct, si.Interval, si.Pairing, notes = ratioOf(quiet, loaded, sc.Metric, set, paired, "quiet", "loaded")
	si.Notes = append(si.Notes, notes...)
	if si.Interval != nil {
		si.Verdict = verdict(si.Interval.LowPct, si.Interval.HighPct, set.MarginPct)
	} else if si.RatioPct != nil {
		si.Verdict = VerdictInconclusive
	}
	si.Neighbour = neighbourAchieved(side, loaded)
	name := sc.Benchmark + " " + sc.Scenario
	var qf, lf []runFile
	for _, r := range quiet {
		if rf, ok := readRunFile(cache, side, name, r.Rep); ok && r.Rep.Counted {
			qf = append(qf, rf)
		}
	}
	for _, r := range loaded {
		if rf, ok := readRunFile(cache, side, name, r.Rep); ok && r.Rep.Counted {
			lf = append(lf, rf)
		}
	}
	if len(qf) > 0 && len(lf) > 0 {
		si.Moved = movements(side, sc, qf, lf)
	}
	si.Attribution = attribution(si, kind)
	return si
}

// neighbourAchieved reads the neighbour's report of each finished run.
func neighbourAchieved(side Side, runs []runData) *NeighbourAchieved {
	var vals []float64
	var last interference.Report
	for _, r := range runs {
		if r.Rep.Status != StatusOK || r.Rep.Dir == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(side.Path, r.Rep.Dir, NeighbourFile))
		if err != nil {
			continue
		}
		var rep interference.Report
		if json.Unmarshal(b, &rep) != nil {
			continue
		}
		vals = append(vals, rep.Achieved)
		last = rep
	}
	if len(vals) == 0 {
		return nil
	}
	mean, _ := stats.Mean(vals)
	return &NeighbourAchieved{Description: last.Description, Runs: len(vals), Achieved: mean,
		Low: slices.Min(vals), High: slices.Max(vals), Unit: last.Unit, Target: last.Target}
}

// movement candidates: the observed metric, the resource it stands for,
// the floor below which a move is noise, and how a move scores.
type movementRule struct {
	metric, resource, unit string
	floor                  func(q, l agg) float64
	score                  func(q, l agg) float64
	text                   func(q, l agg) string
	// fallOnly: only a fall is contention (more CPU for the measured
	// process under a load means the load ran inside it, or the generator
	// worked harder).
	fallOnly bool
}

func relFloor(rel float64) func(q, l agg) float64 {
	return func(q, l agg) float64 { return rel * math.Max(math.Abs(q.mean), math.Abs(l.mean)) }
}

func ptsFloor(pts float64) func(q, l agg) float64 { return func(agg, agg) float64 { return pts } }

func relScore(q, l agg) float64 {
	if m := math.Max(math.Abs(q.mean), math.Abs(l.mean)); m > 0 {
		return math.Abs(l.mean-q.mean) / m
	}
	return 0
}

func ptsScore(q, l agg) float64 { return math.Abs(l.mean-q.mean) / 100 }

var movementRules = []movementRule{
	{metric: mSteal, resource: "CPU steal", unit: "%", floor: ptsFloor(floorStealPts), score: ptsScore,
		text: func(q, l agg) string {
			return fmt.Sprintf("CPU steal %s quiet, %s under the load (share of all CPU time): the hypervisor gave this side's vCPUs to the neighbour", num(q.mean, "%", 1), num(l.mean, "%", 1))
		}},
	{metric: mGenCPU, resource: "CPU time", unit: "%", floor: ptsFloor(5), score: ptsScore, fallOnly: true,
		text: func(q, l agg) string {
			return fmt.Sprintf("the measured agent's process got %s CPU quiet, %s under the load: the neighbour took CPU time from it", num(q.mean, "%", 0), num(l.mean, "%", 0))
		}},
	{metric: mIssueP99, resource: "load generator timing", unit: "ms", floor: ptsFloor(floorIssueMs), score: relScore,
		text: func(q, l agg) string {
			return fmt.Sprintf("the load generator's issue delay p99 was %s quiet, %s under the load: the neighbour delayed the generator", num(q.mean, "ms", 3), num(l.mean, "ms", 3))
		}},
	{metric: mSMClock, resource: "SM clock", unit: "MHz", floor: relFloor(floorClockRel), score: relScore,
		text: func(q, l agg) string {
			return fmt.Sprintf("SM clock %s quiet, %s under the load", num(q.mean, "MHz", 0), num(l.mean, "MHz", 0))
		}},
	{metric: mSMActive, resource: "SM occupancy", unit: "%", floor: ptsFloor(floorUtilPts), score: ptsScore,
		text: func(q, l agg) string {
			return fmt.Sprintf("SM active (GPM) %s quiet, %s under the load", num(q.mean, "%", 0), num(l.mean, "%", 0))
		}},
	{metric: mUtil, resource: "GPU utilization", unit: "%", floor: ptsFloor(floorUtilPts), score: ptsScore,
		text: func(q, l agg) string {
			return fmt.Sprintf("GPU utilization %s quiet, %s under the load", num(q.mean, "%", 0), num(l.mean, "%", 0))
		}},
	{metric: mPCIeGBps, resource: "PCIe bandwidth", unit: "GB/s", floor: relFloor(0.10), score: relScore,
		text: func(q, l agg) string {
			return fmt.Sprintf("PCIe traffic %s quiet, %s under the load", num(q.mean, "GB/s", 2), num(l.mean, "GB/s", 2))
		}},
}

// mNeighbourSM is the other vGPUs' SM share of the physical GPU, from the
// hypervisor's agent (vgpu_host.json).
const mNeighbourSM = "neighbour_sm_util_pct"

// movements compares a side's quiet runs with its loaded runs, metric by
// metric, keeping what moved beyond a floor and beyond the repetitions'
// spread (as the attribution does between sides), most telling first.
func movements(side Side, sc ScenarioComparison, quiet, loaded []runFile) []Movement {
	q, l := observe(quiet), observe(loaded)
	addShares(side, &q, quiet)
	addShares(side, &l, loaded)
	var out []Movement
	for _, rule := range movementRules {
		if rule.metric == mUtil && q.vals[mSMActive] != nil && l.vals[mSMActive] != nil {
			continue // SM active says it better where GPM gave it
		}
		if rule.metric == mIssueP99 && sc.Scenario == "Offline" {
			continue // Offline issues everything at once
		}
		p := both(q, l, rule.metric)
		if !p.ok() || !beyondNoise(p.b, p.c, rule.floor(p.b, p.c)) || (rule.fallOnly && p.c.mean > p.b.mean) {
			continue
		}
		m := p.finding("", "", rule.metric, rule.unit, "")
		out = append(out, Movement{Resource: rule.resource, Metric: rule.metric, Quiet: m.Baseline, Loaded: m.Candidate,
			Unit: rule.unit, DeltaPct: m.DeltaPct, Text: rule.text(p.b, p.c), score: rule.score(p.b, p.c)})
	}
	if p := both(q, l, mNeighbourSM); p.ok() && beyondNoise(p.b, p.c, floorNeighbourPts) {
		m := p.finding("", "", mNeighbourSM, "%", "")
		out = append(out, Movement{Resource: "GPU time slice", Metric: mNeighbourSM, Quiet: m.Baseline, Loaded: m.Candidate, Unit: "%", DeltaPct: m.DeltaPct,
			Text: fmt.Sprintf("other vGPUs used %s of the physical GPU's SM under the load, %s quiet (seen by the hypervisor's agent): the vGPU scheduler gave the neighbour time slices",
				num(p.c.mean, "%", 0), num(p.b.mean, "%", 0)),
			score: ptsScore(p.b, p.c)})
	}
	slices.SortStableFunc(out, func(a, b Movement) int { return cmp.Compare(b.score, a.score) })
	return out
}

// addShares adds the other vGPUs' SM share to o, run by run, where the
// hypervisor's agent watched.
func addShares(side Side, o *sideObs, runs []runFile) {
	own := map[string]bool{}
	for _, h := range side.Hosts {
		if fp, ok := hostFingerprint(h); ok {
			for _, d := range fp.GPUs {
				own[d.UUID] = true
			}
		}
	}
	for _, r := range runs {
		sum, ok := readVGPUHost(r)
		if !ok {
			continue
		}
		share, _, ok := neighbourShare(sum, own)
		if !ok && len(own) > 0 {
			share, _, ok = neighbourShare(sum, nil)
		}
		if ok {
			o.vals[mNeighbourSM] = append(o.vals[mNeighbourSM], share)
		}
	}
}

// loadResource is the resource each kind of load takes.
var loadResource = map[string]string{
	interference.KindCPU:             "CPU time",
	interference.KindMemoryBandwidth: "memory bandwidth",
	interference.KindNetwork:         "the network stack's CPU time and memory bandwidth",
	interference.KindDisk:            "storage I/O",
	interference.KindGPU:             "GPU time",
}

// attribution says in one sentence what explains a side's ratio: the
// resource that moved most, or, when nothing recorded moved beyond its
// noise, the resource the load itself takes; and whether the neighbour
// fell short of its target (the host could not give it what it asked).
func attribution(si SideIsolation, kind string) string {
	if si.RatioPct == nil {
		return ""
	}
	hurt := si.Interval != nil && si.Interval.HighPct < 100
	res := cmpOr(loadResource[kind], "the resource the load takes")
	var text string
	switch {
	case len(si.Moved) > 0 && hurt:
		top := si.Moved[0]
		text = fmt.Sprintf("%s moved: %s", top.Resource, top.Text)
	case len(si.Moved) > 0 && si.Verdict == VerdictEquivalent:
		top := si.Moved[0]
		text = fmt.Sprintf("%s moved (%s), but the metric held within the margin", top.Resource, top.Text)
	case len(si.Moved) > 0:
		top := si.Moved[0]
		text = fmt.Sprintf("%s moved (%s), but the ratio's interval is too wide to say what it cost", top.Resource, top.Text)
	case hurt:
		text = fmt.Sprintf("no recorded telemetry moved beyond noise: the contention was in %s, the resource the load takes", res)
		if n := si.Neighbour; n != nil {
			text += fmt.Sprintf(" (it achieved %s)", interference.WithUnit(n.Achieved, n.Unit))
		}
	case si.Verdict == VerdictEquivalent:
		text = fmt.Sprintf("nothing moved beyond noise: the load (%s) did not reach this side", res)
	default:
		text = fmt.Sprintf("nothing moved beyond noise, and the ratio's interval is too wide to say whether the load (%s) reached this side", res)
	}
	if n := si.Neighbour; n != nil && n.Target > 0 && n.Achieved < shortOfTarget*n.Target {
		text += fmt.Sprintf("; the neighbour reached only %.0f%% of its target (%s of %s): the host did not give it what it asked",
			100*n.Achieved/n.Target, interference.WithUnit(n.Achieved, n.Unit), interference.WithUnit(n.Target, n.Unit))
	}
	return text
}

// shortOfTarget is the share of its target below which a neighbour is
// said to have fallen short.
const shortOfTarget = 0.8
