package cuda

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gpuperf/gpuperf/inference/backend"
)

// Option names, as given to New.
const (
	OptLayers  = "layers"
	OptHidden  = "hidden"
	OptHeads   = "heads"
	OptFFN     = "ffn"
	OptSeq     = "seq"
	OptVocab   = "vocab"
	OptBatch   = "batch"
	OptDType   = "dtype"
	OptStreams = "streams"
	OptGraphs  = "graphs"
	OptDevice  = "device"
	OptSeed    = "seed"
	OptCheck   = "check"
)

// DType is how activations and weights are stored on the device.
type DType int

const (
	// FP16 stores them in binary16 and multiplies on the tensor cores
	// (WMMA), accumulating in fp32.
	FP16 DType = iota
	// FP32 stores and multiplies in fp32 on the CUDA cores.
	FP32
)

func (d DType) String() string {
	if d == FP32 {
		return "fp32"
	}
	return "fp16"
}

// size is bytes per stored value.
func (d DType) size() int {
	if d == FP32 {
		return 4
	}
	return 2
}

// round is v as stored in d and read back.
func (d DType) round(v float32) float32 {
	if d == FP32 {
		return v
	}
	return roundHalf(v)
}

func parseDType(s string) (DType, error) {
	switch strings.ToLower(s) {
	case "fp16", "half", "float16":
		return FP16, nil
	case "fp32", "float", "float32":
		return FP32, nil
	}
	return 0, fmt.Errorf("option %s=%q: want fp16 or fp32", OptDType, s)
}

// Limits that keep a typo from asking for more than a GPU has, and the
// attention kernel within its shared memory (4·(head size + seq) floats).
const (
	maxParams   = 2 << 30
	maxAttnSmem = 48 << 10
)

// Config describes the encoder and how it is served.
type Config struct {
	Layers  int   // transformer blocks
	Hidden  int   // model width
	Heads   int   // attention heads; Hidden must divide by it
	FFN     int   // the MLP's inner width
	Seq     int   // tokens per sample
	Vocab   int   // token embedding rows
	Batch   int   // most samples per launch
	DType   DType // storage and arithmetic
	Streams int   // batches in flight, each on its own stream
	Graphs  bool  // replay each batch as a CUDA graph
	Device  int   // CUDA device ordinal
	Seed    uint64
	// Check compares the device's output for a first batch with the Go
	// reference before the backend serves anything.
	Check bool
}

// DefaultConfig is BERT-base (12 layers, width 768, 12 heads, MLP 3072,
// vocabulary 30522) over 128 tokens, in batches of up to 8, fp16, two
// streams, no graphs, device 0, seed 1, the check on.
func DefaultConfig() Config {
	return Config{Layers: 12, Hidden: 768, Heads: 12, FFN: 3072, Seq: 128, Vocab: 30522,
		Batch: 8, DType: FP16, Streams: 2, Device: 0, Seed: 1, Check: true}
}

// ParseConfig reads a Config from options, starting from DefaultConfig
// (ffn follows hidden, 4× it, unless given), and validates it.
func ParseConfig(opts map[string]string) (Config, error) {
	if err := backend.CheckKnown(opts, OptLayers, OptHidden, OptHeads, OptFFN, OptSeq, OptVocab, OptBatch,
		OptDType, OptStreams, OptGraphs, OptDevice, OptSeed, OptCheck); err != nil {
		return Config{}, fmt.Errorf("cuda: %w", err)
	}
	c := DefaultConfig()
	r := backend.NewReader(opts)
	r.Int(OptLayers, &c.Layers)
	r.Int(OptHidden, &c.Hidden)
	c.FFN = 4 * c.Hidden
	r.Int(OptHeads, &c.Heads)
	r.Int(OptFFN, &c.FFN)
	r.Int(OptSeq, &c.Seq)
	r.Int(OptVocab, &c.Vocab)
	r.Int(OptBatch, &c.Batch)
	r.Int(OptStreams, &c.Streams)
	r.Bool(OptGraphs, &c.Graphs)
	r.Int(OptDevice, &c.Device)
	r.Seed(OptSeed, &c.Seed)
	r.Bool(OptCheck, &c.Check)
	if v, ok := opts[OptDType]; ok {
		d, err := parseDType(v)
		r.Fail(err)
		c.DType = d
	}
	if err := r.Err(); err != nil {
		return Config{}, fmt.Errorf("cuda: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		key string
		v   int
	}{
		{OptLayers, c.Layers}, {OptHidden, c.Hidden}, {OptHeads, c.Heads}, {OptFFN, c.FFN},
		{OptSeq, c.Seq}, {OptVocab, c.Vocab}, {OptBatch, c.Batch}, {OptStreams, c.Streams},
	} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("%s=%d: want at least 1", f.key, f.v))
		}
	}
	if c.Device < 0 {
		errs = append(errs, fmt.Errorf("%s=%d: want a device ordinal, 0 or more", OptDevice, c.Device))
	}
	if len(errs) == 0 {
		if c.Hidden%c.Heads != 0 {
			errs = append(errs, fmt.Errorf("%s=%d %s=%d: the width must divide into the heads", OptHidden, c.Hidden, OptHeads, c.Heads))
		} else if s := c.attentionSmem(); s > maxAttnSmem {
			errs = append(errs, fmt.Errorf("%s=%d with head size %d: attention needs %d bytes of shared memory; want at most %d (seq + head size ≤ %d)",
				OptSeq, c.Seq, c.headDim(), s, maxAttnSmem, maxAttnSmem/16))
		}
		if p := c.Params(); p > maxParams {
			errs = append(errs, fmt.Errorf("%s=%d %s=%d %s=%d %s=%d: %d weights; want at most %d",
				OptLayers, c.Layers, OptHidden, c.Hidden, OptFFN, c.FFN, OptVocab, c.Vocab, p, maxParams))
		}
		if c.Streams > 64 {
			errs = append(errs, fmt.Errorf("%s=%d: want at most 64", OptStreams, c.Streams))
		}
		if c.Batch*c.Seq > 1<<20 {
			errs = append(errs, fmt.Errorf("%s=%d %s=%d: %d tokens per batch; want at most %d", OptBatch, c.Batch, OptSeq, c.Seq, c.Batch*c.Seq, 1<<20))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	return nil
}

func (c Config) headDim() int { return c.Hidden / c.Heads }

// attentionSmem is the attention kernel's dynamic shared memory in bytes.
func (c Config) attentionSmem() int { return attWarps * (c.headDim() + c.Seq) * 4 }

// Params counts the weights, biases and embeddings.
func (c Config) Params() int {
	h, f := c.Hidden, c.FFN
	perLayer := h*3*h + 3*h + h*h + h + h*f + f + f*h + h + 4*h
	return c.Vocab*h + c.Seq*h + 2*h + c.Layers*perLayer + h*headOut + headOut
}

// FLOPs is one sample's forward pass in floating-point operations, a
// multiply-add counting two: the dense layers and attention's two
// products.
func (c Config) FLOPs() int {
	h, f, s := c.Hidden, c.FFN, c.Seq
	dense := 2 * s * (h*3*h + h*h + h*f + f*h)
	attn := 2 * 2 * s * s * h
	return c.Layers*(dense+attn) + 2*s*h*headOut
}

// String is the configuration as options, for logs and facts.
func (c Config) String() string {
	return fmt.Sprintf("layers=%d hidden=%d heads=%d ffn=%d seq=%d vocab=%d batch=%d dtype=%s streams=%d graphs=%t device=%d seed=%d",
		c.Layers, c.Hidden, c.Heads, c.FFN, c.Seq, c.Vocab, c.Batch, c.DType, c.Streams, c.Graphs, c.Device, c.Seed)
}
