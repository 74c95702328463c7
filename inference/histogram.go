package inference

import "math/bits"

// histogram is a fixed-size log-linear histogram of non-negative
// nanosecond values: 64 linear sub-buckets per power of two, so any value is
// known to within 1/64. Recording is a few instructions and allocation-free,
// which is why the generator uses it on its hot path instead of keeping
// another array per query.
type histogram struct {
	counts [64 * 64]uint64
	n      uint64
	sum    uint64
	max    int64
}

const subBits = 6 // 64 sub-buckets

func bucketOf(v int64) int {
	if v < 1<<subBits {
		return int(v)
	}
	exp := bits.Len64(uint64(v)) - subBits // >= 1
	return exp<<subBits | int(uint64(v)>>(exp-1))&(1<<subBits-1)
}

// lowerBound returns the smallest value that falls in bucket b.
func lowerBound(b int) int64 {
	exp := b >> subBits
	if exp == 0 {
		return int64(b)
	}
	return (1<<subBits | int64(b&(1<<subBits-1))) << (exp - 1)
}

func (h *histogram) record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += uint64(v)
	if v > h.max {
		h.max = v
	}
}

// quantile returns the lower bound of the bucket holding the nearest-rank
// value at p, the same index rule as LoadGen's percentiles.
func (h *histogram) quantile(p float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(float64(h.n) * p)
	if rank >= h.n {
		rank = h.n - 1
	}
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen > rank {
			return min(lowerBound(b), h.max)
		}
	}
	return h.max
}

func (h *histogram) summary() Quantiles {
	q := Quantiles{Count: h.n, MaxNs: h.max}
	if h.n == 0 {
		return q
	}
	q.P50Ns, q.P90Ns, q.P99Ns, q.P999Ns = h.quantile(0.5), h.quantile(0.9), h.quantile(0.99), h.quantile(0.999)
	q.MeanNs = int64(h.sum / h.n)
	return q
}
