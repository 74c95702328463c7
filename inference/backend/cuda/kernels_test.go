//go:build cgo

package cuda

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gpuperf/gpuperf/inference/backend/cuda/kernels/hostsim"
)

// Relative error bounds of the host-compiled kernels against the Go
// reference (see relErr). fp32: the kernels accumulate in fp32, in another
// order, and use ex2.approx/rsqrt.approx's counterparts; a few parts in a
// million. fp16: every stored value is rounded to a half (a relative step
// of 2^-10 = 9.8e-4), and the kernel's fp32 result and the reference's
// float64 one can round to neighbouring halves: one step, plus the fp32
// error carried through one more half rounding.
var kernelBound = map[DType]float64{FP32: 1e-5, FP16: 2e-3}

// simMem is the test's "device": C memory the host-compiled kernels run on.
type simMem struct {
	t    *testing.T
	mems []*hostsim.Mem
}

func newSimMem(t *testing.T) *simMem {
	s := &simMem{t: t}
	t.Cleanup(func() {
		for _, m := range s.mems {
			m.Free()
		}
	})
	return s
}

func (s *simMem) alloc(n int) *hostsim.Mem {
	m := hostsim.Alloc(n)
	if m == nil {
		s.t.Fatalf("hostsim.Alloc(%d) failed", n)
	}
	s.mems = append(s.mems, m)
	return m
}

// put stores v as dt and returns its address.
func (s *simMem) put(dt DType, v []float32) uint64 {
	m := s.alloc(len(v) * dt.size())
	encode(dt, m.Bytes(), v)
	return m.Addr()
}

func (s *simMem) putF32(v []float32) uint64 { return s.put(FP32, v) }

func (s *simMem) putI32(v []int32) uint64 {
	m := s.alloc(4 * len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(m.Bytes()[4*i:], uint32(x))
	}
	return m.Addr()
}

// out allocates n values of dt, filled with NaN so an unwritten value shows.
func (s *simMem) out(dt DType, n int) *hostsim.Mem {
	m := s.alloc(n * dt.size())
	nan := make([]float32, n)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	encode(dt, m.Bytes(), nan)
	return m
}

func (s *simMem) run(l launch) {
	s.t.Helper()
	if err := hostsim.Launch(l.fn, [3]int{int(l.grid[0]), int(l.grid[1]), int(l.grid[2])}, int(l.block), int(l.smem), l.args); err != nil {
		s.t.Fatal(err)
	}
}

// random returns n values uniform in [lo, hi), rounded to dt.
func random(rng *rand.Rand, dt DType, n int, lo, hi float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = dt.round(float32(lo + (hi-lo)*rng.Float64()))
	}
	return v
}

var dtypes = []DType{FP32, FP16}

func TestGEMMKernels(t *testing.T) {
	shapes := [][3]int{{1, 1, 1}, {37, 53, 29}, {70, 130, 75}, {17, 2, 100}, {64, 64, 64}, {5, 97, 16}}
	for _, dt := range dtypes {
		for _, sh := range shapes {
			for _, flags := range []int{0, epiGELU, epiResidual, epiGELU | epiResidual} {
				m, n, k := sh[0], sh[1], sh[2]
				t.Run(fmt.Sprintf("%s/%dx%dx%d/flags=%d", dt, m, n, k, flags), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(uint64(m*n*k), uint64(flags)))
					s := newSimMem(t)
					a := random(rng, dt, m*k, -1, 1)
					b := random(rng, dt, k*n, -1, 1)
					bias := random(rng, FP32, n, -1, 1)
					r := random(rng, dt, m*n, -1, 1)
					c := s.out(dt, m*n)
					s.run(gemmLaunch(dt, c.Addr(), s.put(dt, a), s.put(dt, b), s.putF32(bias), s.put(dt, r), m, n, k, flags))
					want := make([]float32, m*n)
					refGEMM(dt, want, a, b, bias, r, m, n, k, flags)
					got := decode(dt, c.Bytes(), m*n)
					if e := relErr(got, want); e > kernelBound[dt] {
						t.Errorf("relative error %.3g; want at most %.3g", e, kernelBound[dt])
					} else {
						t.Logf("relative error %.3g", e)
					}
				})
			}
		}
	}
}

func TestAttentionKernels(t *testing.T) {
	// batch, seq, heads, head size: odd sizes, and more keys and head
	// values than a warp has lanes.
	shapes := [][4]int{{1, 1, 1, 1}, {2, 19, 3, 5}, {1, 70, 2, 40}, {3, 7, 1, 33}, {2, 33, 4, 16}}
	for _, dt := range dtypes {
		for _, sh := range shapes {
			b, seq, heads, dh := sh[0], sh[1], sh[2], sh[3]
			t.Run(fmt.Sprintf("%s/b%d-s%d-h%d-d%d", dt, b, seq, heads, dh), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(seq), uint64(dh)))
				s := newSimMem(t)
				n := b * seq * 3 * heads * dh
				qkv := random(rng, dt, n, -2, 2)
				out := s.out(dt, b*seq*heads*dh)
				s.run(attentionLaunch(dt, out.Addr(), s.put(dt, qkv), b, seq, heads, dh))
				want := make([]float32, b*seq*heads*dh)
				refAttention(dt, want, qkv, b, seq, heads, dh)
				if e := relErr(decode(dt, out.Bytes(), len(want)), want); e > kernelBound[dt] {
					t.Errorf("relative error %.3g; want at most %.3g", e, kernelBound[dt])
				} else {
					t.Logf("relative error %.3g", e)
				}
			})
		}
	}
}

func TestLayerNormKernels(t *testing.T) {
	for _, dt := range dtypes {
		for _, h := range []int{1, 7, 130, 769} {
			t.Run(fmt.Sprintf("%s/h%d", dt, h), func(t *testing.T) {
				const rows = 5
				rng := rand.New(rand.NewPCG(uint64(h), 7))
				s := newSimMem(t)
				in := random(rng, dt, rows*h, -3, 5) // off-centre, so the mean matters
				gamma, beta := random(rng, FP32, h, 0.5, 1.5), random(rng, FP32, h, -1, 1)
				out := s.out(dt, rows*h)
				s.run(layerNormLaunch(dt, out.Addr(), s.put(dt, in), s.putF32(gamma), s.putF32(beta), rows, h))
				want := make([]float32, rows*h)
				refLayerNorm(dt, want, in, gamma, beta, rows, h)
				if e := relErr(decode(dt, out.Bytes(), len(want)), want); e > kernelBound[dt] {
					t.Errorf("relative error %.3g; want at most %.3g", e, kernelBound[dt])
				} else {
					t.Logf("relative error %.3g", e)
				}
			})
		}
	}
}

func TestEmbedLayerNormKernels(t *testing.T) {
	for _, dt := range dtypes {
		t.Run(dt.String(), func(t *testing.T) {
			const seq, h, vocab, batch = 13, 45, 50, 2
			rng := rand.New(rand.NewPCG(1, 2))
			s := newSimMem(t)
			ids := make([]int32, batch*seq)
			for i := range ids {
				ids[i] = int32(rng.IntN(vocab))
			}
			ids[3], ids[20] = -1, vocab // out of range: the kernel reads row 0, as the reference does
			tok, pos := random(rng, FP32, vocab*h, -1, 1), random(rng, FP32, seq*h, -1, 1)
			gamma, beta := random(rng, FP32, h, 0.5, 1.5), random(rng, FP32, h, -1, 1)
			out := s.out(dt, batch*seq*h)
			s.run(embedLaunch(dt, out.Addr(), s.putI32(ids), s.putF32(tok), s.putF32(pos), s.putF32(gamma), s.putF32(beta), batch*seq, seq, h, vocab))
			want := make([]float32, batch*seq*h)
			refEmbedLayerNorm(dt, want, ids, tok, pos, gamma, beta, seq, h, vocab)
			if e := relErr(decode(dt, out.Bytes(), len(want)), want); e > kernelBound[dt] {
				t.Errorf("relative error %.3g; want at most %.3g", e, kernelBound[dt])
			} else {
				t.Logf("relative error %.3g", e)
			}
		})
	}
}

func TestEmptyKernel(t *testing.T) {
	s := newSimMem(t)
	s.run(emptyLaunch())
}

// TestHalfMatchesHarness checks the Go float→half conversion against the
// harness's (PTX cvt.rn.f16.f32's rules) around every rounding boundary:
// each exponent and top mantissa pattern with the low bits at and beside
// the halfway point, plus infinities, NaN and subnormals; and that every
// half widens to the same float.
func TestHalfMatchesHarness(t *testing.T) {
	lows := []uint32{0, 1, 0x0fff, 0x1000, 0x1001, 0x1fff, 0x17ff, 0x0800}
	n := 0
	for hi := uint32(0); hi < 1<<19; hi++ {
		for _, lo := range lows {
			bits := hi<<13 | lo
			f := math.Float32frombits(bits)
			if g, w := f2h(f), hostsim.F2H(f); g != w {
				t.Fatalf("f2h(%#08x = %g) = %#04x; the harness gives %#04x", bits, f, g, w)
			}
			n++
		}
	}
	for h := range 1 << 16 {
		g, w := h2f(uint16(h)), hostsim.H2F(uint16(h))
		if math.Float32bits(g) != math.Float32bits(w) {
			t.Fatalf("h2f(%#04x) = %g; the harness gives %g", h, g, w)
		}
	}
	for _, c := range []struct {
		f float32
		h uint16
	}{{1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {65519.99, 0x7bff}, {65520, 0x7c00}, {1e-8, 0}, {5.960464477539063e-08, 1},
		{float32(math.Inf(1)), 0x7c00}, {0.1, 0x2e66}, {1.0009765625, 0x3c01}, {1.00048828125, 0x3c00}, {1.00146484375, 0x3c02}} {
		if g := f2h(c.f); g != c.h {
			t.Errorf("f2h(%g) = %#04x; want %#04x", c.f, g, c.h)
		}
	}
	t.Logf("%d conversions agree", n)
}
