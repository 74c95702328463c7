package results

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// What makes two sides comparable: one metric both report, and the
// conditions under which their ratio means something.

// chooseMetric finds the metric both sides' runs report. When the
// official metrics differ (MLPerf Server: Scheduled samples/s up to v4.0,
// Completed since v4.1), it falls back to one every run prints, with a
// note.
func chooseMetric(bRuns, cRuns []runData) (Metric, string, error) {
	bm, err := sideMetric(bRuns, "baseline")
	if err != nil {
		return Metric{}, "", err
	}
	cm, err := sideMetric(cRuns, "candidate")
	if err != nil {
		return Metric{}, "", err
	}
	if bm == nil || cm == nil {
		// A side without any headline compares nothing; keep the other's.
		m := cmp.Or(bm, cm)
		if m == nil {
			return Metric{}, "", nil
		}
		return *m, "", nil
	}
	if bm.Name == cm.Name {
		return *bm, "", nil
	}
	if fixedQPS(bRuns) != fixedQPS(cRuns) {
		return Metric{}, "", fmt.Errorf("one side ran Server at a fixed QPS and the other a peak search; a latency at one QPS and a peak throughput do not compare")
	}
	all := append(slices.Clone(bRuns), cRuns...)
	for _, name := range []string{"result_completed_samples_per_sec", cm.Name, bm.Name} {
		if m, ok := everyRunHas(all, name); ok {
			return m, fmt.Sprintf("the official metrics differ (baseline %s, candidate %s); compared on %s, which both report", bm.Name, cm.Name, name), nil
		}
	}
	return Metric{}, "", fmt.Errorf("the sides report different metrics (baseline %s, candidate %s) and no common one", bm.Name, cm.Name)
}

func sideMetric(runs []runData, side string) (*Metric, error) {
	var m *Metric
	for _, r := range runs {
		if !r.ok {
			continue
		}
		if m == nil {
			mm := r.Metric
			m = &mm
			continue
		}
		if r.Metric.Name != m.Name {
			return nil, fmt.Errorf("the %s's runs report different metrics (%s, %s)", side, m.Name, r.Metric.Name)
		}
	}
	return m, nil
}

func firstMetric(bRuns, cRuns []runData) Metric {
	for _, r := range append(slices.Clone(bRuns), cRuns...) {
		if r.ok {
			return r.Metric
		}
	}
	return Metric{}
}

func fixedQPS(runs []runData) bool {
	for _, r := range runs {
		if r.ok && r.FixedQPS {
			return true
		}
	}
	return false
}

func everyRunHas(runs []runData, name string) (Metric, bool) {
	var m Metric
	seen := false
	for _, r := range runs {
		if !r.ok {
			continue
		}
		switch {
		case r.Metric.Name == name:
			m = r.Metric
		case r.Alt != nil:
			a, ok := r.Alt[name]
			if !ok {
				return Metric{}, false
			}
			m = a.Metric
		default:
			return Metric{}, false
		}
		seen = true
	}
	return m, seen
}

// onMetric returns copies of runs with their headline set to metric name
// (from Alt when it is not the run's own).
func onMetric(runs []runData, name string) []runData {
	out := slices.Clone(runs)
	for i := range out {
		r := &out[i]
		if !r.ok || r.Metric.Name == name {
			continue
		}
		if a, ok := r.Alt[name]; ok {
			r.Metric = a.Metric
			r.Rep.RawValue = a.Value
			if a.File != "" {
				r.Rep.File, r.Rep.Line = a.File, a.Line
			}
		}
	}
	return out
}

// refusal says why two sides cannot be compared, or "".
func refusal(bRuns, cRuns []runData, metric Metric, set Settings) string {
	if b, c := tokenSources(bRuns), tokenSources(cRuns); b != "" && c != "" && b != c {
		return fmt.Sprintf("token counts came from different sources (baseline %s, candidate %s)", b, c)
	}
	if !metric.HigherIsBetter {
		if why := queryCountMismatch(bRuns, cRuns); why != "" {
			return why + ", so their latency estimates are not comparable"
		}
	}
	if fixedQPS(bRuns) {
		bt, ct := targets(bRuns), targets(cRuns)
		if len(bt) != 1 || len(ct) != 1 || bt[0] != ct[0] {
			return fmt.Sprintf("the fixed-QPS Server runs used different target QPS (baseline %v, candidate %v)", bt, ct)
		}
	}
	if bp, cp := peakStarts(bRuns), peakStarts(cRuns); len(bp) > 0 && len(cp) > 0 {
		if len(bp) != 1 || len(cp) != 1 || bp[0] != cp[0] {
			return fmt.Sprintf("the peak searches started at different QPS (baseline %v, candidate %v); both sides need the same search", bp, cp)
		}
		if seedsDiffer(bRuns, cRuns) {
			return "the peak searches used different seeds; both sides need the same search"
		}
	}
	return ""
}

// comparabilityNotes are findings that do not stop a comparison.
func comparabilityNotes(bRuns, cRuns []runData, set Settings) []string {
	var out []string
	if !(len(peakStarts(bRuns)) > 0 && len(peakStarts(cRuns)) > 0) {
		if seedsDiffer(bRuns, cRuns) {
			out = append(out, "the two sides ran with different seeds")
		}
	}
	for _, runs := range [][]runData{bRuns, cRuns} {
		for _, r := range runs {
			p := r.Rep.Peak
			if p == nil || !p.Confirmed || !(p.PeakQPS > 0) {
				continue
			}
			if pct := 100 * p.PrecisionQPS / p.PeakQPS; p.PrecisionQPS > 0 && pct > set.MarginPct/4 {
				out = appendNew(out, fmt.Sprintf("the peak search's precision (%.4g QPS, %.2g%% of the peak) is coarser than a quarter of the ±%g%% margin", p.PrecisionQPS, pct, set.MarginPct))
			}
		}
	}
	return out
}

func tokenSources(runs []runData) string {
	var s []string
	for _, r := range runs {
		if r.ok && r.TokenSource != "" {
			s = appendNew(s, r.TokenSource)
		}
	}
	return strings.Join(s, "+")
}

// queryCountMismatch says how the two sides' query counts differ, or "".
// A latency percentile's estimate depends on how many queries it is taken
// over, so the counts must match; but with seeds varied across
// repetitions, a Server schedule's count is the seed's, so runs are
// matched by their seed set when every counted run records one: the same
// seeds must have processed the same count on both sides, and seed sets
// only one side ran are not checked against each other.
func queryCountMismatch(bRuns, cRuns []runData) string {
	if bs, cs := queryCountsBySeeds(bRuns), queryCountsBySeeds(cRuns); bs != nil && cs != nil {
		// In run order, so the message names the first repetition.
		for _, r := range bRuns {
			bq, cq := bs[r.Seeds], cs[r.Seeds]
			if r.Rep.Counted && cq != nil && !slices.Equal(bq, cq) {
				return fmt.Sprintf("the two sides processed different query counts on the same seeds (repetition %d's: baseline %s, candidate %s)",
					r.Rep.Repetition, joinCounts(bq), joinCounts(cq))
			}
		}
		return ""
	}
	bq, cq := queryCounts(bRuns), queryCounts(cRuns)
	if len(bq) > 0 && len(cq) > 0 && (len(bq) != 1 || len(cq) != 1 || bq[0] != cq[0]) {
		return fmt.Sprintf("the two sides processed different query counts (baseline %s, candidate %s)", joinCounts(bq), joinCounts(cq))
	}
	return ""
}

// queryCountsBySeeds groups the counted runs' query counts by seed set;
// nil when a counted run has no count or no recorded seeds.
func queryCountsBySeeds(runs []runData) map[[3]uint64][]uint64 {
	m := map[[3]uint64][]uint64{}
	for _, r := range runs {
		if !r.Rep.Counted {
			continue
		}
		if r.Rep.Queries == 0 || !r.HasSeeds {
			return nil
		}
		if q := m[r.Seeds]; !slices.Contains(q, r.Rep.Queries) {
			m[r.Seeds] = append(q, r.Rep.Queries)
			slices.Sort(m[r.Seeds])
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func queryCounts(runs []runData) []uint64 {
	var q []uint64
	for _, r := range runs {
		if r.Rep.Counted && r.Rep.Queries > 0 && !slices.Contains(q, r.Rep.Queries) {
			q = append(q, r.Rep.Queries)
		}
	}
	slices.Sort(q)
	return q
}

func joinCounts(q []uint64) string {
	var s []string
	for _, n := range q {
		s = append(s, fmt.Sprint(n))
	}
	return strings.Join(s, ", ")
}

func targets(runs []runData) []float64 {
	var t []float64
	for _, r := range runs {
		if r.Rep.Counted && !slices.Contains(t, r.Rep.TargetQPS) {
			t = append(t, r.Rep.TargetQPS)
		}
	}
	return t
}

func peakStarts(runs []runData) []float64 {
	var t []float64
	for _, r := range runs {
		if r.Rep.Counted && r.Rep.Peak != nil && !slices.Contains(t, r.Rep.Peak.StartQPS) {
			t = append(t, r.Rep.Peak.StartQPS)
		}
	}
	return t
}

func seedsOf(runs []runData) [][3]uint64 {
	var s [][3]uint64
	for _, r := range runs {
		if r.Rep.Counted && r.HasSeeds && !slices.Contains(s, r.Seeds) {
			s = append(s, r.Seeds)
		}
	}
	return s
}
