package kserve

import (
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec wireCodec falls back on
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gpuperf/gpuperf/inference"
)

// Field numbers of ModelInferRequest and its InferInputTensor
// (proto/inference/grpc_service.proto).
const (
	fieldModelName    = 1
	fieldModelVersion = 2
	fieldID           = 3
	fieldInputs       = 5
	fieldRawInput     = 7
	fieldTensorName   = 1
	fieldTensorType   = 2
	fieldTensorShape  = 3
)

// wireRequest is a ModelInferRequest in its wire form: a header, then each
// input's raw_input_contents as the data set's own slices, one per sample.
// Marshalling it copies nothing, so a large tensor is copied only by the
// transport that frames it; the data set is never written to, so the
// transport may read it for as long as it likes.
type wireRequest struct {
	parts mem.BufferSlice
}

// encode builds the request for the batch's samples; id is set when
// not empty (requests on a stream).
func (s *session) encode(batch []inference.Sample, id string) *wireRequest {
	sp, n := s.spec, len(batch)
	var hdr []byte
	hdr = protowire.AppendTag(hdr, fieldModelName, protowire.BytesType)
	hdr = protowire.AppendString(hdr, s.cfg.Model)
	if s.cfg.ModelVersion != "" {
		hdr = protowire.AppendTag(hdr, fieldModelVersion, protowire.BytesType)
		hdr = protowire.AppendString(hdr, s.cfg.ModelVersion)
	}
	if id != "" {
		hdr = protowire.AppendTag(hdr, fieldID, protowire.BytesType)
		hdr = protowire.AppendString(hdr, id)
	}
	for i := range sp.inputs {
		hdr = protowire.AppendTag(hdr, fieldInputs, protowire.BytesType)
		hdr = protowire.AppendBytes(hdr, s.tensorHeader(i, n))
	}
	// The header's end and each input's raw_input_contents prefix: tag and
	// length, followed by the samples' buffers.
	parts := make(mem.BufferSlice, 0, 1+len(sp.inputs)*(1+n))
	cut := len(hdr)
	starts := make([]int, len(sp.inputs))
	for i := range sp.inputs {
		size := 0
		for _, smp := range batch {
			size += len(s.data.sample(smp.Index)[i])
		}
		starts[i] = len(hdr)
		hdr = protowire.AppendTag(hdr, fieldRawInput, protowire.BytesType)
		hdr = protowire.AppendVarint(hdr, uint64(size))
	}
	parts = append(parts, mem.SliceBuffer(hdr[:cut]))
	for i := range sp.inputs {
		end := len(hdr)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		parts = append(parts, mem.SliceBuffer(hdr[starts[i]:end]))
		for _, smp := range batch {
			parts = append(parts, s.data.buffer(smp.Index, i))
		}
	}
	return &wireRequest{parts: parts}
}

// tensorHeader returns input i's InferInputTensor for a request of n
// samples: name, datatype and shape, no contents.
func (s *session) tensorHeader(i, n int) []byte {
	in := &s.spec.inputs[i]
	var b []byte
	b = protowire.AppendTag(b, fieldTensorName, protowire.BytesType)
	b = protowire.AppendString(b, in.name)
	b = protowire.AppendTag(b, fieldTensorType, protowire.BytesType)
	b = protowire.AppendString(b, in.dtype)
	var dims []byte
	for _, d := range s.spec.requestShape(i, n) {
		dims = protowire.AppendVarint(dims, uint64(d))
	}
	if len(dims) > 0 {
		b = protowire.AppendTag(b, fieldTensorShape, protowire.BytesType)
		b = protowire.AppendBytes(b, dims)
	}
	return b
}

// wireCodec marshals a wireRequest as it is and everything else, the
// responses included, with gRPC's protobuf codec. Its name is "proto", so
// the call's content type is application/grpc+proto, which every server
// reads as protobuf.
type wireCodec struct{}

var protoCodec = encoding.GetCodecV2("proto")

func (wireCodec) Name() string { return "proto" }

func (wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	if w, ok := v.(*wireRequest); ok {
		return w.parts, nil
	}
	return protoCodec.Marshal(v)
}

func (wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if _, ok := v.(*wireRequest); ok {
		return fmt.Errorf("kserve: a request cannot be unmarshalled")
	}
	return protoCodec.Unmarshal(data, v)
}

// withWireCodec is the call option that makes a call or stream use
// wireCodec. ForceCodecV2 is marked experimental in grpc-go; the version is
// pinned in go.mod.
var withWireCodec = grpc.ForceCodecV2(wireCodec{})

// modelInferMethod is ModelInfer's full method name.
const modelInferMethod = "/inference.GRPCInferenceService/ModelInfer"
