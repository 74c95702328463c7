package rng

import (
	"math"
	"math/bits"
)

// urngRange is max()-min() of std::mt19937, the quantity libstdc++ compares
// against when choosing an algorithm.
const urngRange = math.MaxUint32

// Canonical returns a double in [0, 1) built the way libstdc++'s
// std::generate_canonical<double, 53> does over a 32-bit engine: two draws,
// summed low word first in double arithmetic, then divided by 2^64. Rounding
// can make that quotient 1, which libstdc++ replaces by the largest double
// below 1.
func (m *MT19937) Canonical() float64 {
	const r = 1 << 32
	g1 := float64(m.Uint32())
	g2 := float64(m.Uint32())
	// g2*r is exact (a power-of-two scale), so only the addition rounds,
	// and a fused multiply-add could not change the result.
	sum := g1 + g2*r
	u := sum / (r * r)
	if u >= 1 {
		u = math.Nextafter(1, 0)
	}
	return u
}

// Exponential draws from std::exponential_distribution<double>(lambda) as
// libstdc++ implements it: -log(1-U)/lambda with U from Canonical.
//
// Go's math.Log and glibc's log are both accurate to within an ulp and agree
// on the vast majority of inputs; a disagreement could only change a
// nanosecond-truncated interval when it lies within about 1e-10 ns of an
// integer.
func (m *MT19937) Exponential(lambda float64) float64 {
	return -math.Log(1-m.Canonical()) / lambda
}

// NextIntervalNs returns the next Server inter-arrival gap in nanoseconds for
// a Poisson process of rate qps. LoadGen converts each
// std::chrono::duration<double> of seconds to nanoseconds with duration_cast,
// which multiplies by 1e9 in double and truncates toward zero; the schedule is
// the running sum of these integer gaps.
func NextIntervalNs(m *MT19937, qps float64) int64 {
	sec := m.Exponential(qps)
	return int64(sec * 1e9)
}

// UniformInt draws from std::uniform_int_distribution<uint64_t>(a, b) as
// libstdc++ (GCC 12) implements it on a 32-bit engine. It panics if a > b,
// which is undefined behaviour in C++.
func (m *MT19937) UniformInt(a, b uint64) uint64 {
	if a > b {
		panic("rng: UniformInt called with a > b")
	}
	return a + m.uniformSpan(b-a)
}

// uniformSpan returns a uniform value in [0, span], following the three
// branches of libstdc++'s operator(): downscale when the span is narrower than
// the engine, take one raw draw when it is exactly as wide, and upscale by
// stacking draws when it is wider.
func (m *MT19937) uniformSpan(span uint64) uint64 {
	switch {
	case span < urngRange:
		return uint64(m.nearlyDivisionless(uint32(span + 1)))
	case span == urngRange:
		return uint64(m.Uint32())
	default:
		// Every value in [0, span] is uniquely high*2^32 + low with low a
		// full draw; retry when the sum leaves the range or wraps around.
		const stride = urngRange + 1
		for {
			high := stride * m.uniformSpan(span/stride)
			ret := high + uint64(m.Uint32())
			if ret <= span && ret >= high {
				return ret
			}
		}
	}
}

// nearlyDivisionless is Lemire's method as libstdc++'s _S_nd writes it for a
// 32-bit engine: keep the high word of draw*n, and only when the low word
// falls below n compute the rejection threshold (2^32 - n) mod n.
func (m *MT19937) nearlyDivisionless(n uint32) uint32 {
	hi, lo := bits.Mul32(m.Uint32(), n)
	if lo < n {
		threshold := -n % n
		for lo < threshold {
			hi, lo = bits.Mul32(m.Uint32(), n)
		}
	}
	return hi
}
