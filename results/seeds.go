package results

import (
	"fmt"
	"slices"
	"strings"
)

// Interval kinds (ScenarioComparison.IntervalKind): what an interval's
// repetitions varied, and so what it covers.
const (
	// IntervalConfidence: repetition k ran seed set k on both sides
	// (LoadGen's sample set, sample order and Server schedule, and the
	// backends' own seeds, changed together from pair to pair), so the
	// interval covers the variation between schedules and seeds as well
	// as timing noise: a confidence interval of the ratio.
	IntervalConfidence = "confidence"
	// IntervalRepeatability: every repetition ran the same seeds (the
	// mlperf profile's official ones, a plan with seeds: fixed, or a
	// published result), so the interval covers run-to-run timing noise
	// only: how repeatable the number is with these seeds, not what
	// another schedule would give.
	IntervalRepeatability = "repeatability"
)

// intervalKind says what a scenario's counted repetitions varied: seed
// sets when their LoadGen seeds differ between repetitions, otherwise the
// runs repeated the same seeds. Runs that do not report seeds (published
// results) ran LoadGen's official ones.
func intervalKind(bRuns, cRuns []runData) string {
	var seen [][3]uint64
	for _, r := range append(slices.Clone(bRuns), cRuns...) {
		if r.Rep.Counted && r.HasSeeds && !slices.Contains(seen, r.Seeds) {
			seen = append(seen, r.Seeds)
		}
	}
	if len(seen) > 1 {
		return IntervalConfidence
	}
	return IntervalRepeatability
}

// seedsDiffer reports whether the two sides drew different seeds where
// they should have drawn the same: per repetition when both sides have
// it (a pair shares its seed set), else as the sets of seeds each side
// ran.
func seedsDiffer(bRuns, cRuns []runData) bool {
	byRep := func(runs []runData) map[int][3]uint64 {
		m := map[int][3]uint64{}
		for _, r := range runs {
			if r.Rep.Counted && r.HasSeeds {
				m[r.Rep.Repetition] = r.Seeds
			}
		}
		return m
	}
	b, c := byRep(bRuns), byRep(cRuns)
	common := false
	for rep, bs := range b {
		if cs, ok := c[rep]; ok {
			common = true
			if bs != cs {
				return true
			}
		}
	}
	if common {
		return false
	}
	bs, cs := seedsOf(bRuns), seedsOf(cRuns)
	if len(bs) == 0 || len(cs) == 0 {
		return false
	}
	sortSeeds(bs)
	sortSeeds(cs)
	return !slices.Equal(bs, cs)
}

func sortSeeds(s [][3]uint64) {
	slices.SortFunc(s, func(a, b [3]uint64) int {
		for i := range a {
			if a[i] != b[i] {
				if a[i] < b[i] {
					return -1
				}
				return 1
			}
		}
		return 0
	})
}

// intervalKindText states, for the definitions, which kind of interval
// the comparison's scenarios have.
func intervalKindText(scenarios []ScenarioComparison) string {
	kinds := map[string][]string{}
	var order []string
	for _, s := range scenarios {
		if s.IntervalKind == "" {
			continue
		}
		if _, ok := kinds[s.IntervalKind]; !ok {
			order = append(order, s.IntervalKind)
		}
		kinds[s.IntervalKind] = append(kinds[s.IntervalKind], s.Benchmark+" "+s.Scenario)
	}
	words := map[string]string{
		IntervalConfidence: "a confidence interval: repetition k ran seed set k on both sides (LoadGen's sample set, sample order and Server schedule, and the backends' own seeds, changed together from pair to pair), " +
			"so it covers the variation between schedules and seeds as well as timing noise",
		IntervalRepeatability: "a repeatability interval: every repetition ran the same seeds (MLPerf's official ones under the mlperf profile and in published results), " +
			"so it covers run-to-run timing noise only, not the variation another schedule or seed would show",
	}
	switch len(order) {
	case 0:
		return ""
	case 1:
		return "it is " + words[order[0]]
	}
	var parts []string
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("for %s %s", strings.Join(kinds[k], ", "), words[k]))
	}
	return "it is " + strings.Join(parts, "; ")
}
