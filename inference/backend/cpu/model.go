// Package cpu is a real model computed in pure Go, so gpuperf measures
// something on a machine without a GPU: a multilayer perceptron with fixed
// weights drawn from a seeded PCG. Each dense layer is a batched float32
// matrix product plus bias, followed by ReLU, and the last by softmax.
//
// A sample's input is generated from its data-set index and the seed, so
// the same index always gives the same input and the same output; nothing
// is cached between calls. Model implements backend.SyncBackend, and New
// wraps it with backend.NewAsync: workers goroutines serve batches of up to
// batch samples.
package cpu

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
)

// Model is the MLP. Its methods are safe for concurrent use.
type Model struct {
	cfg Config
	// inputSeed seeds the inputs: the configured seed, or a seed set's
	// (Reseed).
	inputSeed uint64
	layers    []layer
	widest    int
	scratch   sync.Pool // *scratch
}

// layer is one dense layer: out = in·w + b, w stored row-major as in×out.
type layer struct {
	in, out int
	w, b    []float32
}

// scratch holds one call's activations: two buffers of Batch×widest.
type scratch struct{ a, b []float32 }

var _ backend.SyncBackend = (*Model)(nil)

// New returns the cpu backend configured by options: layers, width, input,
// batch, workers and seed (see Config).
func New(opts map[string]string) (inference.Backend, error) {
	c, err := ParseConfig(opts)
	if err != nil {
		return nil, err
	}
	m, err := NewModel(c)
	if err != nil {
		return nil, err
	}
	return &pooled{Pool: backend.NewAsync(m, c.Workers, c.Batch), model: m}, nil
}

// pooled is the model behind its worker pool, with the model's seed and
// options.
type pooled struct {
	*backend.Pool
	model *Model
}

var (
	_ inference.Reseeder       = (*pooled)(nil)
	_ inference.OptionReporter = (*pooled)(nil)
)

func (p *pooled) Reseed(set int) uint64               { return p.model.Reseed(set) }
func (p *pooled) EffectiveOptions() map[string]string { return p.model.cfg.Options() }

// Reseed draws the inputs of the runs that follow from seed set set (the
// configured seed for set 0, inference.DeriveSeed of it otherwise) and
// returns that seed. The weights stay: they are the model under test, the
// inputs its workload. Call it before a run, not during one.
func (m *Model) Reseed(set int) uint64 {
	m.inputSeed = inference.DeriveSeed(m.cfg.Seed, set)
	return m.inputSeed
}

// NewModel builds the model c describes, weights and all.
func NewModel(c Config) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := &Model{cfg: c, widest: max(c.Input, c.Width), inputSeed: c.Seed}
	in := c.Input
	for l := range c.Layers {
		// He-uniform weights, so activations keep their scale through
		// the ReLUs, and small biases.
		rng := rand.New(rand.NewPCG(c.Seed, uint64(l)+1))
		ly := layer{in: in, out: c.Width, w: make([]float32, in*c.Width), b: make([]float32, c.Width)}
		a := math.Sqrt(6 / float64(in))
		for i := range ly.w {
			ly.w[i] = float32((2*rng.Float64() - 1) * a)
		}
		for i := range ly.b {
			ly.b[i] = float32((2*rng.Float64() - 1) * 0.01)
		}
		m.layers = append(m.layers, ly)
		in = c.Width
	}
	m.scratch.New = func() any {
		n := c.Batch * m.widest
		return &scratch{a: make([]float32, n), b: make([]float32, n)}
	}
	return m, nil
}

// Name returns "cpu".
func (m *Model) Name() string { return "cpu" }

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// Outputs returns the number of outputs per sample (the classes).
func (m *Model) Outputs() int { return m.cfg.Width }

// Infer runs the batch through the model, Batch samples at a time, and
// discards the outputs. It returns ctx's error if ctx is done before or
// between chunks.
func (m *Model) Infer(ctx context.Context, batch []inference.Sample) error {
	s := m.scratch.Get().(*scratch)
	defer m.scratch.Put(s)
	for len(batch) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(batch), m.cfg.Batch)
		m.forward(s, batch[:n])
		batch = batch[n:]
	}
	return nil
}

// Forward writes the softmax outputs of every sample to out, Outputs()
// values per sample, in order; out must hold len(batch)·Outputs() values.
func (m *Model) Forward(batch []inference.Sample, out []float32) {
	s := m.scratch.Get().(*scratch)
	defer m.scratch.Put(s)
	w := m.cfg.Width
	for len(batch) > 0 {
		n := min(len(batch), m.cfg.Batch)
		res := m.forward(s, batch[:n])
		copy(out[:n*w], res)
		out, batch = out[n*w:], batch[n:]
	}
}

// Input writes the input of the sample at data-set index into dst, which
// must hold Config().Input values: uniform in [−1, 1), a pure function of
// the index and the seed.
func (m *Model) Input(index uint32, dst []float32) {
	state := splitmix(m.inputSeed ^ uint64(index)<<20 ^ 0x243f6a8885a308d3)
	for j := range dst[:m.cfg.Input] {
		state += 0x9e3779b97f4a7c15
		z := splitmix(state)
		dst[j] = float32(z>>40)/(1<<23) - 1
	}
}

// splitmix is SplitMix64's finaliser.
func splitmix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// forward runs at most Batch samples and returns their softmax outputs,
// len(batch)·Width values inside s.
func (m *Model) forward(s *scratch, batch []inference.Sample) []float32 {
	n := len(batch)
	in, out := s.a, s.b
	k := m.cfg.Input
	for i, smp := range batch {
		m.Input(smp.Index, in[i*k:(i+1)*k])
	}
	for l, ly := range m.layers {
		matmul(out[:n*ly.out], in[:n*ly.in], ly.w, ly.b, ly.in, ly.out)
		if l < len(m.layers)-1 {
			relu(out[:n*ly.out])
		}
		in, out = out, in
	}
	res := in[:n*m.cfg.Width]
	for i := range n {
		softmax(res[i*m.cfg.Width : (i+1)*m.cfg.Width])
	}
	return res
}
