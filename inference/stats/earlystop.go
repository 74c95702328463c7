package stats

import (
	"fmt"
	"math"
	"sync"
)

// LoadGen hard-codes the early-stopping confidence and tolerance in
// PerformanceSummary::EarlyStopping.
const (
	confidence = 0.99
	tolerance  = 0.0
)

// seriesEpsilon is where LoadGen stops summing the 2F1 series: 2^-33.
const seriesEpsilon = 1.0 / (1 << 33)

// maxCacheEntries bounds a Finder's memo; past it the memo starts afresh.
const maxCacheEntries = 1 << 16

// Finder computes early-stopping thresholds and remembers every h(t) it has
// found, because EstimatePercentile and repeated Server checks ask for the
// same values again. It is safe for concurrent use. The zero value is ready
// to use.
type Finder struct {
	mu    sync.Mutex
	cache map[finderKey]int64 // protected by mu
}

type finderKey struct {
	p float64
	t int64
}

// defaultFinder backs the package-level functions. Its memo only ever holds
// exact results, so sharing it between callers and tests is harmless.
var defaultFinder Finder

// MinPassingQueries returns h(t) for percentile p using a shared Finder.
func MinPassingQueries(t int64, p float64) int64 {
	return defaultFinder.MinPassingQueries(t, p)
}

// EstimatePercentile runs SingleStream/MultiStream early stopping using a
// shared Finder.
func EstimatePercentile(sortedLatencies []int64, p float64) Estimate {
	return defaultFinder.EstimatePercentile(sortedLatencies, p)
}

// CheckServer runs the Server early-stopping test using a shared Finder.
func CheckServer(queries, overlatency int64, p float64) ServerCheck {
	return defaultFinder.CheckServer(queries, overlatency, p)
}

// MinPassingQueries returns h(t): the fewest under-latency queries that, next
// to t over-latency ones, show with 99% confidence that the system meets
// percentile p. It is the smallest h with I_p(h, t+1) < 0.01. h(0) has the
// closed form ceil(ln(0.01)/ln(p)).
//
// It panics unless 0 < p < 1 and t >= 0; those come from validated settings
// and counts, so anything else is a programming error.
func (f *Finder) MinPassingQueries(t int64, p float64) int64 {
	if !(p > 0 && p < 1) {
		panic(fmt.Sprintf("stats: early-stopping percentile %v not in (0, 1)", p))
	}
	if t < 0 {
		panic(fmt.Sprintf("stats: negative over-latency count %d", t))
	}
	x := p - tolerance
	h0 := int64(math.Ceil(math.Log(1-confidence) / math.Log(x)))
	if t == 0 {
		return h0
	}
	key := finderKey{p, t}
	f.mu.Lock()
	h, ok := f.cache[key]
	f.mu.Unlock()
	if ok {
		return h
	}
	h = searchMinPassing(t, x, h0)
	f.mu.Lock()
	if f.cache == nil || len(f.cache) >= maxCacheEntries {
		f.cache = make(map[finderKey]int64)
	}
	f.cache[key] = h
	f.mu.Unlock()
	return h
}

// searchMinPassing finds the smallest passing h by galloping upwards from a
// known failure and then bisecting. h0-1 always fails, because I_x(a, b)
// grows with b and I_x(h0-1, 1) = x^(h0-1) >= 0.01.
func searchMinPassing(t int64, x float64, h0 int64) int64 {
	lo := h0 - 1 // fails
	// Near h = t·x/(1-x) the expected number of failures is t, where the
	// binomial CDF is about one half: a cheap first guess for the bracket.
	hi := max(h0, int64(float64(t+1)*x/(1-x)))
	for !passes(hi, t, x) {
		lo = hi
		hi *= 2
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if passes(mid, t, x) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// passes reports whether I_x(h, t+1) < 1 - confidence.
func passes(h, t int64, x float64) bool {
	return regIncBeta(x, float64(h), float64(t+1)) < 1-confidence
}

// regIncBeta evaluates the regularized incomplete beta function I_x(a, b) for
// integer b >= 1 the way LoadGen does:
//
//	x^a (1-x)^(b-1) / (a·B(a,b)) · 2F1(1, 1-b; 1+a; x/(x-1))
//
// with the series summed until a term drops below 2^-33. The prefactor, the
// binomial probability of exactly b-1 failures, is formed in log space so that
// it does not underflow for long runs. Every series term is positive (the
// ratio of two binomial probabilities) and the series ends after b terms.
// Where the terms first grow (I near 1) the partial sum is rescaled to stay
// finite; that region never decides a threshold, only the search bracket.
func regIncBeta(x, a, b float64) float64 {
	lgA, _ := math.Lgamma(a)
	lgB, _ := math.Lgamma(b)
	lgAB, _ := math.Lgamma(a + b)
	logPrefactor := a*math.Log(x) + (b-1)*math.Log(1-x) - math.Log(a) - (lgA + lgB - lgAB)

	const (
		rescaleAbove = 1e250
		rescaleBy    = 1e-250
	)
	z := x / (x - 1)
	sum, term := 1.0, 1.0
	threshold := seriesEpsilon // 2^-33 in the current (possibly rescaled) units
	logScale := 0.0
	for k := 0.0; k < b; k++ {
		term *= (1 - b + k) / (1 + a + k) * z
		if term == 0 || math.Abs(term) < threshold {
			break
		}
		sum += term
		if sum > rescaleAbove {
			sum *= rescaleBy
			term *= rescaleBy
			threshold *= rescaleBy
			logScale -= math.Log(rescaleBy)
		}
	}
	if logScale == 0 {
		return math.Exp(logPrefactor) * sum
	}
	return math.Exp(logPrefactor + math.Log(sum) + logScale)
}

// Estimate is the SingleStream/MultiStream early-stopping result for one
// percentile.
type Estimate struct {
	// Met reports whether enough queries ran for an estimate at all.
	Met bool
	// Queries is the number of latencies examined (q).
	Queries int64
	// MinQueries is h(1)+1, the fewest queries that allow an estimate.
	MinQueries int64
	// Discarded is t-1, the number of highest latencies passed over.
	Discarded int64
	// Latency is the reported estimate, sorted[q-t]; 0 when !Met.
	Latency int64
}

// EstimatePercentile returns LoadGen's early-stopping estimate of the p-th
// percentile of latencies sorted in ascending order. With q latencies it finds
// the largest t with h(t)+t <= q and reports the t-th highest latency.
//
// LoadGen scans t = 2, 3, ... until q < h(t)+t. Since h(t)+t strictly grows
// with t, a galloping search followed by bisection finds the same t while
// computing h for only O(log t) values.
func (f *Finder) EstimatePercentile(sortedLatencies []int64, p float64) Estimate {
	q := int64(len(sortedLatencies))
	e := Estimate{Queries: q, MinQueries: f.MinPassingQueries(1, p) + 1}
	if q < e.MinQueries {
		return e
	}
	fits := func(t int64) bool { return f.MinPassingQueries(t, p)+t <= q }
	lo, hi := int64(1), int64(2) // lo fits; hi is probed
	for fits(hi) {
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	e.Met = true
	e.Discarded = lo - 1
	e.Latency = sortedLatencies[q-lo]
	return e
}

// ServerCheck is the Server early-stopping verdict for one latency bound.
type ServerCheck struct {
	// Met reports whether Queries >= Needed.
	Met bool
	// Queries is the number of samples processed (q).
	Queries int64
	// Overlatency is the number of samples over the bound (t).
	Overlatency int64
	// Needed is h(t)+t, the fewest samples that pass with t over the bound.
	Needed int64
}

// CheckServer applies LoadGen's Server early-stopping test: a run of queries
// samples with overlatency of them over the bound passes iff
// queries >= h(overlatency) + overlatency for percentile p.
func (f *Finder) CheckServer(queries, overlatency int64, p float64) ServerCheck {
	needed := f.MinPassingQueries(overlatency, p) + overlatency
	return ServerCheck{
		Met:         queries >= needed,
		Queries:     queries,
		Overlatency: overlatency,
		Needed:      needed,
	}
}
