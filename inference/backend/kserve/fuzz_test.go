package kserve

import (
	"testing"

	"google.golang.org/protobuf/proto"

	inferencev2 "github.com/gpuperf/gpuperf/proto/inference"
)

// FuzzCheckResponse feeds check arbitrary Open Inference Protocol
// responses, as a server may send them: it must return an error or nil,
// never panic, whatever the shapes, datatypes and contents say.
func FuzzCheckResponse(f *testing.F) {
	seed := func(r *inferencev2.ModelInferResponse, n int) {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, n)
	}
	out := func(name, dtype string, shape []int64, c *inferencev2.InferTensorContents) *inferencev2.ModelInferResponse_InferOutputTensor {
		return &inferencev2.ModelInferResponse_InferOutputTensor{Name: name, Datatype: dtype, Shape: shape, Contents: c}
	}
	seed(&inferencev2.ModelInferResponse{Outputs: []*inferencev2.ModelInferResponse_InferOutputTensor{
		out("y", "INT32", []int64{2, 2}, &inferencev2.InferTensorContents{IntContents: []int32{1, 2, 3, 4}}),
		out("s", "BYTES", []int64{2}, &inferencev2.InferTensorContents{BytesContents: [][]byte{[]byte("a"), nil}}),
	}}, 2)
	seed(&inferencev2.ModelInferResponse{
		Outputs:           []*inferencev2.ModelInferResponse_InferOutputTensor{out("y", "INT32", []int64{1, 2}, nil), out("s", "BYTES", []int64{1}, nil)},
		RawOutputContents: [][]byte{make([]byte, 8), {1, 0, 0, 0, 'x'}},
	}, 1)
	seed(&inferencev2.ModelInferResponse{Outputs: []*inferencev2.ModelInferResponse_InferOutputTensor{
		out("y", "FP16", []int64{-1, 1 << 40}, nil),
	}}, 3)
	sp := &spec{batched: true, outputs: []outputSpec{
		{name: "y", dtype: "INT32", size: 4, shape: []int64{-1, 2}},
		{name: "s", dtype: "BYTES", shape: []int64{-1}},
	}}
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		var resp inferencev2.ModelInferResponse
		if proto.Unmarshal(data, &resp) != nil {
			return
		}
		_ = sp.check(&resp, n)
	})
}

// FuzzModelMetadata feeds newSpec arbitrary model metadata, as a server
// may describe its model: an error or a spec, never a panic.
func FuzzModelMetadata(f *testing.F) {
	md := &inferencev2.ModelMetadataResponse{
		Name: "resnet50",
		Inputs: []*inferencev2.ModelMetadataResponse_TensorMetadata{
			{Name: "x", Datatype: "FP32", Shape: []int64{-1, 3, 224, 224}},
		},
		Outputs: []*inferencev2.ModelMetadataResponse_TensorMetadata{
			{Name: "y", Datatype: "FP32", Shape: []int64{-1, 1000}},
		},
	}
	b, err := proto.Marshal(md)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var md inferencev2.ModelMetadataResponse
		if proto.Unmarshal(data, &md) != nil {
			return
		}
		s, err := newSpec(&md, DefaultConfig())
		if err != nil {
			return
		}
		_ = s.String()
		_ = s.describeInputs()
	})
}
