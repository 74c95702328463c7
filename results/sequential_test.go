package results

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
)

// The Lan–DeMets O'Brien–Fleming-type boundaries of the published tables
// (Jennison and Turnbull, and R's ldbounds): two-sided α = 0.05, five
// equally spaced looks, and two.
func TestSequentialBounds(t *testing.T) {
	for _, tc := range []struct {
		ts   []float64
		want []float64
	}{
		{[]float64{0.2, 0.4, 0.6, 0.8, 1}, []float64{4.8769, 3.3569, 2.6803, 2.2898, 2.0310}},
		{[]float64{0.5, 1}, []float64{2.9626, 1.9686}},
	} {
		got := sequentialBounds(0.05, tc.ts)
		for i := range got {
			near(t, "boundary", got[i], tc.want[i], 2e-4)
		}
	}
	// One look at the whole information is the fixed-sample test.
	near(t, "single look", sequentialBounds(0.05, []float64{1})[0], 1.959964, 1e-5)
}

// The t boundaries, simulated, converge to the normal ones as the pairs
// grow; with few pairs they are wider, the spread's uncertainty added.
func TestSequentialTBounds(t *testing.T) {
	// At 100 pairs t(99) is within 1% of the normal: the published 2.0310
	// of five equally spaced looks, give or take that and the simulation's
	// error.
	pairs := []int{20, 40, 60, 80, 100}
	c, _, _, _ := sequentialLevels(pairs, 100, 0.95, 0.90)
	near(t, "last look, 100 pairs", c, 2.0310*1.01, 0.04)
	few, _, _, _ := sequentialLevels([]int{4, 6, 8}, 8, 0.95, 0.90)
	z := sequentialBounds(0.05, []float64{0.5, 0.75, 1})
	if !(few > z[2]*1.2) {
		t.Errorf("3 looks of 8 pairs: t boundary %.3f, normal %.3f; want it wider", few, z[2])
	}
}

func TestSequentialPairs(t *testing.T) {
	for _, tc := range []struct {
		looks, reps, want []int
	}{
		{[]int{4, 6, 8}, []int{1, 2, 3, 4, 5, 6, 7, 8}, []int{4, 6, 8}},
		// Pair 2 failed: the looks saw 3, 5 and 7 complete pairs.
		{[]int{4, 6, 8}, []int{1, 3, 4, 5, 6, 7, 8}, []int{3, 5, 7}},
		// A re-comparison with more pairs than the last look adds one.
		{[]int{4}, []int{1, 2, 3, 4, 5, 6}, []int{4, 6}},
	} {
		if got := sequentialPairs(tc.looks, tc.reps); !slices.Equal(got, tc.want) {
			t.Errorf("sequentialPairs(%v, %v) = %v; want %v", tc.looks, tc.reps, got, tc.want)
		}
	}
}

// A tree with a sequential record: the interval is the repeated
// confidence interval at the last look's nominal level, wider than the
// fixed-sample one on the same pairs, labelled with the family's 95%.
func TestCompareSequential(t *testing.T) {
	tree, m := buildTree(t, "interleaved", nil, abba(inference.Offline, pairBase, pairCand, nil))
	fixed, err := Compare(tree, m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.Sequential = map[string]*SequentialRecord{"Offline": {MaxPairs: 20, Looks: []int{4}, Spending: SequentialSpending, MarginPct: 3, Stopped: "decided lower after 4 pairs"}}
	c, err := Compare(tree, m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, s := only(t, fixed), only(t, c)
	if s.Sequential == nil || s.Interval.Method != MethodRepeatedT || s.Interval.Confidence != 0.95 || s.EquivalenceInterval.Confidence != 0.90 {
		t.Fatalf("sequential %+v, interval %+v", s.Sequential, s.Interval)
	}
	// One look at t = 4/20 spends 2·(2 − 2Φ(z(0.9875)/√0.2)), 2e-6, of 0.05.
	if s.Sequential.NominalConfidence < 0.9999 || math.Abs(*s.RetainedPct-*f.RetainedPct) > 1e-12 ||
		!(s.Interval.LowPct < f.Interval.LowPct && s.Interval.HighPct > f.Interval.HighPct) {
		t.Errorf("nominal %v; repeated [%v, %v] vs fixed [%v, %v]", s.Sequential.NominalConfidence, s.Interval.LowPct, s.Interval.HighPct, f.Interval.LowPct, f.Interval.HighPct)
	}
	if !slices.ContainsFunc(s.Notes, func(n string) bool {
		return strings.HasPrefix(n, "sequential (repetitions: auto): 1 look(s) at 4 pairs of at most 20")
	}) {
		t.Errorf("notes %q", s.Notes)
	}
}
