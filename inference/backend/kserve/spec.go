package kserve

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	inferencev2 "github.com/gpuperf/gpuperf/proto/inference"
)

// inputSpec is one model input as requests carry it.
type inputSpec struct {
	name  string
	dtype string
	size  int     // bytes per element; 0 for BYTES
	meta  []int64 // the shape ModelMetadata reports
	shape []int64 // one sample's shape: meta without the batch dimension, variable dimensions resolved
	elems int64   // elements of one sample
}

// sampleBytes is the raw size of one sample of a fixed-size datatype.
func (in *inputSpec) sampleBytes() int64 { return in.elems * int64(in.size) }

// outputSpec is one model output as ModelMetadata reports it.
type outputSpec struct {
	name  string
	dtype string
	size  int
	shape []int64
}

// spec is what a request to the model looks like.
type spec struct {
	// batched: the first dimension of every input and output is the batch
	// dimension, which carries the number of samples in a request.
	batched bool
	inputs  []inputSpec
	outputs []outputSpec
}

// newSpec reads the model's inputs and outputs from its metadata. Shapes
// of one sample stay unresolved (the metadata's, with -1 for variable
// dimensions) until resolve.
func newSpec(md *inferencev2.ModelMetadataResponse, c Config) (*spec, error) {
	if len(md.GetInputs()) == 0 {
		return nil, fmt.Errorf("model %q: the metadata lists no inputs", c.Model)
	}
	s := &spec{batched: true}
	var errs []error
	seen := map[string]bool{}
	for _, t := range md.GetInputs() {
		size, ok := elemSize(t.GetDatatype())
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("input %q: unknown datatype %q", t.GetName(), t.GetDatatype()))
			continue
		case seen[t.GetName()]:
			errs = append(errs, fmt.Errorf("input %q: listed twice", t.GetName()))
			continue
		}
		seen[t.GetName()] = true
		meta := slices.Clone(t.GetShape())
		in := inputSpec{name: t.GetName(), dtype: t.GetDatatype(), size: size, meta: meta}
		// A shape option with every dimension of the metadata gives the
		// whole request shape: that input, and so the model, has no batch
		// dimension.
		full := len(shapeOption(c, in.name, len(md.GetInputs()))) == len(meta)
		if len(meta) == 0 || meta[0] != -1 || full {
			s.batched = false
		}
		s.inputs = append(s.inputs, in)
	}
	for _, t := range md.GetOutputs() {
		size, ok := elemSize(t.GetDatatype())
		if !ok {
			errs = append(errs, fmt.Errorf("output %q: unknown datatype %q", t.GetName(), t.GetDatatype()))
			continue
		}
		s.outputs = append(s.outputs, outputSpec{name: t.GetName(), dtype: t.GetDatatype(), size: size, shape: slices.Clone(t.GetShape())})
	}
	for name := range c.Shapes {
		if name != "" && !seen[name] {
			errs = append(errs, fmt.Errorf("option %s: the model has no input %q (inputs: %s)", OptShape, name, s.inputNames()))
		}
	}
	if _, ok := c.Shapes[""]; ok && len(s.inputs) > 1 {
		errs = append(errs, fmt.Errorf("option %s: the model has %d inputs (%s); name each one (NAME:3x224x224,...)", OptShape, len(s.inputs), s.inputNames()))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("model %q: %w", c.Model, err)
	}
	if !s.batched && c.Batch > 1 {
		return nil, fmt.Errorf("model %q has no batch dimension (inputs %s): %s=%d needs a first dimension of -1; use %s=1",
			c.Model, s.describeInputs(), OptBatch, c.Batch, OptBatch)
	}
	for i := range s.inputs {
		in := &s.inputs[i]
		in.shape = in.meta
		if s.batched {
			in.shape = in.meta[1:]
		}
	}
	return s, nil
}

// shapeOption returns the shape option for input name, if any.
func shapeOption(c Config, name string, inputs int) []int64 {
	if d, ok := c.Shapes[name]; ok {
		return d
	}
	if inputs == 1 {
		return c.Shapes[""]
	}
	return nil
}

// resolve fixes input i's sample shape: from the shape option, else from
// the data (a file that carries shapes), else from the metadata alone.
// Every source must agree with the metadata's fixed dimensions.
func (s *spec) resolve(i int, c Config, fromData []int64) error {
	in := &s.inputs[i]
	want := in.shape
	pick, from := want, "the model's metadata"
	if d := shapeOption(c, in.name, len(s.inputs)); d != nil {
		pick, from = d, "option "+OptShape
	} else if fromData != nil {
		pick, from = fromData, "the input data"
	}
	if len(pick) != len(want) {
		return fmt.Errorf("input %q: %s gives shape %s, but the model's shape is %s (%s)",
			in.name, from, fmtShape(pick), fmtShape(in.meta), s.batchNote())
	}
	for j, d := range want {
		if d != -1 && pick[j] != d {
			return fmt.Errorf("input %q: %s gives shape %s, but the model's shape is %s (%s)",
				in.name, from, fmtShape(pick), fmtShape(in.meta), s.batchNote())
		}
		if pick[j] < 0 {
			return fmt.Errorf("input %q: shape %s has variable dimensions; give them with %s=%s",
				in.name, fmtShape(in.meta), OptShape, shapeExample(in, len(s.inputs)))
		}
	}
	n, err := elements(pick)
	if err != nil {
		return fmt.Errorf("input %q: %w", in.name, err)
	}
	in.shape, in.elems = slices.Clone(pick), n
	return nil
}

func (s *spec) batchNote() string {
	if s.batched {
		return "one sample's shape leaves out the batch dimension"
	}
	return "the model has no batch dimension"
}

func shapeExample(in *inputSpec, inputs int) string {
	var parts []string
	for _, d := range in.shape {
		if d < 0 {
			d = 8
		}
		parts = append(parts, fmt.Sprint(d))
	}
	ex := strings.Join(parts, "x")
	if inputs > 1 {
		ex = in.name + ":" + ex
	}
	return ex
}

func (s *spec) inputNames() string {
	names := make([]string, len(s.inputs))
	for i, in := range s.inputs {
		names[i] = in.name
	}
	return strings.Join(names, ", ")
}

func (s *spec) describeInputs() string {
	parts := make([]string, len(s.inputs))
	for i, in := range s.inputs {
		parts[i] = in.name + " " + in.dtype + fmtShape(in.meta)
	}
	return strings.Join(parts, ", ")
}

// requestShape returns input i's shape in a request of n samples.
func (s *spec) requestShape(i, n int) []int64 {
	if !s.batched {
		return s.inputs[i].shape
	}
	return append([]int64{int64(n)}, s.inputs[i].shape...)
}

// String describes the resolved request for one sample, for the
// fingerprint: "INPUT0 FP32[-1,16] as [1,16]".
func (s *spec) String() string {
	parts := make([]string, len(s.inputs))
	for i, in := range s.inputs {
		parts[i] = fmt.Sprintf("%s %s%s as %s", in.name, in.dtype, fmtShape(in.meta), fmtShape(s.requestShape(i, 1)))
	}
	return strings.Join(parts, "; ")
}
