package kserve

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// readFile reads an input file, refusing one larger than the data bound.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxDataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxDataBytes {
		return nil, fmt.Errorf("%s: larger than the %d MiB allowed for input data", path, maxDataBytes>>20)
	}
	return b, nil
}

// readRaw splits a file of raw bytes (row-major, little-endian) into
// samples of in's resolved shape.
func readRaw(path string, in *inputSpec) ([]tensorData, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	per := in.sampleBytes()
	if per == 0 || int64(len(b))%per != 0 || len(b) == 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of %s%s samples of input %q (%d bytes each)",
			path, len(b), in.dtype, fmtShape(in.shape), in.name, per)
	}
	out := make([]tensorData, int64(len(b))/per)
	for k := range out {
		out[k] = tensorData{raw: b[int64(k)*per : int64(k+1)*per], elems: in.elems}
	}
	return out, nil
}

// npyTypes maps NumPy's type codes (kind and size, without byte order) to
// the protocol's datatypes.
var npyTypes = map[string]string{
	"b1": "BOOL", "u1": "UINT8", "u2": "UINT16", "u4": "UINT32", "u8": "UINT64",
	"i1": "INT8", "i2": "INT16", "i4": "INT32", "i8": "INT64",
	"f2": "FP16", "f4": "FP32", "f8": "FP64",
}

var (
	npyDescr   = regexp.MustCompile(`'descr'\s*:\s*'([<>|=])([a-z]\d+)'`)
	npyFortran = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// readNPY reads a NumPy .npy file (format 1, 2 or 3, C order) for input
// in. An array of the rank of one sample is one sample; an array with one
// more leading dimension is that many samples.
func readNPY(path string, in *inputSpec, batched bool) ([]tensorData, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...))
	}
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return nil, fail("not a .npy file")
	}
	var hlen, off int
	switch b[6] {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(b[8:])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, fail("truncated header")
		}
		hlen, off = int(binary.LittleEndian.Uint32(b[8:])), 12
	default:
		return nil, fail(".npy format version %d is not supported", b[6])
	}
	if off+hlen > len(b) {
		return nil, fail("truncated header")
	}
	header, data := string(b[off:off+hlen]), b[off+hlen:]
	d := npyDescr.FindStringSubmatch(header)
	if d == nil {
		return nil, fail("dtype %q is not supported (want bool, integers or floats)", header)
	}
	dtype, ok := npyTypes[d[2]]
	if !ok {
		return nil, fail("dtype %s%s is not supported (want bool, integers or floats)", d[1], d[2])
	}
	if dtype != in.dtype {
		return nil, fail("dtype %s%s is %s, but input %q is %s", d[1], d[2], dtype, in.name, in.dtype)
	}
	if f := npyFortran.FindStringSubmatch(header); f == nil || f[1] == "True" {
		return nil, fail("only C-ordered arrays are supported (fortran_order must be False)")
	}
	sm := npyShape.FindStringSubmatch(header)
	if sm == nil {
		return nil, fail("no shape in the header")
	}
	var shape []int64
	for _, f := range strings.Split(sm[1], ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 0 {
			return nil, fail("bad shape (%s)", sm[1])
		}
		shape = append(shape, n)
	}
	total, err := elements(shape)
	if err != nil {
		return nil, fail("%v", err)
	}
	if int64(len(data)) != total*int64(in.size) {
		return nil, fail("shape %s needs %d bytes of data, the file has %d", fmtShape(shape), total*int64(in.size), len(data))
	}
	if d[1] == ">" && in.size > 1 {
		data = swapped(data, in.size)
	}
	var samples int64
	var one []int64
	switch len(shape) {
	case len(in.shape):
		samples, one = 1, shape
	case len(in.shape) + 1:
		samples, one = shape[0], shape[1:]
	default:
		note := ""
		if batched {
			note = " (leave the batch dimension out of one sample's shape)"
		}
		return nil, fail("shape %s: want one sample of rank %d like %s, or samples of it with a leading count%s",
			fmtShape(shape), len(in.shape), fmtShape(in.shape), note)
	}
	per, _ := elements(one)
	out := make([]tensorData, samples)
	for k := range out {
		n := per * int64(in.size)
		out[k] = tensorData{shape: one, raw: data[int64(k)*n : int64(k+1)*n], elems: per}
	}
	return out, nil
}

// swapped returns data with every size-byte element's bytes reversed.
func swapped(data []byte, size int) []byte {
	out := make([]byte, len(data))
	for i := 0; i+size <= len(data); i += size {
		for j := range size {
			out[i+j] = data[i+size-1-j]
		}
	}
	return out
}

// readJSON reads input data in perf_analyzer's JSON layout: {"data":
// [sample, ...]}, a bare [sample, ...], or one sample. A sample maps input
// names to values: a flat or nested list of elements (nesting gives the
// shape), or {"content": [...], "shape": [...]}. BYTES elements are
// strings. It returns the samples of each input the file names.
func readJSON(path string, s *spec) ([][]tensorData, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var list []any
	switch v := top.(type) {
	case []any:
		list = v
	case map[string]any:
		if d, ok := v["data"]; ok && len(v) == 1 {
			if list, ok = d.([]any); !ok {
				return nil, fmt.Errorf("%s: \"data\" must be a list of samples", path)
			}
		} else {
			list = []any{v}
		}
	default:
		return nil, fmt.Errorf("%s: want an object or a list of samples", path)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s: no samples", path)
	}
	out := make([][]tensorData, len(s.inputs))
	for k, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: sample %d: want an object mapping input names to values", path, k)
		}
		for name := range m {
			if !slicesContainsInput(s, name) {
				return nil, fmt.Errorf("%s: sample %d: the model has no input %q (inputs: %s)", path, k, name, s.inputNames())
			}
		}
		for i := range s.inputs {
			in := &s.inputs[i]
			v, ok := m[in.name]
			if !ok {
				if k > 0 && out[i] != nil {
					return nil, fmt.Errorf("%s: sample %d: input %q missing", path, k, in.name)
				}
				continue
			}
			if k > 0 && out[i] == nil {
				return nil, fmt.Errorf("%s: sample %d: input %q given, but not in sample 0", path, k, in.name)
			}
			t, err := jsonTensor(v, in)
			if err != nil {
				return nil, fmt.Errorf("%s: sample %d: input %q: %w", path, k, in.name, err)
			}
			out[i] = append(out[i], t)
		}
	}
	return out, nil
}

func slicesContainsInput(s *spec, name string) bool {
	for _, in := range s.inputs {
		if in.name == name {
			return true
		}
	}
	return false
}

// jsonTensor converts one JSON value to a sample of in.
func jsonTensor(v any, in *inputSpec) (tensorData, error) {
	var shape []int64
	if m, ok := v.(map[string]any); ok {
		content, ok := m["content"]
		if !ok {
			return tensorData{}, fmt.Errorf("want a list or {\"content\": [...], \"shape\": [...]}")
		}
		if sv, ok := m["shape"]; ok {
			list, ok := sv.([]any)
			if !ok {
				return tensorData{}, fmt.Errorf("\"shape\" must be a list of dimensions")
			}
			for _, d := range list {
				n, ok := d.(json.Number)
				x, err := strconv.ParseInt(string(n), 10, 64)
				if !ok || err != nil || x < 0 {
					return tensorData{}, fmt.Errorf("\"shape\": %v is not a dimension", d)
				}
				shape = append(shape, x)
			}
			if shape == nil {
				shape = []int64{}
			}
		}
		v = content
	}
	var flat []any
	nested, err := flatten(v, &flat, 0)
	if err != nil {
		return tensorData{}, err
	}
	// A flat list gives a shape only to an input of rank 1; otherwise the
	// element count is checked against the resolved shape.
	if shape == nil && (len(nested) > 1 || len(in.shape) == 1) {
		shape = nested
	}
	if shape != nil {
		n, err := elements(shape)
		if err != nil {
			return tensorData{}, err
		}
		if n != int64(len(flat)) {
			return tensorData{}, fmt.Errorf("shape %s needs %d elements, got %d", fmtShape(shape), n, len(flat))
		}
	}
	raw, err := encodeElements(flat, in.dtype, in.size)
	if err != nil {
		return tensorData{}, err
	}
	return tensorData{shape: shape, raw: raw, elems: int64(len(flat))}, nil
}

// flatten appends v's elements to flat in row-major order and returns the
// shape its nesting gives; the nesting must be rectangular.
func flatten(v any, flat *[]any, depth int) ([]int64, error) {
	if depth > 32 {
		return nil, fmt.Errorf("lists nested too deep")
	}
	list, ok := v.([]any)
	if !ok {
		*flat = append(*flat, v)
		return []int64{}, nil
	}
	var inner []int64
	for j, e := range list {
		sh, err := flatten(e, flat, depth+1)
		if err != nil {
			return nil, err
		}
		if j == 0 {
			inner = sh
		} else if fmtShape(sh) != fmtShape(inner) {
			return nil, fmt.Errorf("ragged lists: element %d has shape %s, element 0 %s", j, fmtShape(sh), fmtShape(inner))
		}
	}
	return append([]int64{int64(len(list))}, inner...), nil
}

// encodeElements writes JSON elements as raw little-endian values of dtype.
func encodeElements(flat []any, dtype string, size int) ([]byte, error) {
	out := make([]byte, 0, len(flat)*max(size, 1))
	for j, e := range flat {
		bad := func(want string) error { return fmt.Errorf("element %d (%v): want %s for %s", j, e, want, dtype) }
		if dtype == "BYTES" {
			str, ok := e.(string)
			if !ok {
				return nil, bad("a string")
			}
			out = binary.LittleEndian.AppendUint32(out, uint32(len(str)))
			out = append(out, str...)
			continue
		}
		if dtype == "BOOL" {
			switch x := e.(type) {
			case bool:
				out = append(out, map[bool]byte{false: 0, true: 1}[x])
			case json.Number:
				if x != "0" && x != "1" {
					return nil, bad("true, false, 0 or 1")
				}
				out = append(out, x.String()[0]-'0')
			default:
				return nil, bad("true, false, 0 or 1")
			}
			continue
		}
		n, ok := e.(json.Number)
		if !ok {
			return nil, bad("a number")
		}
		switch dtype {
		case "FP16", "BF16", "FP32", "FP64":
			f, err := strconv.ParseFloat(string(n), 64)
			if err != nil {
				return nil, bad("a number")
			}
			switch dtype {
			case "FP16":
				out = binary.LittleEndian.AppendUint16(out, fp16(float32(f)))
			case "BF16":
				out = binary.LittleEndian.AppendUint16(out, bf16(float32(f)))
			case "FP32":
				out = binary.LittleEndian.AppendUint32(out, math.Float32bits(float32(f)))
			default:
				out = binary.LittleEndian.AppendUint64(out, math.Float64bits(f))
			}
		case "UINT8", "UINT16", "UINT32", "UINT64":
			x, err := strconv.ParseUint(string(n), 10, size*8)
			if err != nil {
				return nil, bad(fmt.Sprintf("an integer in 0..%d", uint64(1)<<(size*8)-1))
			}
			out = appendInt(out, x, size)
		default: // INT8..INT64
			x, err := strconv.ParseInt(string(n), 10, size*8)
			if err != nil {
				return nil, bad(fmt.Sprintf("an integer of %d bits", size*8))
			}
			out = appendInt(out, uint64(x), size)
		}
	}
	return out, nil
}

func appendInt(out []byte, x uint64, size int) []byte {
	switch size {
	case 1:
		return append(out, byte(x))
	case 2:
		return binary.LittleEndian.AppendUint16(out, uint16(x))
	case 4:
		return binary.LittleEndian.AppendUint32(out, uint32(x))
	}
	return binary.LittleEndian.AppendUint64(out, x)
}
