package cuda

import "math"

// f2h rounds f to the nearest IEEE binary16, ties to even, as PTX's
// cvt.rn.f16.f32 does: overflow gives infinity, NaN a quiet NaN.
func f2h(f float32) uint16 {
	x := math.Float32bits(f)
	sign := uint16(x>>16) & 0x8000
	ax := x & 0x7fffffff
	switch {
	case ax > 0x7f800000: // NaN
		return sign | 0x7e00 | uint16(ax>>13)&0x3ff
	case ax >= 0x477ff000: // 65520 and up round to infinity
		return sign | 0x7c00
	case ax < 0x38800000: // below 2^-14: a subnormal half, or zero
		a := math.Float32frombits(ax)
		return sign | uint16(math.RoundToEven(float64(a)*(1<<24)))
	}
	h := (ax - 0x38000000) >> 13
	rem := ax & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++
	}
	return sign | uint16(h)
}

// h2f widens a binary16 to float32, exactly.
func h2f(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	e, m := uint32(h>>10)&0x1f, uint32(h&0x3ff)
	switch {
	case e == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | m<<13)
	case e != 0:
		return math.Float32frombits(sign | (e+112)<<23 | m<<13)
	}
	f := float32(m) / (1 << 24)
	if sign != 0 {
		return -f
	}
	return f
}

// roundHalf is f stored as a half and read back.
func roundHalf(f float32) float32 { return h2f(f2h(f)) }
