package kserve

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// elemSize returns the size in bytes of one element of an Open Inference
// Protocol datatype, 0 for BYTES (variable), and false for a datatype the
// protocol does not define.
func elemSize(dtype string) (int, bool) {
	switch dtype {
	case "BOOL", "UINT8", "INT8":
		return 1, true
	case "UINT16", "INT16", "FP16", "BF16":
		return 2, true
	case "UINT32", "INT32", "FP32":
		return 4, true
	case "UINT64", "INT64", "FP64":
		return 8, true
	case "BYTES":
		return 0, true
	}
	return 0, false
}

// elements returns the number of elements of a fully known shape, or an
// error for a negative dimension or a product past 2^40 (no tensor a
// client sends is that large; the bound keeps the arithmetic exact).
func elements(shape []int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %s: dimension %d is not fixed", fmtShape(shape), d)
		}
		if d > 0 && n > (1<<40)/d {
			return 0, fmt.Errorf("shape %s: too many elements", fmtShape(shape))
		}
		n *= d
	}
	return n, nil
}

// fmtShape writes a shape as Triton does: [-1,3,224,224].
func fmtShape(shape []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range shape {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(d, 10))
	}
	b.WriteByte(']')
	return b.String()
}

// parseDims reads dimensions written as 3x224x224 (or 3,224,224 inside a
// shape option entry that names its input).
func parseDims(s string) ([]int64, error) {
	if s == "" {
		return nil, fmt.Errorf("empty shape")
	}
	var dims []int64
	for _, f := range strings.Split(s, "x") {
		d, err := strconv.ParseInt(f, 10, 64)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("shape %q: want dimensions such as 3x224x224", s)
		}
		dims = append(dims, d)
	}
	return dims, nil
}

// countBytesElements checks a raw BYTES tensor (each element a 4-byte
// little-endian length and its bytes) and returns its element count.
func countBytesElements(raw []byte) (int64, error) {
	var n int64
	for len(raw) > 0 {
		if len(raw) < 4 {
			return 0, fmt.Errorf("BYTES element %d: %d bytes left, want a 4-byte length", n, len(raw))
		}
		l := binary.LittleEndian.Uint32(raw)
		if uint64(l) > uint64(len(raw)-4) {
			return 0, fmt.Errorf("BYTES element %d: length %d past the end (%d bytes left)", n, l, len(raw)-4)
		}
		raw = raw[4+l:]
		n++
	}
	return n, nil
}

// fp16 returns the IEEE half-precision bits nearest to f (ties to even);
// values past the range become infinities.
func fp16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case b&0x7fffffff > 0x7f800000: // NaN
		return sign | 0x7e00
	case exp >= 0x1f: // overflow or infinity
		return sign | 0x7c00
	case exp <= 0: // subnormal or zero
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - exp)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		if rem := mant & (1<<shift - 1); rem > half || rem == half && r&1 == 1 {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(exp)<<10 | mant>>13
	if rem := mant & 0x1fff; rem > 0x1000 || rem == 0x1000 && r&1 == 1 {
		r++ // may carry into the exponent, which is right
	}
	return sign | uint16(r)
}

// bf16 returns the bfloat16 bits nearest to f (ties to even).
func bf16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b >> 16 & 1)
	return uint16(b >> 16)
}
