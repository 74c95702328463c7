package stats

import "math/bits"

// ReportedPercentiles are the percentiles LoadGen prints in its summary and
// detail logs.
var ReportedPercentiles = []float64{0.50, 0.90, 0.95, 0.97, 0.99, 0.999}

// Percentile returns the p-th percentile of values sorted in ascending order,
// by LoadGen's nearest-rank rule sorted[floor(n·p)]. An index of n or more
// (p >= 1) selects the last value and a negative one the first; an empty slice
// yields 0.
func Percentile(sorted []int64, p float64) int64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	idx := float64(n) * p
	switch {
	case !(idx >= 0): // also catches NaN
		return sorted[0]
	case idx >= float64(n-1):
		return sorted[n-1]
	}
	return sorted[int(idx)]
}

// TruncatedMean returns the sum of xs divided by len(xs) with integer division
// truncating toward zero, as LoadGen computes its mean latency. The sum is
// accumulated in 128 bits, so it cannot overflow however many values there
// are. An empty slice yields 0.
func TruncatedMean(xs []int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	// Two's-complement 128-bit accumulator (hi:lo).
	var hi, lo uint64
	for _, x := range xs {
		var carry uint64
		lo, carry = bits.Add64(lo, uint64(x), 0)
		hi += uint64(x>>63) + carry // x>>63 sign-extends: 0 or all ones
	}
	neg := int64(hi) < 0
	if neg {
		// Negate: invert and add one.
		var borrow uint64
		lo, borrow = bits.Add64(^lo, 1, 0)
		hi = ^hi + borrow
	}
	// |sum| < len·2^63, so hi < len and Div64 cannot overflow.
	q, _ := bits.Div64(hi, lo, uint64(len(xs)))
	if neg {
		return -int64(q)
	}
	return int64(q)
}
