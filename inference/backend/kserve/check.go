package kserve

import (
	"errors"
	"fmt"

	inferencev2 "github.com/gpuperf/gpuperf/proto/inference"
)

// ErrMalformed is wrapped by the error of a response that does not match
// the model's metadata or the request.
var ErrMalformed = errors.New("malformed response")

// check validates a response to a request of n samples: every output the
// metadata lists is present, with its datatype, a shape that agrees with
// the metadata (the batch dimension equal to n), and data of exactly that
// many elements, raw or in contents.
func (s *spec) check(resp *inferencev2.ModelInferResponse, n int) error {
	outs := resp.GetOutputs()
	if len(outs) == 0 {
		return fmt.Errorf("%w: no outputs", ErrMalformed)
	}
	raw := resp.GetRawOutputContents()
	if len(raw) > 0 && len(raw) != len(outs) {
		return fmt.Errorf("%w: %d raw_output_contents for %d outputs", ErrMalformed, len(raw), len(outs))
	}
	seen := make(map[string]bool, len(outs))
	for j, o := range outs {
		seen[o.GetName()] = true
		var want *outputSpec
		for k := range s.outputs {
			if s.outputs[k].name == o.GetName() {
				want = &s.outputs[k]
			}
		}
		size, ok := elemSize(o.GetDatatype())
		if !ok {
			return fmt.Errorf("%w: output %q: unknown datatype %q", ErrMalformed, o.GetName(), o.GetDatatype())
		}
		if want != nil {
			if o.GetDatatype() != want.dtype {
				return fmt.Errorf("%w: output %q is %s; the model's metadata says %s", ErrMalformed, o.GetName(), o.GetDatatype(), want.dtype)
			}
			if err := s.checkShape(o.GetShape(), want.shape, n); err != nil {
				return fmt.Errorf("%w: output %q: %w", ErrMalformed, o.GetName(), err)
			}
		}
		elems, err := elements(o.GetShape())
		if err != nil {
			return fmt.Errorf("%w: output %q: %w", ErrMalformed, o.GetName(), err)
		}
		var got int64
		switch {
		case len(raw) > 0 && o.GetContents() != nil:
			return fmt.Errorf("%w: output %q has both contents and raw_output_contents", ErrMalformed, o.GetName())
		case len(raw) > 0 && size == 0:
			if got, err = countBytesElements(raw[j]); err != nil {
				return fmt.Errorf("%w: output %q: %w", ErrMalformed, o.GetName(), err)
			}
		case len(raw) > 0:
			if int64(len(raw[j]))%int64(size) != 0 {
				return fmt.Errorf("%w: output %q: %d raw bytes is not a whole number of %s elements", ErrMalformed, o.GetName(), len(raw[j]), o.GetDatatype())
			}
			got = int64(len(raw[j])) / int64(size)
		default:
			got = contentCount(o.GetContents(), o.GetDatatype())
		}
		if got != elems {
			return fmt.Errorf("%w: output %q: shape %s has %d elements, the response carries %d", ErrMalformed, o.GetName(), fmtShape(o.GetShape()), elems, got)
		}
	}
	for _, w := range s.outputs {
		if !seen[w.name] {
			return fmt.Errorf("%w: output %q missing", ErrMalformed, w.name)
		}
	}
	return nil
}

// checkShape compares an output's shape with the metadata's.
func (s *spec) checkShape(got, meta []int64, n int) error {
	if len(got) != len(meta) {
		return fmt.Errorf("shape %s; the model's metadata says %s", fmtShape(got), fmtShape(meta))
	}
	for i, d := range meta {
		switch {
		case i == 0 && s.batched && d == -1:
			if got[0] != int64(n) {
				return fmt.Errorf("shape %s for a request of %d samples", fmtShape(got), n)
			}
		case d != -1 && got[i] != d:
			return fmt.Errorf("shape %s; the model's metadata says %s", fmtShape(got), fmtShape(meta))
		}
	}
	return nil
}

// contentCount returns the number of elements in the contents field of
// dtype.
func contentCount(c *inferencev2.InferTensorContents, dtype string) int64 {
	switch dtype {
	case "BOOL":
		return int64(len(c.GetBoolContents()))
	case "INT8", "INT16", "INT32":
		return int64(len(c.GetIntContents()))
	case "INT64":
		return int64(len(c.GetInt64Contents()))
	case "UINT8", "UINT16", "UINT32":
		return int64(len(c.GetUintContents()))
	case "UINT64":
		return int64(len(c.GetUint64Contents()))
	case "FP32":
		return int64(len(c.GetFp32Contents()))
	case "FP64":
		return int64(len(c.GetFp64Contents()))
	case "BYTES":
		return int64(len(c.GetBytesContents()))
	}
	return 0 // FP16 and BF16 travel only as raw bytes
}
