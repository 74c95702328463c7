package results

import (
	"math"
	"sync"

	"gonum.org/v1/gonum/stat/distuv"
)

// Power of the equivalence test, and the repetitions it needs.
//
// The equivalence verdict is two one-sided tests (TOST) at level α each:
// "equivalent" when the 1−2α interval of the mean log ratio lies within
// [ln(1 − m), ln(1 + m)]. Its power at a true log ratio δ, n pairs and a
// spread σ of the log ratios is exact when the interval is a t interval:
// the mean D̂ ~ N(δ, σ²/n) is independent of the sample SD s, with
// (n−1)s²/σ² ~ χ²(n−1), so
//
//	power = E_s[ max(0, Φ((U − δ − t·s/√n)/(σ/√n)) − Φ((L − δ + t·s/√n)/(σ/√n))) ]
//
// with t = t(1−α, n−1), U = ln(1 + m) and L = ln(1 − m). The expectation
// over s is taken on a fine grid of χ² quantiles. This is what a
// noncentral-t (Owen's Q) power calculation computes, without the special
// function.

// DefaultPower is the power the repetitions needed are sized for.
const DefaultPower = 0.80

// MinPairs is the fewest pairs (or repetitions per side) gpuperf ever
// recommends: two ABBA blocks, so an order effect cancels and the t
// interval has three degrees of freedom. A spread measured as zero never
// brings the recommendation below it.
const MinPairs = 4

// powerGrid is how many χ² quantiles the expectation over s averages.
const powerGrid = 400

// tostPower is the probability that TOST at one-sided level alpha declares
// equivalence within ±marginPct, for n pairs (or units) with a spread
// sigma of the log ratios (sd of one pair's log ratio; for two
// independent samples of n each, √(σ_b² + σ_c²)), when the true log ratio
// is delta, the t interval having df degrees of freedom.
func tostPower(n int, df float64, sigma, delta, marginPct, alpha float64) float64 {
	if n < 2 || !(df > 0) {
		return 0
	}
	// Welch's fractional degrees of freedom are rounded down, as tables
	// do: a little conservative, and the χ² grids stay few.
	df = math.Max(1, math.Floor(df))
	upper, lower := math.Log1p(marginPct/100), math.Log1p(-marginPct/100)
	if !(sigma > 0) {
		if delta > lower && delta < upper {
			return 1
		}
		return 0
	}
	sqn := math.Sqrt(float64(n))
	se := sigma / sqn
	t := tQuantile(1-alpha, df)
	qs := chiGrid(df)
	var sum float64
	for _, q := range qs {
		s := sigma * math.Sqrt(q/df)
		hw := t * s / sqn
		p := distuv.UnitNormal.CDF((upper-delta-hw)/se) - distuv.UnitNormal.CDF((lower-delta+hw)/se)
		if p > 0 {
			sum += p
		}
	}
	return sum / float64(len(qs))
}

// chiGrids caches the χ² quantile grids by degrees of freedom: a power
// search evaluates the same few dozen again and again.
var chiGrids sync.Map // float64 → []float64

// chiGrid returns the χ²(df) quantiles at the midpoints of powerGrid equal
// slices of probability.
func chiGrid(df float64) []float64 {
	if g, ok := chiGrids.Load(df); ok {
		return g.([]float64)
	}
	d := distuv.ChiSquared{K: df}
	g := make([]float64, powerGrid)
	for i := range g {
		g[i] = d.Quantile((float64(i) + 0.5) / powerGrid)
	}
	chiGrids.Store(df, g)
	return g
}

// PairsForPower is the smallest number of pairs n (paired design) at which
// the equivalence test at one-sided level alpha reaches the given power to
// conclude equivalence within ±marginPct when the true ratio is 100%, at a
// spread of spreadPct (the sample SD of the pairs' log ratios × 100). It
// is at least MinPairs; ok is false without a margin. The search stops at
// maxRepsNeeded.
func PairsForPower(spreadPct, marginPct, power, alpha float64) (int, bool) {
	return unitsForPower(spreadPct/100, marginPct, power, alpha, func(n int) float64 { return float64(n - 1) })
}

// unitsForPower searches n for the design whose degrees of freedom at n
// are df(n).
func unitsForPower(sigma, marginPct, power, alpha float64, df func(n int) float64) (int, bool) {
	if !(marginPct > 0) || !(power > 0 && power < 1) || !(alpha > 0 && alpha < 0.5) || math.IsNaN(sigma) {
		return 0, false
	}
	enough := func(n int) bool { return tostPower(n, df(n), sigma, 0, marginPct, alpha) >= power }
	if enough(MinPairs) {
		return MinPairs, true
	}
	// Power grows with n: double until enough, then bisect.
	lo, hi := MinPairs, 2*MinPairs
	for !enough(hi) {
		if hi >= maxRepsNeeded {
			return maxRepsNeeded, true
		}
		lo, hi = hi, min(2*hi, maxRepsNeeded)
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if enough(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, true
}
