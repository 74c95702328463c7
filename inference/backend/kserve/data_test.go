package kserve

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
	"github.com/gpuperf/gpuperf/inference/backend/kserve/kservetest"
	inferencev2 "github.com/gpuperf/gpuperf/proto/inference"
)

func TestFP16(t *testing.T) {
	for _, tc := range []struct {
		f    float32
		want uint16
	}{
		{0, 0x0000}, {1, 0x3c00}, {0.5, 0x3800}, {-2, 0xc000}, {65504, 0x7bff},
		{65520, 0x7c00},                 // rounds up past the largest finite value
		{0.1, 0x2e66},                   // 0.0999755859375 is nearest
		{5.9604645e-8, 0x0001},          // the smallest subnormal
		{1e-8, 0x0000},                  // below half of it
		{1.00048828125, 0x3c00},         // a tie: to even
		{1.00146484375, 0x3c02},         // a tie: to even, upwards
		{float32(math.Inf(-1)), 0xfc00}, // infinity stays infinite
	} {
		if got := fp16(tc.f); got != tc.want {
			t.Errorf("fp16(%v) = %#04x; want %#04x", tc.f, got, tc.want)
		}
	}
	if got := fp16(float32(math.NaN())); got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
		t.Errorf("fp16(NaN) = %#04x; want a NaN", got)
	}
	for _, tc := range []struct {
		f    float32
		want uint16
	}{{1, 0x3f80}, {0.1, 0x3dcd}, {-3, 0xc040}} {
		if got := bf16(tc.f); got != tc.want {
			t.Errorf("bf16(%v) = %#04x; want %#04x", tc.f, got, tc.want)
		}
	}
}

// writeNPY writes a format-1 .npy file.
func writeNPY(t *testing.T, path, descr string, shape []int64, data []byte) {
	t.Helper()
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, tuple)
	for (10+len(header)+1)%64 != 0 {
		header += " "
	}
	header += "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	b.WriteString(header)
	b.Write(data)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func f32s(vals ...float32) []byte {
	b := make([]byte, 0, 4*len(vals))
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// seq returns n FP32 values from start, as bytes.
func seq(start, n int) []byte {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(start + i)
	}
	return f32s(v...)
}

// sent runs samples 0..n-1 one per request, one request at a time,
// through a backend with the options kv against a server of models, and
// returns each request after the test request, in index order.
func sent(t *testing.T, models []kservetest.Model, n int, kv ...string) []*inferencev2.ModelInferRequest {
	t.Helper()
	var rec recorder
	srv := kservetest.New(t, kservetest.Options{Models: models, Inspect: rec.inspect})
	b := newBackend(t, srv, append([]string{"max_inflight=1"}, kv...)...)
	f := backendtest.Start(t, b)
	issue(b, 0, n, 1)
	if err := f.Wait(n, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := outcome(t, f, n); ok != n {
		t.Fatalf("%d of %d ok (%v)", ok, n, err)
	}
	b.Stop()
	reqs := rec.all()[1:]
	if len(reqs) != n {
		t.Fatalf("%d requests; want %d", len(reqs), n)
	}
	return reqs
}

// startFails returns the error of Start with options kv against models.
func startFails(t *testing.T, models []kservetest.Model, kv ...string) error {
	t.Helper()
	srv := kservetest.New(t, kservetest.Options{Models: models})
	return startErr(t, newBackend(t, srv, kv...), 10*time.Second)
}

func TestNPYInputs(t *testing.T) {
	dir := t.TempDir()
	simple := []kservetest.Model{kservetest.Simple()}
	three := filepath.Join(dir, "three.npy")
	writeNPY(t, three, "<f4", []int64{3, 16}, seq(0, 48))
	reqs := sent(t, simple, 4, "inputs="+three)
	for i, r := range reqs {
		// Data set index i sends sample i mod 3.
		if want := seq(16*(i%3), 16); !bytes.Equal(r.GetRawInputContents()[0], want) {
			t.Errorf("index %d sent %x; want sample %d of the file", i, r.GetRawInputContents()[0], i%3)
		}
	}

	one := filepath.Join(dir, "one.npy")
	writeNPY(t, one, "<f4", []int64{16}, seq(100, 16))
	for _, r := range sent(t, simple, 2, "inputs="+one) {
		if !bytes.Equal(r.GetRawInputContents()[0], seq(100, 16)) {
			t.Errorf("a one-sample file sent %x", r.GetRawInputContents()[0])
		}
	}

	// Big-endian data is swapped to the wire's little-endian.
	big := filepath.Join(dir, "big.npy")
	writeNPY(t, big, ">f4", []int64{16}, swapped(seq(7, 16), 4))
	if r := sent(t, simple, 1, "inputs="+big)[0]; !bytes.Equal(r.GetRawInputContents()[0], seq(7, 16)) {
		t.Errorf("a big-endian file sent %x", r.GetRawInputContents()[0])
	}

	for _, tc := range []struct {
		descr string
		shape []int64
		want  string
	}{
		{"<f4", []int64{3, 8}, `input "INPUT0": the input data gives shape [8], but the model's shape is [-1,16]`},
		{"<i4", []int64{16}, `dtype <i4 is INT32, but input "INPUT0" is FP32`},
		{"<f4", []int64{2, 2, 16}, "want one sample of rank 1 like [16], or samples of it with a leading count (leave the batch dimension out"},
		{"<U4", []int64{16}, "is not supported"},
	} {
		path := filepath.Join(dir, "bad.npy")
		n := int64(1)
		for _, d := range tc.shape {
			n *= d
		}
		writeNPY(t, path, tc.descr, tc.shape, make([]byte, n*4))
		if err := startFails(t, simple, "inputs="+path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: Start() = %v; want %q", tc.descr, tc.shape, err, tc.want)
		}
	}
	trunc := filepath.Join(dir, "trunc.npy")
	writeNPY(t, trunc, "<f4", []int64{2, 16}, seq(0, 20))
	if err := startFails(t, simple, "inputs="+trunc); err == nil || !strings.Contains(err.Error(), "needs 128 bytes of data, the file has 80") {
		t.Errorf("truncated .npy: Start() = %v", err)
	}
}

func TestRawInputs(t *testing.T) {
	dir := t.TempDir()
	simple := []kservetest.Model{kservetest.Simple()}
	path := filepath.Join(dir, "two.bin")
	if err := os.WriteFile(path, seq(0, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, r := range sent(t, simple, 3, "inputs="+path, "batch=1") {
		if want := seq(16*(i%2), 16); !bytes.Equal(r.GetRawInputContents()[0], want) {
			t.Errorf("index %d sent %x; want sample %d", i, r.GetRawInputContents()[0], i%2)
		}
	}
	if err := os.WriteFile(path, seq(0, 20), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := startFails(t, simple, "inputs="+path); err == nil || !strings.Contains(err.Error(), "80 bytes is not a whole number of FP32[16] samples") {
		t.Errorf("Start() = %v; want a size error", err)
	}
}

// multi is a model with three inputs of other datatypes and a variable
// sequence length.
func multi() kservetest.Model {
	return kservetest.Model{Name: "multi", Version: "1",
		Inputs: []kservetest.Tensor{
			{Name: "ids", Datatype: "INT64", Shape: []int64{-1, -1}},
			{Name: "text", Datatype: "BYTES", Shape: []int64{-1, 1}},
			{Name: "mask", Datatype: "FP16", Shape: []int64{-1, 4}},
		},
		Outputs: []kservetest.Tensor{{Name: "score", Datatype: "FP32", Shape: []int64{-1, 1}}}}
}

func TestJSONInputs(t *testing.T) {
	dir := t.TempDir()
	models := []kservetest.Model{multi()}
	path := filepath.Join(dir, "data.json")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"data": [
		{"ids": [1, 2, 3], "text": ["hello"], "mask": {"content": [0.5, 1, 0, 0], "shape": [4]}},
		{"ids": [9223372036854775807, 0, -1], "text": [""], "mask": [1, 1, 1, 1]}
	]}`)
	reqs := sent(t, models, 3, "inputs="+path, "model=multi")
	ids := func(v ...int64) []byte {
		b := make([]byte, 0, 8*len(v))
		for _, x := range v {
			b = binary.LittleEndian.AppendUint64(b, uint64(x))
		}
		return b
	}
	str := func(s string) []byte { return append(binary.LittleEndian.AppendUint32(nil, uint32(len(s))), s...) }
	want := [][][]byte{
		{ids(1, 2, 3), str("hello"), {0x00, 0x38, 0x00, 0x3c, 0, 0, 0, 0}},
		{ids(math.MaxInt64, 0, -1), str(""), {0x00, 0x3c, 0x00, 0x3c, 0x00, 0x3c, 0x00, 0x3c}},
	}
	for i, r := range reqs {
		for j, in := range r.GetInputs() {
			if got := r.GetRawInputContents()[j]; !bytes.Equal(got, want[i%2][j]) {
				t.Errorf("index %d input %s sent %x; want %x", i, in.GetName(), got, want[i%2][j])
			}
		}
		if s := fmtShape(r.GetInputs()[0].GetShape()); s != "[1,3]" {
			t.Errorf("ids shape %s; want [1,3] from the data", s)
		}
	}

	// A bare list of samples, and a shape option overriding nothing that
	// disagrees.
	write(`[{"ids": [[4, 5]], "text": ["a"], "mask": [0, 0, 0, 0]}]`)
	if err := startFails(t, models, "inputs="+path, "model=multi"); err == nil || !strings.Contains(err.Error(), `input "ids": the input data gives shape [1,2], but the model's shape is [-1,-1]`) {
		t.Errorf("nested ids of rank 2: Start() = %v", err)
	}

	for _, tc := range []struct{ json, want string }{
		{`{"data": [{"ids": [1], "text": ["a"], "mask": [0, 0, 0, 0]}, {"ids": [1, 2], "text": ["a"], "mask": [0, 0, 0, 0]}]}`,
			`input "ids": sample 1 has [2]; want [1]`},
		{`{"ids": [1], "text": ["a"], "mask": [0, 0, 0]}`, `input "mask": the input data gives shape [3], but the model's shape is [-1,4]`},
		{`{"ids": [1], "text": [7], "mask": [0, 0, 0, 0]}`, `input "text": element 0 (7): want a string for BYTES`},
		{`{"ids": [1.5], "text": ["a"], "mask": [0, 0, 0, 0]}`, `input "ids": element 0 (1.5): want an integer of 64 bits for INT64`},
		{`{"ids": [1], "text": ["a"]}`, `input "mask" has no data`},
		{`{"ids": [1], "text": ["a"], "mask": [0, 0, 0, 0], "extra": [1]}`, `the model has no input "extra"`},
		{`{"ids": [[1], [2, 3]], "text": ["a"], "mask": [0, 0, 0, 0]}`, "ragged lists"},
		{`{"data": []}`, "no samples"},
		{`[1, 2]`, "sample 0: want an object"},
		{`{"ids": [1], `, "unexpected EOF"},
	} {
		write(tc.json)
		if err := startFails(t, models, "inputs="+path, "model=multi"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Start() = %v; want %q", tc.json, err, tc.want)
		}
	}
}

// TestFilesPerInput feeds a multi-input model from one file per input.
func TestFilesPerInput(t *testing.T) {
	dir := t.TempDir()
	m := kservetest.Model{Name: "two", Version: "1",
		Inputs: []kservetest.Tensor{
			{Name: "a", Datatype: "FP32", Shape: []int64{-1, 2}},
			{Name: "b", Datatype: "UINT8", Shape: []int64{-1, 3}},
		},
		Outputs: []kservetest.Tensor{{Name: "y", Datatype: "FP32", Shape: []int64{-1, 1}}}}
	models := []kservetest.Model{m}
	a, bfile := filepath.Join(dir, "a.npy"), filepath.Join(dir, "b.raw")
	writeNPY(t, a, "<f4", []int64{2, 2}, seq(0, 4))
	if err := os.WriteFile(bfile, []byte{1, 2, 3, 4, 5, 6}, 0o600); err != nil {
		t.Fatal(err)
	}
	reqs := sent(t, models, 2, "model=two", "inputs=a:"+a+",b:"+bfile)
	for i, r := range reqs {
		if !bytes.Equal(r.GetRawInputContents()[0], seq(2*i, 2)) || !bytes.Equal(r.GetRawInputContents()[1], []byte{byte(3*i + 1), byte(3*i + 2), byte(3*i + 3)}) {
			t.Errorf("index %d sent %x", i, r.GetRawInputContents())
		}
	}
	for _, tc := range []struct {
		inputs, want string
	}{
		{a, `the model has 2 inputs (a, b); name the one this file feeds`},
		{"a:" + a, `input "b" has no data`},
		{"a:" + a + ",c:" + bfile, `the model has no input "c"`},
		{"a:" + a + ",a:" + a, `input "a" already has data`},
	} {
		if err := startFails(t, models, "model=two", "inputs="+tc.inputs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("inputs=%s: Start() = %v; want %q", tc.inputs, err, tc.want)
		}
	}
	// Sample counts must agree.
	writeNPY(t, a, "<f4", []int64{3, 2}, seq(0, 6))
	if err := startFails(t, models, "model=two", "inputs=a:"+a+",b:"+bfile); err == nil || !strings.Contains(err.Error(), `input "b" has 2 samples but input "a" has 3`) {
		t.Errorf("mismatched counts: Start() = %v", err)
	}
}

// TestRandomDatatypes checks generated values of each datatype.
func TestRandomDatatypes(t *testing.T) {
	m := kservetest.Model{Name: "types", Version: "1",
		Inputs: []kservetest.Tensor{
			{Name: "i64", Datatype: "INT64", Shape: []int64{-1, 64}},
			{Name: "u8", Datatype: "UINT8", Shape: []int64{-1, 64}},
			{Name: "bool", Datatype: "BOOL", Shape: []int64{-1, 64}},
			{Name: "half", Datatype: "FP16", Shape: []int64{-1, 64}},
			{Name: "str", Datatype: "BYTES", Shape: []int64{-1, 2}},
		},
		Outputs: []kservetest.Tensor{{Name: "y", Datatype: "FP32", Shape: []int64{-1, 1}}}}
	r := sent(t, []kservetest.Model{m}, 1, "model=types")[0]
	raw := r.GetRawInputContents()
	ones := 0
	for j := 0; j < 64; j++ {
		if v := int64(binary.LittleEndian.Uint64(raw[0][8*j:])); v < 0 || v >= 128 {
			t.Errorf("INT64 value %d outside [0, 128)", v)
		}
		if v := raw[1][j]; v >= 128 {
			t.Errorf("UINT8 value %d outside [0, 128)", v)
		}
		if v := raw[2][j]; v > 1 {
			t.Errorf("BOOL value %d", v)
		}
		ones += int(raw[2][j])
		if h := binary.LittleEndian.Uint16(raw[3][2*j:]); h >= 0x3c00 {
			t.Errorf("FP16 bits %#04x: not in [0, 1)", h)
		}
	}
	if ones == 0 || ones == 64 {
		t.Errorf("64 random BOOLs are all %d", raw[2][0])
	}
	if n, err := countBytesElements(raw[4]); n != 2 || err != nil || len(raw[4]) != 2*(4+randomBytesLen) {
		t.Errorf("BYTES data %q: %d elements (%v); want 2 of %d letters", raw[4], n, err, randomBytesLen)
	}
}

// TestCheckContents checks responses that carry outputs in contents
// rather than raw bytes, and BYTES outputs.
func TestCheckContents(t *testing.T) {
	sp := &spec{batched: true, outputs: []outputSpec{{name: "y", dtype: "INT32", size: 4, shape: []int64{-1, 2}}, {name: "s", dtype: "BYTES", shape: []int64{-1}}}}
	out := func(name, dtype string, shape []int64, c *inferencev2.InferTensorContents) *inferencev2.ModelInferResponse_InferOutputTensor {
		return &inferencev2.ModelInferResponse_InferOutputTensor{Name: name, Datatype: dtype, Shape: shape, Contents: c}
	}
	good := &inferencev2.ModelInferResponse{Outputs: []*inferencev2.ModelInferResponse_InferOutputTensor{
		out("y", "INT32", []int64{2, 2}, &inferencev2.InferTensorContents{IntContents: []int32{1, 2, 3, 4}}),
		out("s", "BYTES", []int64{2}, &inferencev2.InferTensorContents{BytesContents: [][]byte{[]byte("a"), nil}}),
	}}
	if err := sp.check(good, 2); err != nil {
		t.Fatalf("check(good) = %v", err)
	}
	short := &inferencev2.ModelInferResponse{Outputs: []*inferencev2.ModelInferResponse_InferOutputTensor{
		out("y", "INT32", []int64{2, 2}, &inferencev2.InferTensorContents{IntContents: []int32{1, 2, 3}}),
		good.Outputs[1],
	}}
	if err := sp.check(short, 2); err == nil || !strings.Contains(err.Error(), "shape [2,2] has 4 elements, the response carries 3") {
		t.Errorf("check(short) = %v", err)
	}
	missing := &inferencev2.ModelInferResponse{Outputs: good.Outputs[:1]}
	if err := sp.check(missing, 2); err == nil || !strings.Contains(err.Error(), `output "s" missing`) {
		t.Errorf("check(missing) = %v", err)
	}
	raw := &inferencev2.ModelInferResponse{
		Outputs:           []*inferencev2.ModelInferResponse_InferOutputTensor{out("y", "INT32", []int64{1, 2}, nil), out("s", "BYTES", []int64{1}, nil)},
		RawOutputContents: [][]byte{make([]byte, 8), {5, 0, 0, 0, 'x'}},
	}
	if err := sp.check(raw, 1); err == nil || !strings.Contains(err.Error(), "length 5 past the end") {
		t.Errorf("check(bad BYTES) = %v", err)
	}
	raw.RawOutputContents[1] = []byte{1, 0, 0, 0, 'x'}
	if err := sp.check(raw, 1); err != nil {
		t.Errorf("check(raw) = %v", err)
	}
}

// TestWireEncoding checks the hand-built request against protobuf's own
// decoding of it.
func TestWireEncoding(t *testing.T) {
	md := &inferencev2.ModelMetadataResponse{
		Inputs: []*inferencev2.ModelMetadataResponse_TensorMetadata{
			{Name: "a", Datatype: "FP32", Shape: []int64{-1, 2}},
			{Name: "b", Datatype: "BYTES", Shape: []int64{-1, 1}},
		},
		Outputs: []*inferencev2.ModelMetadataResponse_TensorMetadata{{Name: "y", Datatype: "FP32", Shape: []int64{-1, 1}}},
	}
	c := Config{Model: "m", ModelVersion: "3", Batch: 3}
	sp, err := newSpec(md, c)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sp.inputs {
		if err := sp.resolve(i, c, nil); err != nil {
			t.Fatal(err)
		}
	}
	str := func(s string) []byte { return append(binary.LittleEndian.AppendUint32(nil, uint32(len(s))), s...) }
	data := newDataset([][][]byte{{f32s(1, 2), str("x")}, {f32s(3, 4), str("yz")}})
	s := &session{cfg: &c, spec: sp, data: data}
	for _, tc := range []struct {
		id    string
		batch []uint32
	}{{"", []uint32{1}}, {"17", []uint32{0, 1, 2}}} {
		var batch []inference.Sample
		for _, x := range tc.batch {
			batch = append(batch, inference.Sample{Index: x})
		}
		w := s.encode(batch, tc.id)
		var got inferencev2.ModelInferRequest
		if err := proto.Unmarshal(w.parts.Materialize(), &got); err != nil {
			t.Fatalf("protobuf cannot decode the request: %v", err)
		}
		want := &inferencev2.ModelInferRequest{ModelName: "m", ModelVersion: "3", Id: tc.id, RawInputContents: [][]byte{nil, nil}}
		for i, name := range []string{"a", "b"} {
			want.Inputs = append(want.Inputs, &inferencev2.ModelInferRequest_InferInputTensor{
				Name: name, Datatype: md.Inputs[i].Datatype, Shape: []int64{int64(len(batch)), map[int]int64{0: 2, 1: 1}[i]}})
			for _, x := range tc.batch {
				want.RawInputContents[i] = append(want.RawInputContents[i], data.sample(x)[i]...)
			}
		}
		if !proto.Equal(&got, want) {
			t.Errorf("encode(%v, %q) decodes to %v; want %v", tc.batch, tc.id, &got, want)
		}
	}
}
