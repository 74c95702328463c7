package cuda

import "math"

// launch is one kernel launch: the kernel's name in the PTX, its grid and
// block, dynamic shared memory, and arguments as the driver reads them
// (each in the low bytes of a uint64: pointers whole, int and float in
// the low four bytes).
type launch struct {
	fn    string
	f     Function // fn, resolved in the loaded module
	grid  [3]uint32
	block uint32
	smem  uint32
	args  []uint64
}

// Tile shapes of gemm.cu.
const (
	gemmTile       = 64
	gemmF32Threads = 256
	gemmF16Threads = 128
)

func ceilDiv(a, b int) uint32 { return uint32((a + b - 1) / b) }

func i32(v int) uint64        { return uint64(uint32(int32(v))) }
func f32arg(v float32) uint64 { return uint64(math.Float32bits(v)) }

// gemmLaunch is c = epilogue(a·b + bias) (+ r), a m×k, b k×n.
func gemmLaunch(dt DType, c, a, b, bias, r uint64, m, n, k, flags int) launch {
	l := launch{
		fn:   "gemm_f16",
		grid: [3]uint32{ceilDiv(n, gemmTile), ceilDiv(m, gemmTile), 1}, block: gemmF16Threads,
		args: []uint64{c, a, b, bias, r, i32(m), i32(n), i32(k), i32(flags)},
	}
	if dt == FP32 {
		l.fn, l.block = "gemm_f32", gemmF32Threads
	}
	return l
}

// attentionLaunch is self-attention over qkv for batch samples of seq
// tokens and heads heads of dh values.
func attentionLaunch(dt DType, out, qkv uint64, batch, seq, heads, dh int) launch {
	l := launch{
		fn:    "attention_f16",
		grid:  [3]uint32{ceilDiv(seq, attQueries), uint32(heads), uint32(batch)},
		block: 32 * attWarps, smem: uint32(attWarps * (dh + seq) * 4),
		args: []uint64{out, qkv, i32(seq), i32(heads), i32(dh), f32arg(float32(1 / math.Sqrt(float64(dh))))},
	}
	if dt == FP32 {
		l.fn = "attention_f32"
	}
	return l
}

// layerNormLaunch normalises rows rows of width h.
func layerNormLaunch(dt DType, out, in, gamma, beta uint64, rows, h int) launch {
	l := launch{
		fn: "layernorm_f16", grid: [3]uint32{uint32(rows), 1, 1}, block: lnThreads,
		args: []uint64{out, in, gamma, beta, i32(h), f32arg(eps)},
	}
	if dt == FP32 {
		l.fn = "layernorm_f32"
	}
	return l
}

// embedLaunch embeds and normalises rows tokens (ids, int32).
func embedLaunch(dt DType, out, ids, tok, pos, gamma, beta uint64, rows, seq, h, vocab int) launch {
	l := launch{
		fn: "embed_layernorm_f16", grid: [3]uint32{uint32(rows), 1, 1}, block: lnThreads,
		args: []uint64{out, ids, tok, pos, gamma, beta, i32(seq), i32(h), i32(vocab), f32arg(eps)},
	}
	if dt == FP32 {
		l.fn = "embed_layernorm_f32"
	}
	return l
}

// emptyLaunch is the probe's empty kernel.
func emptyLaunch() launch {
	return launch{fn: "probe_empty", grid: [3]uint32{1, 1, 1}, block: 32}
}
