// Package changepoint finds the runs after which a performance series
// changed level: E-divisive means (Matteson and James, 2014, with the
// distance exponent 1, the method MongoDB's CI and DataStax's Hunter use)
// with a permutation test for each candidate change point.
//
// E-divisive works hierarchically. It splits the series where the energy
// distance between the part before and the part after is largest, then
// asks whether a split that large is plausible by chance: it shuffles the
// values within each current segment many times and counts how often the
// shuffled series gives a split at least as large. A split that chance
// rarely matches (p below the significance level) is a change point, and
// the search repeats on every segment until the best remaining split is
// not significant. It assumes nothing about the distribution of the noise.
package changepoint

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Options tune the detection. The zero value takes the defaults.
type Options struct {
	// Alpha is the significance level of each permutation test (default
	// 0.05).
	Alpha float64
	// Permutations is how many shuffles each test draws (default 199, so
	// the smallest p-value is 0.005).
	Permutations int
	// MinSize is the fewest points a segment may have (default 3).
	MinSize int
	// Seed makes the shuffles, and so the p-values, reproducible
	// (default 1).
	Seed uint64
}

// Defaults.
const (
	DefaultAlpha        = 0.05
	DefaultPermutations = 199
	DefaultMinSize      = 3
)

func (o Options) withDefaults() Options {
	if o.Alpha == 0 {
		o.Alpha = DefaultAlpha
	}
	if o.Permutations == 0 {
		o.Permutations = DefaultPermutations
	}
	if o.MinSize == 0 {
		o.MinSize = DefaultMinSize
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Validate reports options no detection can run with.
func (o Options) Validate() error {
	o = o.withDefaults()
	switch {
	case !(o.Alpha > 0 && o.Alpha < 1):
		return fmt.Errorf("significance level must be between 0 and 1, got %v", o.Alpha)
	case o.Permutations < 19:
		return fmt.Errorf("permutations must be at least 19 (p-values below 0.05 need them), got %d", o.Permutations)
	case o.MinSize < 2:
		return fmt.Errorf("minimum segment size must be at least 2, got %d", o.MinSize)
	}
	return nil
}

// ChangePoint is a significant change of level.
type ChangePoint struct {
	// Index is the position of the first point after the change.
	Index int `json:"index"`
	// Statistic is the energy statistic Q̂ of the split when it was found;
	// PValue its permutation p-value.
	Statistic float64 `json:"statistic"`
	PValue    float64 `json:"p_value"`
	// Before and After are the means of the segments on either side, as
	// the final segmentation leaves them.
	Before float64 `json:"mean_before"`
	After  float64 `json:"mean_after"`
}

// Segment is a run of points between change points: [Start, End).
type Segment struct {
	Start int     `json:"start"`
	End   int     `json:"end"`
	Mean  float64 `json:"mean"`
	// StdDev is the sample standard deviation (0 for one point).
	StdDev float64 `json:"stddev"`
}

// Result is a series' segmentation.
type Result struct {
	ChangePoints []ChangePoint `json:"change_points"`
	Segments     []Segment     `json:"segments"`
}

// ErrNaN is returned for a series holding NaN or an infinity.
var ErrNaN = errors.New("series holds NaN or an infinity")

// Detect segments x. A series shorter than two segments of MinSize has no
// change point and one segment.
func Detect(x []float64, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	o = o.withDefaults()
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Result{}, ErrNaN
		}
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15))
	d := &detector{x: x, o: o, rng: rng, work: make([]float64, len(x))}
	bounds := []int{0, len(x)}
	type found struct {
		index   int
		stat, p float64
	}
	var cps []found
	for {
		best, bestStat := -1, 0.0
		for i := 0; i+1 < len(bounds); i++ {
			tau, q := d.bestSplit(x[bounds[i]:bounds[i+1]])
			if tau > 0 && q > bestStat {
				best, bestStat = bounds[i]+tau, q
			}
		}
		if best < 0 {
			break
		}
		p := d.permutationP(bounds, bestStat)
		if p > o.Alpha {
			break
		}
		cps = append(cps, found{index: best, stat: bestStat, p: p})
		bounds = append(bounds, best)
		slices.Sort(bounds)
	}
	slices.SortFunc(cps, func(a, b found) int { return a.index - b.index })
	var r Result
	for i := 0; i+1 < len(bounds); i++ {
		r.Segments = append(r.Segments, segmentOf(x, bounds[i], bounds[i+1]))
	}
	for i, c := range cps {
		r.ChangePoints = append(r.ChangePoints, ChangePoint{
			Index: c.index, Statistic: c.stat, PValue: c.p,
			Before: r.Segments[i].Mean, After: r.Segments[i+1].Mean,
		})
	}
	return r, nil
}

func segmentOf(x []float64, start, end int) Segment {
	s := Segment{Start: start, End: end}
	n := end - start
	if n == 0 {
		return s
	}
	var sum float64
	for _, v := range x[start:end] {
		sum += v
	}
	s.Mean = sum / float64(n)
	if n > 1 {
		var ss float64
		for _, v := range x[start:end] {
			ss += (v - s.Mean) * (v - s.Mean)
		}
		s.StdDev = math.Sqrt(ss / float64(n-1))
	}
	return s
}

type detector struct {
	x    []float64
	o    Options
	rng  *rand.Rand
	work []float64
	// left is bestSplit's scratch space.
	left []float64
}

// bestSplit returns the split τ of z (the first index of the right part)
// that maximises Q̂, and Q̂; τ is 0 when z cannot be split into two parts
// of MinSize.
//
// With X = z[:τ], Y = z[τ:], m = len(z), and distances |a−b|:
//
//	Ê = 2/(τ(m−τ)) Σ|x−y| − Σ_{i<k}|xi−xk| / C(τ,2) − Σ_{i<k}|yi−yk| / C(m−τ,2)
//	Q̂ = τ(m−τ)/m · Ê
//
// Every sum follows from the within-prefix sums W(τ) = Σ_{i<k<τ}|zi−zk|
// and within-suffix sums, built in O(m²) from the rows of the distance
// matrix, so a split search costs O(m²) and allocates nothing after the
// first call.
func (d *detector) bestSplit(z []float64) (int, float64) {
	m := len(z)
	ms := d.o.MinSize
	if m < 2*ms {
		return 0, 0
	}
	if cap(d.left) < m+1 {
		d.left = make([]float64, m+1)
	}
	// left[t] = Σ_{i<k<t} |zi−zk|, one distance-matrix row at a time.
	left := d.left[:m+1]
	left[0] = 0
	for k := 0; k < m; k++ {
		var s float64
		zk := z[k]
		for _, zi := range z[:k] {
			s += math.Abs(zi - zk)
		}
		left[k+1] = left[k] + s
	}
	total := left[m]
	// right = Σ_{t≤i<k<m} |zi−zk|, swept down from t = m the same way.
	best, bestQ := 0, math.Inf(-1)
	var right float64
	for t := m - 1; t >= ms; t-- {
		var s float64
		zt := z[t]
		for _, zk := range z[t+1:] {
			s += math.Abs(zt - zk)
		}
		right += s
		if m-t < ms {
			continue
		}
		l, r := float64(t), float64(m-t)
		cross := total - left[t] - right
		e := 2*cross/(l*r) - left[t]/(l*(l-1)/2) - right/(r*(r-1)/2)
		q := l * r / float64(m) * e
		if q > bestQ {
			best, bestQ = t, q
		}
	}
	if best == 0 {
		return 0, 0
	}
	return best, bestQ
}

// permutationP is the permutation p-value of observed, the largest split
// statistic over the segments between bounds: the share of shuffles
// (values permuted within each segment) whose largest split statistic is
// at least as large, counting the observed series as one of them.
func (d *detector) permutationP(bounds []int, observed float64) float64 {
	n := d.o.Permutations
	// Stop early once p cannot fall below alpha any more.
	limit := int(math.Ceil(d.o.Alpha*float64(n+1))) - 1
	exceed := 0
	for r := 0; r < n; r++ {
		copy(d.work, d.x)
		var maxQ float64
		for i := 0; i+1 < len(bounds); i++ {
			seg := d.work[bounds[i]:bounds[i+1]]
			d.rng.Shuffle(len(seg), func(a, b int) { seg[a], seg[b] = seg[b], seg[a] })
			if _, q := d.bestSplit(seg); q > maxQ {
				maxQ = q
			}
		}
		if maxQ >= observed {
			exceed++
			if exceed > limit {
				// p is already above alpha whatever the remaining
				// shuffles give; this lower bound is what is returned.
				return float64(exceed+1) / float64(n+1)
			}
		}
	}
	return float64(exceed+1) / float64(n+1)
}

// Reference finds the level the newest segment is to be judged against:
// walking back from the segment before it, the first segment whose mean
// differs from the newest's in the sense of differs(reference mean, newest
// mean). Segments on the way that do not differ are one level with the
// newest (a change point between two nearly equal levels, or a drop found
// as two steps, does not hide a drop from the level before). It returns
// the segment's index, or -1 when no earlier segment differs.
func (r Result) Reference(differs func(ref, newest float64) bool) int {
	n := len(r.Segments)
	if n < 2 {
		return -1
	}
	newest := r.Segments[n-1].Mean
	for i := n - 2; i >= 0; i-- {
		if differs(r.Segments[i].Mean, newest) {
			return i
		}
	}
	return -1
}
