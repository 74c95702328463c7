package cuda

import (
	"math"
	"runtime"
	"sync"
)

// The Go reference: what each kernel computes, in float64, rounded to the
// storage type wherever the kernel stores. The host-compiled kernels are
// tested against it, and the backend checks a GPU's first batch with it.

// Epilogue flags of the GEMM kernels (gemm.cu).
const (
	epiGELU     = 1
	epiResidual = 2
)

// refGEMM computes c = epilogue(a·b + bias): a is m×k, b k×n, c and r m×n,
// row-major. Rows are spread over the processors when the product is big.
func refGEMM(dt DType, c, a, b, bias, r []float32, m, n, k, flags int) {
	row := func(i int, acc []float64) {
		clear(acc)
		for kk := range k {
			x := float64(a[i*k+kk])
			if x == 0 {
				continue
			}
			br := b[kk*n : (kk+1)*n]
			for j, y := range br {
				acc[j] += x * float64(y)
			}
		}
		for j := range n {
			v := acc[j] + float64(bias[j])
			if flags&epiGELU != 0 {
				v = gelu(v)
			}
			if flags&epiResidual != 0 {
				v += float64(r[i*n+j])
			}
			c[i*n+j] = dt.round(float32(v))
		}
	}
	parallelRows(m, m*n*k, func(lo, hi int) {
		acc := make([]float64, n)
		for i := lo; i < hi; i++ {
			row(i, acc)
		}
	})
}

// parallelRows calls fn over [0, rows) in chunks, on every processor when
// the work (in multiply-adds) is worth it.
func parallelRows(rows, work int, fn func(lo, hi int)) {
	p := runtime.GOMAXPROCS(0)
	if work < 1<<22 || p == 1 || rows < 2 {
		fn(0, rows)
		return
	}
	chunk := (rows + p - 1) / p
	var wg sync.WaitGroup
	for lo := 0; lo < rows; lo += chunk {
		wg.Go(func() { fn(lo, min(lo+chunk, rows)) })
	}
	wg.Wait()
}

// gelu is GELU's tanh form, as gp_gelu.
func gelu(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

// refAttention computes multi-head self-attention over qkv, [batch·seq]
// rows of 3·heads·dh (Q, K, V), into out, [batch·seq] rows of heads·dh.
func refAttention(dt DType, out, qkv []float32, batch, seq, heads, dh int) {
	hid := heads * dh
	ld := 3 * hid
	scale := 1 / math.Sqrt(float64(dh))
	parallelRows(batch*heads, batch*heads*seq*seq*dh, func(lo, hi int) {
		scores := make([]float64, seq)
		for bh := lo; bh < hi; bh++ {
			b, h := bh/heads, bh%heads
			base := b * seq * ld
			for q := range seq {
				qv := qkv[base+q*ld+h*dh:][:dh]
				mx := math.Inf(-1)
				for j := range seq {
					kv := qkv[base+j*ld+hid+h*dh:][:dh]
					s := 0.0
					for d := range dh {
						s += float64(qv[d]) * float64(kv[d])
					}
					scores[j] = s * scale
					mx = max(mx, scores[j])
				}
				sum := 0.0
				for j := range seq {
					scores[j] = math.Exp(scores[j] - mx)
					sum += scores[j]
				}
				o := out[(b*seq+q)*hid+h*dh:][:dh]
				for d := range dh {
					acc := 0.0
					for j := range seq {
						acc += scores[j] * float64(qkv[base+j*ld+2*hid+h*dh+d])
					}
					o[d] = dt.round(float32(acc / sum))
				}
			}
		}
	})
}

// refLayerNorm normalises each of the rows of in (width h) into out.
func refLayerNorm(dt DType, out, in, gamma, beta []float32, rows, h int) {
	for r := range rows {
		layerNormRow(dt, out[r*h:(r+1)*h], func(c int) float64 { return float64(in[r*h+c]) }, gamma, beta)
	}
}

// refEmbedLayerNorm looks each token up, adds its position's embedding,
// and normalises: out is [len(ids)] rows of h.
func refEmbedLayerNorm(dt DType, out []float32, ids []int32, tok, pos, gamma, beta []float32, seq, h, vocab int) {
	for t, id := range ids {
		if id < 0 || int(id) >= vocab {
			id = 0
		}
		tr, pr := tok[int(id)*h:], pos[(t%seq)*h:]
		layerNormRow(dt, out[t*h:(t+1)*h], func(c int) float64 { return float64(tr[c] + pr[c]) }, gamma, beta)
	}
}

func layerNormRow(dt DType, out []float32, x func(int) float64, gamma, beta []float32) {
	h := len(out)
	mean := 0.0
	for c := range h {
		mean += x(c)
	}
	mean /= float64(h)
	v := 0.0
	for c := range h {
		d := x(c) - mean
		v += d * d
	}
	rstd := 1 / math.Sqrt(v/float64(h)+eps)
	for c := range h {
		out[c] = dt.round(float32((x(c)-mean)*rstd*float64(gamma[c]) + float64(beta[c])))
	}
}

// Reference runs the encoder on the CPU for the samples whose tokens are
// ids (n·Seq of them) and returns their logits, n·Seq·2 values: the
// sequence of kernels the device runs, each as its Go reference.
func (w *Weights) Reference(ids []int32) []float32 {
	c := w.cfg
	h, f, dt := c.Hidden, c.FFN, c.DType
	t := len(ids)
	n := t / c.Seq
	x := make([]float32, t*h)
	qkv := make([]float32, t*3*h)
	ctx := make([]float32, t*h)
	y := make([]float32, t*h)
	mid := make([]float32, t*f)
	refEmbedLayerNorm(dt, x, ids, w.Tok, w.Pos, w.EmbG, w.EmbB, c.Seq, h, c.Vocab)
	for _, l := range w.Layers {
		refGEMM(dt, qkv, x, l.QKV, l.QKVB, nil, t, 3*h, h, 0)
		refAttention(dt, ctx, qkv, n, c.Seq, c.Heads, c.headDim())
		refGEMM(dt, y, ctx, l.Out, l.OutB, x, t, h, h, epiResidual)
		refLayerNorm(dt, x, y, l.LN1G, l.LN1B, t, h)
		refGEMM(dt, mid, x, l.FF1, l.FF1B, nil, t, f, h, epiGELU)
		refGEMM(dt, y, mid, l.FF2, l.FF2B, x, t, h, f, epiResidual)
		refLayerNorm(dt, x, y, l.LN2G, l.LN2B, t, h)
	}
	logits := make([]float32, t*headOut)
	refGEMM(dt, logits, x, w.Head, w.HeadB, nil, t, headOut, h, 0)
	return logits
}
