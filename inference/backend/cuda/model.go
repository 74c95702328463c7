package cuda

import "math"

// Shapes the kernels fix (see kernels/*.cu).
const (
	headOut    = 2 // the output head: two logits per token, as SQuAD's start and end
	attWarps   = 4 // attention: warps per block
	attQueries = 16
	lnThreads  = 128
	eps        = 1e-12 // layer norm, as BERT's
)

// Weights is the encoder's parameters in fp32, each value already rounded
// to the storage type, so the device and the reference hold the same
// numbers. Matrices are input-major (in×out), as the GEMM reads them.
type Weights struct {
	cfg         Config
	Tok, Pos    []float32 // Vocab×Hidden, Seq×Hidden
	EmbG, EmbB  []float32 // the embedding's layer norm
	Layers      []LayerWeights
	Head, HeadB []float32 // Hidden×2, 2
}

// LayerWeights is one transformer block (post-norm, as BERT).
type LayerWeights struct {
	QKV, QKVB []float32 // Hidden×3·Hidden
	Out, OutB []float32 // Hidden×Hidden
	LN1G      []float32
	LN1B      []float32
	FF1, FF1B []float32 // Hidden×FFN
	FF2, FF2B []float32 // FFN×Hidden
	LN2G      []float32
	LN2B      []float32
}

// NewWeights draws the weights for c from its seed: uniform, scaled by
// fan-in so each product keeps unit variance (√(3/in)), biases and layer
// norm shifts within ±0.1, layer norm scales within 1 ± 0.1. Tensor i of
// the model is drawn from its own stream, so a change of shape in one
// leaves the others as they were.
func NewWeights(c Config) *Weights {
	h, f := c.Hidden, c.FFN
	w := &Weights{cfg: c}
	tensor := 0
	draw := func(n int, lo, hi float64, round bool) []float32 {
		tensor++
		v := make([]float32, n)
		state := splitmix(c.Seed*0x9e3779b97f4a7c15 + uint64(tensor)<<32)
		for i := range v {
			state += 0x9e3779b97f4a7c15
			u := float64(splitmix(state)>>11) / (1 << 53)
			v[i] = float32(lo + (hi-lo)*u)
			if round {
				v[i] = c.DType.round(v[i])
			}
		}
		return v
	}
	mat := func(in, out int) []float32 {
		a := math.Sqrt(3 / float64(in))
		return draw(in*out, -a, a, true)
	}
	small := func(n int) []float32 { return draw(n, -0.1, 0.1, false) }
	scale := func(n int) []float32 { return draw(n, 0.9, 1.1, false) }
	w.Tok = draw(c.Vocab*h, -1, 1, false)
	w.Pos = draw(c.Seq*h, -0.5, 0.5, false)
	w.EmbG, w.EmbB = scale(h), small(h)
	for range c.Layers {
		w.Layers = append(w.Layers, LayerWeights{
			QKV: mat(h, 3*h), QKVB: small(3 * h),
			Out: mat(h, h), OutB: small(h),
			LN1G: scale(h), LN1B: small(h),
			FF1: mat(h, f), FF1B: small(f),
			FF2: mat(f, h), FF2B: small(h),
			LN2G: scale(h), LN2B: small(h),
		})
	}
	w.Head, w.HeadB = mat(h, headOut), small(headOut)
	return w
}

// Tokens writes the token ids of the sample at data-set index into dst
// (Seq of them): a pure function of the index and the seed, as the cpu
// backend's inputs are.
func Tokens(c Config, index uint32, dst []int32) {
	state := splitmix(c.Seed ^ uint64(index)<<20 ^ 0x243f6a8885a308d3)
	for i := range dst[:c.Seq] {
		state += 0x9e3779b97f4a7c15
		dst[i] = int32(splitmix(state) % uint64(c.Vocab))
	}
}

// splitmix is SplitMix64's finaliser.
func splitmix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
