// Package openai is the backend for OpenAI-compatible LLM servers (vLLM,
// TGI, NIM, SGLang, TensorRT-LLM's trtllm-serve): every sample is one
// POST /v1/completions or /v1/chat/completions request, streamed as
// server-sent events, and timed as MLPerf times LLMs.
//
// # Token metrics
//
// The first chunk that carries text is the first token: the backend
// reports it to the Recorder (LoadGen's FirstTokenComplete), so TTFT counts
// from the sample's scheduled time in Server. The sample completes at
// "data: [DONE]" with its output token count, so the engine computes TPOT
// = (latency − TTFT)/(tokens − 1) per sample, and tokens per second, as
// LoadGen does. The count is usage.completion_tokens, asked for with
// stream_options.include_usage; a server that sends no usage gets its text
// chunks counted instead. Where counts came from is reported as the
// annotation token_count_source ("usage", "chunks" or "mixed"), and the
// comparison refuses to compare runs whose sources differ: a chunk may
// carry several tokens.
//
// # Equal work
//
// Both sides of a comparison must generate the same tokens: requests ask
// for temperature 0 and, with fixed_length (the default), vLLM's
// ignore_eos and min_tokens = max_tokens, so every answer is max_tokens
// long. The annotation finish_reasons shows whether that held ("length"
// alone). Servers that reject unknown fields need fixed_length=false.
//
// # Prompts
//
// Synthetic prompts are drawn per sample index from seed: a length from a
// normal distribution (input_tokens, input_stddev), then that many common
// English words, each one token in the usual tokenizers. A prompts file is
// JSONL, one {"prompt": TEXT} or {"messages": [...]} per line, with an
// optional "max_tokens"; sample index i uses line i modulo the line count.
//
// # Server metrics
//
// At the timed run's edges the backend scrapes the server's Prometheus
// metrics (option metrics: GET /metrics on url by default, which vLLM
// serves on its API port) and records, from the differences of vLLM's
// request histograms, the server's own account of the run as the result's
// server_stats: requests served and, per request, the mean end-to-end,
// queue, prefill, decode and inference (prefill + decode) times. Series
// are summed over the configured model's model_name, or over all when
// none carries it. Hugging Face TGI's histograms (tgi_request_duration,
// _queue_duration, _inference_duration; no prefill and decode split) are
// read the same way, with source tgi-metrics. A server with neither (NIM,
// SGLang), or one that does not answer within 2 s, leaves server_stats
// unavailable with the reason; the run goes on. The scrapes carry the
// API key.
//
// # Options
//
//	url              base URL, http or https, without /v1 (required)
//	model            served model name (required)
//	api              completions (default) or chat
//	max_tokens       output tokens per request (128)
//	stream           server-sent events (true); false times whole responses
//	fixed_length     send ignore_eos and min_tokens (true)
//	prompts          JSONL prompts file (default: synthetic prompts)
//	input_tokens     synthetic prompt length, mean, in words (128)
//	input_stddev     its standard deviation (0: fixed)
//	seed             synthetic prompt seed (0)
//	max_inflight     requests in flight at most (256); others queue
//	connections      TCP connections at most (max_inflight)
//	request_timeout  bound on one request (10m)
//	stall_timeout    bound on a stream's silence, first byte included (60s)
//	connect_timeout  bound on dialing, TLS and Start's checks (10s)
//	api_key_env      environment variable holding the bearer token
//	ca_file          PEM CAs for an https server, added to the system pool
//	metrics          auto (GET url/metrics), off, or the metrics' URL (auto)
//
// # Failures
//
// Start fails, within connect_timeout, when the server does not answer or
// does not serve the model (the error lists the models it serves). During a
// run, a request that fails (an HTTP error, an error event, a malformed or
// truncated stream, a timeout, a stall) completes its sample with the
// error, never hangs it; the engine makes the run INVALID when failures
// pass max_error_pct. Stop cancels the requests in flight and drops their
// samples.
package openai
