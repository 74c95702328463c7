// Package kserve is the backend for inference servers that speak the Open
// Inference Protocol (KServe v2) over gRPC: Triton, KServe runtimes, Seldon
// MLServer, OpenVINO Model Server and TorchServe.
//
// Start checks that the server is live and ready and that the model is
// ready, then learns the model's inputs, shapes and datatypes from
// ModelMetadata, all within the timeout option, so a server that is down
// or a wrong model name is a clear error, never a hang. The inputs are
// generated (seeded random or zeros, identical on every host for a seed)
// or read from a file (.npy, raw bytes, or JSON), and travel as
// raw_input_contents. Each request carries up to batch samples along the
// model's batch dimension; max_inflight requests run at once, spread over
// connections gRPC connections, as unary ModelInfer calls or, with
// stream=true, over Triton's ModelStreamInfer.
//
// A failed inference (an error status, no response within the timeout, a
// response whose outputs do not match the model's metadata) completes its
// samples with Err set, so a broken server shows up as errors, which
// inference.Run counts against max_error_pct, never as a hang.
//
// Package kservetest is an in-process server for tests, with configurable
// latency and faults.
package kserve
