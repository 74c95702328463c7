package cuda

import (
	"encoding/binary"
	"math"
)

// encode writes v into dst as dt, little-endian (as the device reads it).
func encode(dt DType, dst []byte, v []float32) {
	if dt == FP32 {
		for i, x := range v {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(x))
		}
		return
	}
	for i, x := range v {
		binary.LittleEndian.PutUint16(dst[2*i:], f2h(x))
	}
}

// decode reads n values of dt from src.
func decode(dt DType, src []byte, n int) []float32 {
	v := make([]float32, n)
	decodeInto(dt, v, src)
	return v
}

// decodeInto reads len(dst) values of dt from src.
func decodeInto(dt DType, dst []float32, src []byte) {
	if dt == FP32 {
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
		return
	}
	for i := range dst {
		dst[i] = h2f(binary.LittleEndian.Uint16(src[2*i:]))
	}
}
