package results

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/montanaflynn/stats"
)

// Default comparison settings.
const (
	DefaultConfidence            = 0.95
	DefaultEquivalenceConfidence = 0.90
	DefaultMarginPct             = 3.0
	DefaultMinRetainedPct        = 95.0
	DefaultBootstrapResamples    = 10000
	DefaultBootstrapSeed         = 1
)

// Options configure a comparison; zero values take the defaults above.
type Options struct {
	MarginPct       float64
	MinRetainedPct  float64
	MinRetainedFrom string // "flag", "plan" or "default"
	Gate            string // GateNone (default), GateRegression, GateQualify
	PerGPU          bool
	IntervalMethod  string // IntervalAuto (default), IntervalT, IntervalBootstrap
	Resamples       int
	Seed            uint64
	// Version is the comparing gpuperf's version; Now stamps CreatedAt.
	Version string
	Now     time.Time
}

func (o Options) settings() Settings {
	s := Settings{
		Confidence: DefaultConfidence, EquivalenceConfidence: DefaultEquivalenceConfidence,
		MarginPct: o.MarginPct, Power: DefaultPower, MinRetainedPct: o.MinRetainedPct, MinRetainedFrom: o.MinRetainedFrom,
		Gate: o.Gate, PerGPU: o.PerGPU, IntervalMethod: o.IntervalMethod,
		BootstrapResamples: o.Resamples, BootstrapSeed: o.Seed,
	}
	if !(s.MarginPct > 0) {
		s.MarginPct = DefaultMarginPct
	}
	if !(s.MinRetainedPct > 0) {
		s.MinRetainedPct, s.MinRetainedFrom = DefaultMinRetainedPct, "default"
	}
	if s.MinRetainedFrom == "" {
		s.MinRetainedFrom = "flag"
	}
	if s.Gate == "" {
		s.Gate = GateNone
	}
	if s.IntervalMethod == "" {
		s.IntervalMethod = IntervalAuto
	}
	if s.BootstrapResamples <= 0 {
		s.BootstrapResamples = DefaultBootstrapResamples
	}
	if s.BootstrapSeed == 0 {
		s.BootstrapSeed = DefaultBootstrapSeed
	}
	return s
}

// Validate checks the options a user can set.
func (o Options) Validate() error {
	var errs []error
	if o.MarginPct < 0 || o.MarginPct >= 100 || math.IsNaN(o.MarginPct) {
		errs = append(errs, fmt.Errorf("equivalence margin %g%%: must be between 0 and 100", o.MarginPct))
	}
	if o.MinRetainedPct < 0 || math.IsNaN(o.MinRetainedPct) || math.IsInf(o.MinRetainedPct, 0) {
		errs = append(errs, fmt.Errorf("min retained %g%%: must be a positive percentage", o.MinRetainedPct))
	}
	switch o.Gate {
	case "", GateNone, GateRegression, GateQualify:
	default:
		errs = append(errs, fmt.Errorf("gate %q: must be none, regression or qualify", o.Gate))
	}
	switch o.IntervalMethod {
	case "", IntervalAuto, IntervalT, IntervalBootstrap:
	default:
		errs = append(errs, fmt.Errorf("interval %q: must be auto, t or bootstrap", o.IntervalMethod))
	}
	return errors.Join(errs...)
}

// Compare compares the baseline and candidate of one gpuperf tree; their
// repetitions are paired when the plan interleaved them.
func Compare(t *Tree, m *Manifest, opts Options) (*Comparison, error) {
	return CompareContext(context.Background(), t, m, opts)
}

// CompareContext is Compare stopping with ctx's error once ctx is done.
func CompareContext(ctx context.Context, t *Tree, m *Manifest, opts Options) (*Comparison, error) {
	base, cand, err := TreeSourcesContext(ctx, t, m)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return CompareSources(base, cand, opts)
}

// scenarioOrder sorts scenarios as LoadGen lists them.
var scenarioOrder = map[string]int{"Offline": 0, "Server": 1, "SingleStream": 2, "MultiStream": 3}

type scenarioKey struct{ Benchmark, Scenario string }

// CompareSources compares two sides benchmark by benchmark and scenario by
// scenario. Pairs present on only one side are listed as Unmatched; no
// pair in common is an *InputError.
func CompareSources(base, cand *Source, opts Options) (*Comparison, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now().UTC()
	}
	c := &Comparison{
		Schema: ComparisonSchema, Version: opts.Version, CreatedAt: now,
		Baseline: base.Side, Candidate: cand.Side, Settings: opts.settings(),
	}
	c.Definitions = definitions(c.Settings)
	bBy, bKeys := groupRuns(base.runs)
	cBy, cKeys := groupRuns(cand.runs)
	if len(bKeys) == 0 {
		return nil, inputErrorf(base.Side.Path, 0, "no runs")
	}
	if len(cKeys) == 0 {
		return nil, inputErrorf(cand.Side.Path, 0, "no runs")
	}
	var keys []scenarioKey
	for _, k := range bKeys {
		if _, ok := cBy[k]; ok {
			keys = append(keys, k)
		} else {
			c.Unmatched = append(c.Unmatched, Unmatched{Benchmark: k.Benchmark, Scenario: k.Scenario, Side: RoleBaseline})
		}
	}
	for _, k := range cKeys {
		if _, ok := bBy[k]; !ok {
			c.Unmatched = append(c.Unmatched, Unmatched{Benchmark: k.Benchmark, Scenario: k.Scenario, Side: RoleCandidate})
		}
	}
	if len(keys) == 0 {
		return nil, &InputError{File: cand.Side.Path, Err: fmt.Errorf("no benchmark and scenario in common with %s: the baseline has %s, the candidate %s",
			base.Side.Path, keyList(bKeys), keyList(cKeys))}
	}
	slices.SortStableFunc(keys, func(a, b scenarioKey) int {
		return cmp.Or(strings.Compare(a.Benchmark, b.Benchmark), cmp.Compare(scenarioOrder[a.Scenario], scenarioOrder[b.Scenario]))
	})
	paired := base.interleaved && cand.interleaved && base.Side.Path == cand.Side.Path && base.Side.RunID == cand.Side.RunID
	var labels []string
	if b, k := base.Side.Submitter, cand.Side.Submitter; b != "" && k != "" && b != k {
		labels = append(labels, LabelCrossSubmitter)
	}
	if b, k := base.Side.Round, cand.Side.Round; b != "" && k != "" && b != k {
		labels = append(labels, LabelCrossRound)
	}
	if c.Settings.PerGPU {
		for _, h := range append(slices.Clone(base.Side.Hosts), cand.Side.Hosts...) {
			if strings.Contains(h.GPUsFrom, "assumed 1") {
				c.Notes = append(c.Notes, fmt.Sprintf("--per-gpu: %s's GPU count is unknown (%s)", h.Name, h.GPUsFrom))
			}
		}
	}
	if base.Side.StoredBaseline != "" {
		c.Notes = append(c.Notes, "the baseline is a stored tree ("+base.Side.StoredBaseline+"): compared unpaired")
	}
	for _, k := range keys {
		var seq *SequentialRecord
		if paired {
			seq = base.sequential[k.Scenario]
		}
		sc, err := compareScenario(k, bBy[k], cBy[k], paired, c.Settings, seq)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", k.Benchmark, k.Scenario, err)
		}
		sc.Labels = appendNew(sc.Labels, labels...)
		c.Scenarios = append(c.Scenarios, sc)
	}
	c.cache = runCache{}
	for _, src := range []*Source{base, cand} {
		for _, r := range append(slices.Clone(src.runs), src.loaded...) {
			if r.file != nil {
				c.cache[cacheKey(src.Side.Path, r.Rep.Dir)] = r.file
			}
		}
	}
	assessGenerator(c)
	if t := intervalKindText(c.Scenarios); t != "" {
		c.Definitions.Interval += "; " + t
	}
	c.Isolation = isolate(base, cand, c)
	c.Fairness = CheckFairness(c)
	c.Findings = Attribute(c)
	SummarizeServers(c)
	c.ApplyGate(Failures{})
	return c, nil
}

func groupRuns(runs []runData) (map[scenarioKey][]runData, []scenarioKey) {
	by := map[scenarioKey][]runData{}
	var keys []scenarioKey
	for _, r := range runs {
		k := scenarioKey{r.Benchmark, r.Scenario}
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		by[k] = append(by[k], r)
	}
	return by, keys
}

func keyList(keys []scenarioKey) string {
	var s []string
	for _, k := range keys {
		s = append(s, k.Benchmark+" "+k.Scenario)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}

// compareScenario builds one scenario's comparison.
func compareScenario(k scenarioKey, bRuns, cRuns []runData, paired bool, set Settings, seq *SequentialRecord) (ScenarioComparison, error) {
	sc := ScenarioComparison{Benchmark: k.Benchmark, Scenario: k.Scenario, Pairing: PairingUnpaired, Verdict: VerdictNone}
	if paired {
		sc.Pairing = PairingPaired
	}
	refuse := func(format string, args ...any) (ScenarioComparison, error) {
		sc.Status, sc.Refusal = StatusRefused, fmt.Sprintf(format, args...)
		sc.Baseline, sc.Candidate = sideValues(bRuns), sideValues(cRuns)
		return sc, nil
	}

	metric, note, err := chooseMetric(bRuns, cRuns)
	if err != nil {
		sc.Metric = firstMetric(bRuns, cRuns)
		return refuse("%v", err)
	}
	sc.Metric = metric
	if metric.Name == "" {
		// No run on either side has a headline: nothing to compare.
		sc.Status = StatusNoData
		sc.Baseline, sc.Candidate = sideValues(bRuns), sideValues(cRuns)
		sc.Notes = append(sc.Notes, noDataReason(sc, bRuns, cRuns))
		return sc, nil
	}
	if note != "" {
		sc.Notes = append(sc.Notes, note)
	}
	for _, r := range append(slices.Clone(bRuns), cRuns...) {
		if r.ok {
			sc.Labels = appendNew(sc.Labels, r.Labels...)
		}
	}
	if !metric.HigherIsBetter {
		sc.Labels = appendNew(sc.Labels, LabelLatencyInverted)
	}
	// Move every run's headline onto the chosen metric.
	bRuns, cRuns = onMetric(bRuns, metric.Name), onMetric(cRuns, metric.Name)
	perGPU := set.PerGPU && metric.HigherIsBetter
	if set.PerGPU && !metric.HigherIsBetter {
		sc.Notes = append(sc.Notes, "--per-gpu leaves latencies as they are: a latency is not divided among GPUs")
	}
	if perGPU {
		sc.Metric.PerGPU = true
		sc.Metric.Label += " per GPU"
		sc.Labels = appendNew(sc.Labels, LabelPerGPU)
	}
	for _, runs := range [][]runData{bRuns, cRuns} {
		for i := range runs {
			r := &runs[i]
			r.Rep.Value = r.Rep.RawValue
			if perGPU && r.Rep.GPUs > 0 {
				r.Rep.Value = r.Rep.RawValue / float64(r.Rep.GPUs)
			}
			r.Rep.Counted = r.ok && r.Rep.Status == StatusOK && r.Rep.Excluded == "" && r.Rep.Valid &&
				r.Rep.LoadGenErrors == 0 && r.Rep.Value > 0 && !math.IsInf(r.Rep.Value, 0)
			if !r.Rep.Counted && r.Rep.Excluded == "" {
				switch {
				case !r.Rep.Valid:
					r.Rep.Excluded = "INVALID"
				case r.Rep.LoadGenErrors > 0:
					r.Rep.Excluded = fmt.Sprintf("%d LoadGen error(s)", r.Rep.LoadGenErrors)
				case !r.ok:
					r.Rep.Excluded = "no headline value"
				default:
					r.Rep.Excluded = fmt.Sprintf("headline %g is not a positive number", r.Rep.Value)
				}
			}
		}
	}
	sc.Baseline, sc.Candidate = sideValues(bRuns), sideValues(cRuns)

	// A void baseline voids the scenario, whatever the candidate did.
	for _, r := range bRuns {
		if r.Rep.Status != StatusOK {
			continue
		}
		if v := voidReason(r); v != "" {
			sc.Status, sc.Void = StatusVoid, v
			return sc, nil
		}
	}
	if reason := refusal(bRuns, cRuns, metric, set); reason != "" {
		return refuse("%s", reason)
	}
	sc.Notes = append(sc.Notes, comparabilityNotes(bRuns, cRuns, set)...)

	var bv, cv []float64
	var pairReps []int
	var dropped int
	if paired {
		bv, cv, pairReps, dropped = pairUp(bRuns, cRuns, metric.HigherIsBetter)
		if dropped > 0 {
			sc.Notes = append(sc.Notes, fmt.Sprintf("%d repetition(s) without a counted partner left out of the pairs", dropped))
		}
		if len(bv) < 2 && (sc.Baseline.Counted >= 2 || sc.Candidate.Counted >= 2) {
			sc.Notes = append(sc.Notes, "fewer than two complete pairs: compared unpaired")
			paired = false
			sc.Pairing = PairingUnpaired
		}
	}
	if !paired {
		var bHosts, cHosts int
		bv, bHosts = hostLogs(bRuns, metric.HigherIsBetter)
		cv, cHosts = hostLogs(cRuns, metric.HigherIsBetter)
		for _, side := range []struct {
			role  string
			hosts int
		}{{RoleBaseline, bHosts}, {RoleCandidate, cHosts}} {
			if side.hosts > 1 {
				sc.Notes = append(sc.Notes, fmt.Sprintf("%s: %d hosts, each host's repetitions averaged (geometric mean): hosts, not runs, are the unit of analysis", side.role, side.hosts))
			}
		}
	}
	if len(bv) == 0 || len(cv) == 0 {
		switch {
		case len(bv) > 0 && sc.Candidate.Invalid > 0:
			sc.Status = StatusCandidateInvalid
			sc.Notes = append(sc.Notes, "no counted candidate run: the candidate is INVALID where the baseline is VALID")
		default:
			sc.Status = StatusNoData
			sc.Notes = append(sc.Notes, noDataReason(sc, bRuns, cRuns))
		}
		return sc, nil
	}
	in := estimateInput{
		Base: bv, Cand: cv, Paired: paired, Method: set.IntervalMethod,
		Confidence: set.Confidence, EquivConf: set.EquivalenceConfidence, MarginPct: set.MarginPct,
		Resamples: set.BootstrapResamples, Seed: set.BootstrapSeed, Power: set.Power,
	}
	if seq != nil && paired && len(bv) >= 2 {
		si := &SequentialInfo{MaxPairs: seq.MaxPairs, Spending: seq.Spending, Stopped: seq.Stopped, Pairs: sequentialPairs(seq.Looks, pairReps)}
		in.SeqCrit, in.SeqEquivCrit, si.NominalConfidence, si.NominalEquivalenceConfidence = sequentialLevels(si.Pairs, seq.MaxPairs, set.Confidence, set.EquivalenceConfidence)
		sc.Sequential = si
		sc.Notes = append(sc.Notes, sequentialNote(si))
		if seq.MarginPct > 0 && seq.MarginPct != set.MarginPct {
			sc.Notes = append(sc.Notes, fmt.Sprintf("the sequential design stopped on a ±%g%% margin; this comparison judges ±%g%%", seq.MarginPct, set.MarginPct))
		}
	}
	est, err := estimateRetained(in)
	if err != nil {
		return sc, err
	}
	sc.RetainedPct = &est.RetainedPct
	sc.Interval, sc.EquivalenceInterval = est.Interval, est.Equiv
	sc.RepsNeeded = est.RepsNeeded
	sc.Verdict = est.Verdict
	sc.Notes = append(sc.Notes, est.Notes...)
	sc.Status = StatusCompared
	if sc.Interval == nil {
		sc.Status = StatusPoint
	} else {
		sc.IntervalKind = intervalKind(bRuns, cRuns)
		if sc.IntervalKind == IntervalRepeatability {
			sc.Notes = append(sc.Notes, "repeatability interval: every repetition ran the same seeds, so it shows run-to-run timing noise only, not what another schedule or seed would give")
		}
	}
	if n := sc.Candidate.Invalid; n > 0 {
		sc.Notes = append(sc.Notes, fmt.Sprintf("%d candidate run(s) INVALID and left out", n))
	}
	return sc, nil
}

// voidReason says why a baseline run voids its scenario, or "".
func voidReason(r runData) string {
	rep := r.Rep
	switch {
	case !rep.Valid:
		return fmt.Sprintf("baseline run %d (%s) is INVALID", rep.Repetition, runName(rep))
	case rep.LoadGenErrors > 0:
		return fmt.Sprintf("baseline run %d (%s) logged %d LoadGen error(s)", rep.Repetition, runName(rep), rep.LoadGenErrors)
	case rep.Peak != nil && !rep.Peak.Confirmed:
		return fmt.Sprintf("baseline run %d (%s): peak search not confirmed, and probes never count", rep.Repetition, runName(rep))
	}
	return ""
}

func runName(r Repetition) string {
	if r.File != "" {
		return r.File
	}
	if r.Dir != "" {
		return r.Dir
	}
	return r.Host
}

func noDataReason(sc ScenarioComparison, bRuns, cRuns []runData) string {
	for _, side := range []struct {
		name string
		runs []runData
		n    int
	}{{"baseline", bRuns, sc.Baseline.Counted}, {"candidate", cRuns, sc.Candidate.Counted}} {
		if side.n > 0 {
			continue
		}
		var why []string
		for _, r := range side.runs {
			why = appendNew(why, r.Rep.Excluded)
		}
		return fmt.Sprintf("no counted %s run (%s)", side.name, strings.Join(why, "; "))
	}
	return "no complete pair"
}

// orient maps a value to a higher-is-better log.
func orient(v float64, higher bool) float64 {
	if higher {
		return math.Log(v)
	}
	return -math.Log(v)
}

func logsOf(runs []runData, higher bool) []float64 {
	var out []float64
	for _, r := range runs {
		if r.Rep.Counted {
			out = append(out, orient(r.Rep.Value, higher))
		}
	}
	return out
}

// hostLogs is logsOf with hosts as the unit of analysis: when a side's
// counted runs come from several hosts, each host contributes the mean of
// its runs' logs (its geometric mean), so the interval reflects the spread
// between machines rather than counting one machine's repetitions as
// independent evidence about the host type. hosts is how many hosts
// contributed.
func hostLogs(runs []runData, higher bool) (vals []float64, hosts int) {
	sums := map[string]float64{}
	counts := map[string]int{}
	var order []string
	for _, r := range runs {
		if !r.Rep.Counted {
			continue
		}
		if counts[r.Rep.Host] == 0 {
			order = append(order, r.Rep.Host)
		}
		sums[r.Rep.Host] += orient(r.Rep.Value, higher)
		counts[r.Rep.Host]++
	}
	if len(order) <= 1 {
		return logsOf(runs, higher), len(order)
	}
	for _, h := range order {
		vals = append(vals, sums[h]/float64(counts[h]))
	}
	return vals, len(order)
}

// pairUp matches counted runs by repetition number; reps are the pairs'
// repetitions (1-based) and dropped counts the counted runs left without a
// partner.
func pairUp(bRuns, cRuns []runData, higher bool) (bv, cv []float64, reps []int, dropped int) {
	cBy := map[int]runData{}
	for _, r := range cRuns {
		if r.Rep.Counted {
			cBy[r.Rep.Repetition] = r
		}
	}
	used := map[int]bool{}
	for _, b := range bRuns {
		if !b.Rep.Counted {
			continue
		}
		c, ok := cBy[b.Rep.Repetition]
		if !ok || used[b.Rep.Repetition] {
			dropped++
			continue
		}
		used[b.Rep.Repetition] = true
		bv = append(bv, orient(b.Rep.Value, higher))
		cv = append(cv, orient(c.Rep.Value, higher))
		reps = append(reps, b.Rep.Repetition)
	}
	dropped += len(cBy) - len(used)
	return bv, cv, reps, dropped
}

func sideValues(runs []runData) SideValues {
	var sv SideValues
	var vals []float64
	for _, r := range runs {
		rep := r.Rep
		sv.Runs = append(sv.Runs, rep)
		switch {
		case rep.Status != StatusOK:
			sv.Failed++
		case rep.invalid():
			sv.Invalid++
		default:
			sv.Valid++
		}
		if rep.Counted {
			sv.Counted++
			vals = append(vals, rep.Value)
		}
	}
	if len(vals) > 0 {
		if g, err := stats.GeometricMean(vals); err == nil {
			sv.Geomean = &g
		}
	}
	if len(vals) > 1 {
		logs := make([]float64, len(vals))
		for i, v := range vals {
			logs[i] = math.Log(v)
		}
		if sd, err := sampleSD(logs); err == nil {
			pct := 100 * sd
			sv.SpreadPct = &pct
		}
	}
	return sv
}
