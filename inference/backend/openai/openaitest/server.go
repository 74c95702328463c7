// Package openaitest is an OpenAI-compatible inference server for tests:
// /v1/completions and /v1/chat/completions, streamed as server-sent events
// or not, with configurable time to first token, time between tokens and
// output length, answering as vLLM does (GET /v1/models, GET /version, 404
// for a model it does not serve). Faults are injected per request: HTTP
// errors, error events, malformed chunks, stalls and dropped connections.
//
// Timing follows a schedule from the request's arrival, not a sleep per
// token, so the gaps average exactly InterToken however late the timers
// fire: token i (from 0) is sent at arrival + Queue + TTFT + i·InterToken.
//
// With Config.Metrics it serves GET /metrics as vLLM does: the Prometheus
// histograms of every request that finished, from its own schedule.
package openaitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config describes the server. The zero value serves "test-model" with no
// delays and 16-token answers.
type Config struct {
	// Models are the served model names; the first is the default
	// "test-model" when none is given.
	Models []string
	// MaxModelLen is reported in /v1/models (default 4096).
	MaxModelLen int
	// Version is served at GET /version; empty answers 404 there.
	Version string
	// Queue is the delay from a request's arrival to the start of its
	// TTFT, TTFT the delay from there to its first token, and InterToken
	// the delay between tokens.
	Queue      time.Duration
	TTFT       time.Duration
	InterToken time.Duration
	// OutputTokens is where the "end of sequence" falls when a request
	// does not fix its length with ignore_eos or min_tokens (default 16);
	// max_tokens caps it.
	OutputTokens int
	// TokensPerChunk is how many tokens each streamed chunk carries
	// (default 1), as a server with a stream interval sends them.
	TokensPerChunk int
	// OmitUsage never sends usage, even when asked for.
	OmitUsage bool
	// CRLF ends lines with CRLF; Comments sends a ": ping" comment before
	// every event; MultiLine splits every event's data over two data
	// lines. All three are valid server-sent events.
	CRLF      bool
	Comments  bool
	MultiLine bool
	// RejectUnknown answers 400 to fields OpenAI itself does not know
	// (ignore_eos, min_tokens), as api.openai.com does.
	RejectUnknown bool
	// APIKey, when set, is the bearer token every /v1 request must carry.
	APIKey string
	// Fault, when set, is asked for each request's fault; n counts the
	// generation requests from 0.
	Fault func(n int) Fault
	// Metrics serves GET /metrics (404 without it): vLLM's request
	// histograms, labelled model_name and engine, observed when a request
	// finishes without a fault: queue time (Queue), prefill (from there to
	// the first token sent), decode (from the first token to the last),
	// inference (prefill and decode) and the end-to-end latency (from the
	// arrival to the end, observed just before [DONE] is sent).
	Metrics bool
}

// FaultKind is a way a request goes wrong.
type FaultKind int

// The faults.
const (
	NoFault FaultKind = iota
	// Status answers Fault.Status with an OpenAI error body.
	Status
	// ErrorEvent sends, after Fault.After tokens, data: {"error": {...}}
	// in the stream, then [DONE], as vLLM does on a failure mid-stream.
	ErrorEvent
	// ErrorEventType sends, after Fault.After tokens, an "event: error"
	// whose data is plain text.
	ErrorEventType
	// Malformed sends, after Fault.After tokens, a data line that is not
	// JSON.
	Malformed
	// Stall sends Fault.After tokens, then nothing until the client goes
	// away or the server is closed.
	Stall
	// Drop sends Fault.After tokens, then breaks the connection without
	// [DONE].
	Drop
	// NoUsage answers normally but without usage, as if OmitUsage were
	// set for this request alone.
	NoUsage
)

// Fault is one request's fault.
type Fault struct {
	Kind   FaultKind
	After  int // tokens sent before the fault (streamed requests)
	Status int // the HTTP status of Status
}

// Request is a generation request as the server received it.
type Request struct {
	Path          string
	Authorization string
	Model         string
	Prompt        string // the prompt, or the messages' contents joined by "\n"
	Messages      int    // number of messages (chat)
	MaxTokens     int
	MinTokens     int
	IgnoreEOS     bool
	Temperature   *float64
	Stream        bool
	IncludeUsage  bool
	Fields        []string // the top-level JSON fields, in no order
}

// Server is the test server's handler. Create it with New.
type Server struct {
	cfg  Config
	mux  *http.ServeMux
	quit chan struct{}
	once sync.Once

	n        atomic.Int64 // generation requests so far
	inflight atomic.Int64
	peak     atomic.Int64

	mu   sync.Mutex
	reqs []Request

	metrics *metrics // nil without Config.Metrics
}

// New returns a server configured by cfg.
func New(cfg Config) *Server {
	if len(cfg.Models) == 0 {
		cfg.Models = []string{"test-model"}
	}
	if cfg.MaxModelLen == 0 {
		cfg.MaxModelLen = 4096
	}
	if cfg.OutputTokens == 0 {
		cfg.OutputTokens = 16
	}
	if cfg.TokensPerChunk == 0 {
		cfg.TokensPerChunk = 1
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), quit: make(chan struct{})}
	s.mux.HandleFunc("GET /v1/models", s.auth(s.models))
	s.mux.HandleFunc("POST /v1/completions", s.auth(s.generate))
	s.mux.HandleFunc("POST /v1/chat/completions", s.auth(s.generate))
	s.mux.HandleFunc("GET /version", s.version)
	s.mux.HandleFunc("GET /health", func(http.ResponseWriter, *http.Request) {})
	if cfg.Metrics {
		s.metrics = newMetrics()
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	}
	return s
}

// metrics are vLLM's request histograms, on a registry of the server's
// own, so servers in one test process never share them.
type metrics struct {
	reg                                    *prometheus.Registry
	e2e, queue, prefill, decode, inference *prometheus.HistogramVec
}

func newMetrics() *metrics {
	// vLLM's buckets for request times, in seconds.
	buckets := []float64{0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680}
	h := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, []string{"model_name", "engine"})
	}
	m := &metrics{
		reg:       prometheus.NewRegistry(),
		e2e:       h("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds."),
		queue:     h("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request."),
		prefill:   h("vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request."),
		decode:    h("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request."),
		inference: h("vllm:request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request."),
	}
	m.reg.MustRegister(m.e2e, m.queue, m.prefill, m.decode, m.inference)
	return m
}

// finished observes a request that finished: it arrived, left the queue
// at begin, sent its first token at first and its last at last, and ended
// at done.
func (m *metrics) finished(model string, arrival, begin, first, last, done time.Time) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"model_name": model, "engine": "0"}
	m.queue.With(l).Observe(begin.Sub(arrival).Seconds())
	m.prefill.With(l).Observe(first.Sub(begin).Seconds())
	m.decode.With(l).Observe(last.Sub(first).Seconds())
	m.inference.With(l).Observe(last.Sub(begin).Seconds())
	m.e2e.With(l).Observe(done.Sub(arrival).Seconds())
}

// Serve starts a server configured by cfg on a loopback port and closes it
// when the test ends. It returns the server and its base URL.
func Serve(tb testing.TB, cfg Config) (*Server, *httptest.Server) {
	tb.Helper()
	s := New(cfg)
	ts := httptest.NewServer(s)
	tb.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return s, ts
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close releases the requests stalled by a Stall fault; call it before
// closing the HTTP server, whose Close waits for them.
func (s *Server) Close() { s.once.Do(func() { close(s.quit) }) }

// Requests returns the generation requests received so far, in arrival
// order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// PeakInflight returns the most generation requests the server has had in
// progress at once.
func (s *Server) PeakInflight() int { return int(s.peak.Load()) }

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.cfg.APIKey {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"Unauthorized"}`)
			return
		}
		h(w, r)
	}
}

func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Version == "" {
		http.NotFound(w, nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"version": s.cfg.Version})
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request) {
	now := time.Now().Unix()
	data := make([]map[string]any, 0, len(s.cfg.Models))
	for _, m := range s.cfg.Models {
		data = append(data, map[string]any{
			"id": m, "object": "model", "created": now, "owned_by": "vllm", "root": m, "parent": nil,
			"max_model_len": s.cfg.MaxModelLen,
			"permission":    []map[string]any{{"id": fmt.Sprintf("modelperm-%d", now), "object": "model_permission"}},
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

// apiError writes an error body as vLLM does.
func apiError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]any{"object": "error", "message": msg, "type": typ, "param": nil, "code": status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// body is the part of a request the server reads.
type body struct {
	Model    string `json:"model"`
	Prompt   any    `json:"prompt"`
	Messages []struct {
		Role    string `json:"role"`
		Content any    `json:"content"`
	} `json:"messages"`
	MaxTokens     *int     `json:"max_tokens"`
	MinTokens     int      `json:"min_tokens"`
	IgnoreEOS     bool     `json:"ignore_eos"`
	Temperature   *float64 `json:"temperature"`
	Stream        bool     `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func (s *Server) generate(w http.ResponseWriter, r *http.Request) {
	arrival := time.Now()
	n := int(s.n.Add(1) - 1)
	cur := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for {
		p := s.peak.Load()
		if cur <= p || s.peak.CompareAndSwap(p, cur) {
			break
		}
	}

	var raw map[string]json.RawMessage
	var b body
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&raw); err != nil {
		apiError(w, http.StatusBadRequest, "BadRequestError", "invalid JSON: "+err.Error())
		return
	}
	buf, _ := json.Marshal(raw)
	if err := json.Unmarshal(buf, &b); err != nil {
		apiError(w, http.StatusBadRequest, "BadRequestError", err.Error())
		return
	}
	chat := r.URL.Path == "/v1/chat/completions"
	req := Request{
		Path: r.URL.Path, Authorization: r.Header.Get("Authorization"), Model: b.Model,
		MinTokens: b.MinTokens, IgnoreEOS: b.IgnoreEOS, Temperature: b.Temperature, Stream: b.Stream,
		IncludeUsage: b.StreamOptions != nil && b.StreamOptions.IncludeUsage, Messages: len(b.Messages),
	}
	for k := range raw {
		req.Fields = append(req.Fields, k)
	}
	if b.MaxTokens != nil {
		req.MaxTokens = *b.MaxTokens
	}
	if chat {
		var parts []string
		for _, m := range b.Messages {
			parts = append(parts, fmt.Sprint(m.Content))
		}
		req.Prompt = strings.Join(parts, "\n")
	} else if p, ok := b.Prompt.(string); ok {
		req.Prompt = p
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()

	if s.cfg.RejectUnknown {
		for _, k := range []string{"ignore_eos", "min_tokens"} {
			if _, ok := raw[k]; ok {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{
					"message": "Unrecognized request argument supplied: " + k, "type": "invalid_request_error", "param": nil, "code": nil,
				}})
				return
			}
		}
	}
	if !s.serves(b.Model) {
		apiError(w, http.StatusNotFound, "NotFoundError", fmt.Sprintf("The model `%s` does not exist.", b.Model))
		return
	}
	switch {
	case chat && len(b.Messages) == 0:
		apiError(w, http.StatusBadRequest, "BadRequestError", "messages: field required")
		return
	case !chat && b.Prompt == nil:
		apiError(w, http.StatusBadRequest, "BadRequestError", "prompt: field required")
		return
	case req.MaxTokens < 1:
		apiError(w, http.StatusBadRequest, "BadRequestError", "max_tokens must be at least 1")
		return
	}
	var f Fault
	if s.cfg.Fault != nil {
		f = s.cfg.Fault(n)
	}
	if f.Kind == Status {
		apiError(w, f.Status, http.StatusText(f.Status), fmt.Sprintf("injected HTTP %d", f.Status))
		return
	}

	tokens := min(s.cfg.OutputTokens, req.MaxTokens)
	if b.IgnoreEOS {
		tokens = req.MaxTokens
	}
	tokens = min(max(tokens, b.MinTokens), req.MaxTokens)
	finish := "stop"
	if tokens == req.MaxTokens {
		finish = "length"
	}
	g := &generation{
		s: s, w: w, r: r, chat: chat, model: b.Model, id: fmt.Sprintf("cmpl-%d", n), created: arrival.Unix(),
		arrival: arrival, tokens: tokens, finish: finish, prompt: len(strings.Fields(req.Prompt)), fault: f,
	}
	if b.Stream {
		g.stream(req.IncludeUsage && !s.cfg.OmitUsage && f.Kind != NoUsage)
	} else {
		g.whole()
	}
}

func (s *Server) serves(model string) bool {
	for _, m := range s.cfg.Models {
		if m == model {
			return true
		}
	}
	return false
}

// generation is one request being answered.
type generation struct {
	s       *Server
	w       http.ResponseWriter
	r       *http.Request
	chat    bool
	model   string
	id      string
	created int64
	arrival time.Time
	tokens  int
	finish  string
	prompt  int
	fault   Fault
}

// begin returns when the request leaves the queue.
func (g *generation) begin() time.Time { return g.arrival.Add(g.s.cfg.Queue) }

// at returns when token i is due.
func (g *generation) at(i int) time.Time {
	return g.begin().Add(g.s.cfg.TTFT + time.Duration(i)*g.s.cfg.InterToken)
}

// sleepUntil waits for t; false when the client went away or the server
// closed.
func (g *generation) sleepUntil(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return g.r.Context().Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-g.r.Context().Done():
	case <-g.s.quit:
	}
	return false
}

func (g *generation) object() string {
	if g.chat {
		return "chat.completion.chunk"
	}
	return "text_completion"
}

// chunk returns a streamed chunk carrying text, or the finish reason.
func (g *generation) chunk(text string, finish string) map[string]any {
	c := map[string]any{"index": 0, "logprobs": nil, "finish_reason": nil}
	if finish != "" {
		c["finish_reason"] = finish
	}
	if g.chat {
		c["delta"] = map[string]any{"content": text}
	} else {
		c["text"] = text
	}
	return map[string]any{"id": g.id, "object": g.object(), "created": g.created, "model": g.model, "choices": []any{c}}
}

func (g *generation) usage() map[string]any {
	return map[string]any{"prompt_tokens": g.prompt, "completion_tokens": g.tokens, "total_tokens": g.prompt + g.tokens}
}

// event writes one server-sent event and flushes it.
func (g *generation) event(typ, data string) bool {
	eol := "\n"
	if g.s.cfg.CRLF {
		eol = "\r\n"
	}
	var b strings.Builder
	if g.s.cfg.Comments {
		b.WriteString(": ping" + eol)
	}
	if typ != "" {
		b.WriteString("event: " + typ + eol)
	}
	if i := strings.IndexByte(data, ','); g.s.cfg.MultiLine && i >= 0 {
		b.WriteString("data: " + data[:i+1] + eol + "data:" + data[i+1:] + eol + eol)
	} else {
		b.WriteString("data: " + data + eol + eol)
	}
	if _, err := fmt.Fprint(g.w, b.String()); err != nil {
		return false
	}
	return http.NewResponseController(g.w).Flush() == nil
}

func (g *generation) jsonEvent(v any) bool {
	b, _ := json.Marshal(v)
	return g.event("", string(b))
}

// faultAt acts out the fault once at least Fault.After tokens are sent (i
// of them); true means the response is over.
func (g *generation) faultAt(i int) bool {
	f := g.fault
	if f.Kind == NoFault || f.Kind == Status || f.Kind == NoUsage || i < f.After {
		return false
	}
	switch f.Kind {
	case ErrorEvent:
		g.jsonEvent(map[string]any{"error": map[string]any{"object": "error", "message": "injected error event", "type": "InternalServerError", "code": 500}})
		g.event("", "[DONE]")
	case ErrorEventType:
		g.event("error", "injected error event")
	case Malformed:
		g.event("", `{"id": "broken", "choices": [{"text": `)
		g.event("", "[DONE]")
	case Stall:
		g.sleepUntil(time.Now().Add(time.Hour))
	case Drop:
		panic(http.ErrAbortHandler)
	}
	return true
}

func (g *generation) stream(usage bool) {
	h := g.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	g.w.WriteHeader(http.StatusOK)
	http.NewResponseController(g.w).Flush()
	if g.chat && !g.jsonEvent(map[string]any{"id": g.id, "object": g.object(), "created": g.created, "model": g.model,
		"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"role": "assistant", "content": ""}, "logprobs": nil, "finish_reason": nil}}}) {
		return
	}
	per := g.s.cfg.TokensPerChunk
	var first, last time.Time
	for sent := 0; sent < g.tokens; {
		if g.faultAt(sent) {
			return
		}
		k := min(per, g.tokens-sent)
		if !g.sleepUntil(g.at(sent + k - 1)) {
			return
		}
		text := strings.Repeat(" tok", k)
		sent += k
		if !g.jsonEvent(g.chunk(text, "")) {
			return
		}
		last = time.Now()
		if first.IsZero() {
			first = last
		}
	}
	if g.faultAt(g.tokens) {
		return
	}
	final := g.chunk("", g.finish)
	if !g.jsonEvent(final) {
		return
	}
	if usage {
		u := map[string]any{"id": g.id, "object": g.object(), "created": g.created, "model": g.model, "choices": []any{}, "usage": g.usage()}
		if !g.jsonEvent(u) {
			return
		}
	}
	// Observed before [DONE], as vLLM's engine records a request before
	// its server sends the end: a scrape after the client's last
	// completion sees every request.
	g.s.metrics.finished(g.model, g.arrival, g.begin(), first, last, time.Now())
	g.event("", "[DONE]")
}

func (g *generation) whole() {
	// Nothing is sent before the end, but the server's metrics see the
	// first token made.
	if !g.sleepUntil(g.at(0)) {
		return
	}
	first := time.Now()
	if !g.sleepUntil(g.at(g.tokens - 1)) {
		return
	}
	last := time.Now()
	text := strings.Repeat(" tok", g.tokens)
	c := map[string]any{"index": 0, "logprobs": nil, "finish_reason": g.finish}
	object := "text_completion"
	if g.chat {
		c["message"] = map[string]any{"role": "assistant", "content": text}
		object = "chat.completion"
	} else {
		c["text"] = text
	}
	resp := map[string]any{"id": g.id, "object": object, "created": g.created, "model": g.model, "choices": []any{c}}
	if !g.s.cfg.OmitUsage && g.fault.Kind != NoUsage {
		resp["usage"] = g.usage()
	}
	g.s.metrics.finished(g.model, g.arrival, g.begin(), first, last, time.Now())
	writeJSON(g.w, http.StatusOK, resp)
}
