package inference

// ServerStats is the serving stack's own account of the timed run, read
// from its statistics (Triton's statistics extension, vLLM's or TGI's
// Prometheus metrics) at the run's edges: how many requests it served and, per
// request, the mean time each spent queued and computing on the server.
// Beside the latency the load generator measured, it tells a gap in the
// model's execution (the GPU) from a gap between client and server
// (network, gRPC or HTTP, the client's CPU).
//
// The server's counters cover whatever it served in the window, including
// other clients' requests; the edges are read over the network, so a
// request or two may fall on the wrong side of them.
type ServerStats struct {
	// Source names the statistics read: "triton-statistics",
	// "vllm-metrics" or "tgi-metrics".
	Source string `json:"source"`
	// Unavailable says why there are no statistics; the numbers are then
	// zero.
	Unavailable string `json:"unavailable,omitempty"`
	// Requests is the successful requests in the window, Failed the failed
	// ones; Inferences counts samples (a request of batch 8 counts 8),
	// Executions the model executions (a dynamic batch counts 1). vLLM's
	// metrics count neither failures nor executions (its batches change
	// every step): both are zero there.
	Requests   uint64 `json:"requests"`
	Failed     uint64 `json:"failed"`
	Inferences uint64 `json:"inferences"`
	Executions uint64 `json:"executions"`
	// Mean nanoseconds per successful request: its whole time on the
	// server, queued, preparing the inputs (copies to the GPU included),
	// executing the model, and extracting the outputs.
	RequestNs       float64 `json:"request_ns"`
	QueueNs         float64 `json:"queue_ns"`
	ComputeInputNs  float64 `json:"compute_input_ns"`
	ComputeInferNs  float64 `json:"compute_infer_ns"`
	ComputeOutputNs float64 `json:"compute_output_ns"`
	// For LLM servers ComputeInferNs is the whole model execution, prefill
	// and decode, and these split it: the mean per request of processing
	// the prompt (to the first token) and of generating the rest. A
	// virtualized host may slow one and not the other: prefill is bound by
	// compute, decode by memory bandwidth.
	PrefillNs float64 `json:"prefill_ns,omitempty"`
	DecodeNs  float64 `json:"decode_ns,omitempty"`
}

// ServerStatsReporter is implemented by backends whose server keeps
// statistics. Run calls ServerWindow at the timed run's edges, as it calls
// Config.Window (a start must return at once: it runs on the generator's
// goroutine), and records ServerStats in Result.ServerStats after Stop.
type ServerStatsReporter interface {
	ServerWindow(start bool)
	ServerStats() *ServerStats
}
