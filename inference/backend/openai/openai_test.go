package openai

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
	"github.com/gpuperf/gpuperf/inference/backend/openai/openaitest"
)

func TestMain(m *testing.M) {
	backendtest.ServeIfChild(serveEnv, serveForBenchmark)
	backendtest.Main(m)
}

// tokenFake is a backendtest.Fake that also stamps first tokens, as the
// Recorder does.
type tokenFake struct {
	backendtest.Fake
	mu    sync.Mutex
	first map[uint64]int64
	dup   int
}

func (f *tokenFake) FirstToken(id uint64) {
	now := backendtest.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.first == nil {
		f.first = make(map[uint64]int64)
	}
	if _, ok := f.first[id]; ok {
		f.dup++
		return
	}
	f.first[id] = now
}

func (f *tokenFake) firstToken(id uint64) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	at, ok := f.first[id]
	return at, ok
}

// newBackend returns a backend for the test server at url, with opts
// (KEY, VALUE, ...) over a small default.
func newBackend(t *testing.T, url string, kv ...string) *Backend {
	t.Helper()
	opts := map[string]string{OptURL: url, OptModel: "test-model", OptMaxTokens: "8", OptInputTokens: "16",
		OptMaxInflight: "8", OptConnectTimeout: "5s", OptStallTimeout: "10s", OptRequestTimeout: "30s"}
	for i := 0; i < len(kv); i += 2 {
		opts[kv[i]] = kv[i+1]
	}
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// start starts b reporting to a new tokenFake, stopped when the test ends.
func start(t *testing.T, b *Backend) *tokenFake {
	t.Helper()
	f := new(tokenFake)
	backendtest.StartWith(t, b, f)
	return f
}

// issue issues n samples with IDs and indexes 0..n-1, one per query, and
// returns when each was issued.
func issue(b *Backend, n int) []int64 {
	at := make([]int64, n)
	for i := range n {
		at[i] = backendtest.Now()
		b.IssueQuery([]inference.Sample{{ID: uint64(i), Index: uint32(i)}})
	}
	b.FlushQueries()
	return at
}

// wait returns the n completions by ID, failing the test after 20 s.
func wait(t *testing.T, f *tokenFake, n int) map[uint64]backendtest.Record {
	t.Helper()
	if err := f.Wait(n, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	out := make(map[uint64]backendtest.Record, n)
	for _, r := range f.Records() {
		if _, dup := out[r.ID]; dup {
			t.Fatalf("sample %d completed twice", r.ID)
		}
		out[r.ID] = r
	}
	if len(out) != n {
		t.Fatalf("%d distinct completions; want %d", len(out), n)
	}
	return out
}

func TestStreamsEveryAPI(t *testing.T) {
	for _, api := range []API{Completions, Chat} {
		t.Run(string(api), func(t *testing.T) {
			srv, ts := openaitest.Serve(t, openaitest.Config{OutputTokens: 3})
			b := newBackend(t, ts.URL, OptAPI, string(api))
			f := start(t, b)
			const n = 20
			issue(b, n)
			recs := wait(t, f, n)
			for id, r := range recs {
				if r.Err != nil || r.Tokens != 8 {
					t.Fatalf("sample %d: %+v; want 8 tokens, no error", id, r)
				}
				ft, ok := f.firstToken(id)
				if !ok || ft > r.At {
					t.Fatalf("sample %d: first token at %d (%t), completed at %d", id, ft, ok, r.At)
				}
			}
			if f.dup != 0 {
				t.Errorf("%d first tokens stamped twice", f.dup)
			}
			reqs := srv.Requests()
			if len(reqs) != n {
				t.Fatalf("%d requests; want %d", len(reqs), n)
			}
			want := "/v1/completions"
			if api == Chat {
				want = "/v1/chat/completions"
			}
			for _, r := range reqs {
				if r.Path != want || r.Model != "test-model" || r.MaxTokens != 8 || r.MinTokens != 8 || !r.IgnoreEOS ||
					r.Temperature == nil || *r.Temperature != 0 || !r.Stream || !r.IncludeUsage || len(strings.Fields(r.Prompt)) != 16 {
					t.Fatalf("request %+v", r)
				}
			}
			// The same index gives the same prompt; another gives another.
			prompts := make(map[string]bool)
			for _, r := range reqs {
				prompts[r.Prompt] = true
			}
			if len(prompts) != n {
				t.Errorf("%d distinct prompts for %d indexes", len(prompts), n)
			}
			if err := b.Stop(); err != nil {
				t.Fatal(err)
			}
			want2 := map[string]string{FactTokenSource: SourceUsage, FactChunksMatchUsage: "true", FactFinishReasons: "length"}
			if got := b.Annotations(); !mapsEqual(got, want2) {
				t.Errorf("annotations %v; want %v", got, want2)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestTokenCounts: usage when the server sends it; the counted chunks when
// it does not; "mixed" when some samples had usage and some not.
func TestTokenCounts(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        openaitest.Config
		wantTokens int64
		facts      map[string]string
	}{
		{"usage, a token per chunk", openaitest.Config{}, 8,
			map[string]string{FactTokenSource: SourceUsage, FactChunksMatchUsage: "true", FactFinishReasons: "length"}},
		// Three tokens per chunk: usage still says 8; the chunks (3) do not.
		{"usage, three tokens per chunk", openaitest.Config{TokensPerChunk: 3}, 8,
			map[string]string{FactTokenSource: SourceUsage, FactChunksMatchUsage: "false", FactFinishReasons: "length"}},
		{"no usage: chunks", openaitest.Config{OmitUsage: true}, 8,
			map[string]string{FactTokenSource: SourceChunks, FactFinishReasons: "length"}},
		// Without usage the client can only count chunks: 3 of them.
		{"no usage, three tokens per chunk", openaitest.Config{OmitUsage: true, TokensPerChunk: 3}, 3,
			map[string]string{FactTokenSource: SourceChunks, FactFinishReasons: "length"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ts := openaitest.Serve(t, tc.cfg)
			b := newBackend(t, ts.URL)
			f := start(t, b)
			issue(b, 10)
			for id, r := range wait(t, f, 10) {
				if r.Err != nil || r.Tokens != tc.wantTokens {
					t.Fatalf("sample %d: %+v; want %d tokens", id, r, tc.wantTokens)
				}
			}
			b.Stop()
			if got := b.Annotations(); !mapsEqual(got, tc.facts) {
				t.Errorf("annotations %v; want %v", got, tc.facts)
			}
		})
	}
	t.Run("mixed", func(t *testing.T) {
		_, ts := openaitest.Serve(t, openaitest.Config{Fault: func(n int) openaitest.Fault {
			if n%4 == 0 {
				return openaitest.Fault{Kind: openaitest.NoUsage}
			}
			return openaitest.Fault{}
		}})
		b := newBackend(t, ts.URL, OptMaxInflight, "1")
		f := start(t, b)
		issue(b, 8)
		wait(t, f, 8)
		b.Stop()
		want := map[string]string{FactTokenSource: SourceMixed, FactTokenSamples: "usage=6 chunks=2", FactChunksMatchUsage: "true", FactFinishReasons: "length"}
		if got := b.Annotations(); !mapsEqual(got, want) {
			t.Errorf("annotations %v; want %v", got, want)
		}
	})
}

// TestNaturalLength: without fixed_length the server stops at its own
// EOS, and finish_reasons tells.
func TestNaturalLength(t *testing.T) {
	srv, ts := openaitest.Serve(t, openaitest.Config{OutputTokens: 5, RejectUnknown: true})
	// fixed_length on: the server refuses ignore_eos, every sample fails
	// with its message.
	b := newBackend(t, ts.URL)
	f := start(t, b)
	issue(b, 3)
	for id, r := range wait(t, f, 3) {
		var se *StatusError
		if !errors.As(r.Err, &se) || se.StatusCode != 400 || !strings.Contains(r.Err.Error(), "Unrecognized request argument supplied: ignore_eos") {
			t.Fatalf("sample %d: %v; want HTTP 400 naming ignore_eos", id, r.Err)
		}
	}
	b.Stop()

	b = newBackend(t, ts.URL, OptFixedLength, "false")
	f = start(t, b)
	issue(b, 3)
	for id, r := range wait(t, f, 3) {
		if r.Err != nil || r.Tokens != 5 {
			t.Fatalf("sample %d: %+v; want 5 tokens", id, r)
		}
	}
	b.Stop()
	if got := b.Annotations()[FactFinishReasons]; got != "stop" {
		t.Errorf("finish_reasons %q; want stop", got)
	}
	for _, r := range srv.Requests()[3:] {
		if slices.Contains(r.Fields, "ignore_eos") || slices.Contains(r.Fields, "min_tokens") {
			t.Fatalf("fixed_length=false sent %v", r.Fields)
		}
	}
}

func TestNotStreamed(t *testing.T) {
	for _, api := range []API{Completions, Chat} {
		t.Run(string(api), func(t *testing.T) {
			srv, ts := openaitest.Serve(t, openaitest.Config{Fault: func(n int) openaitest.Fault {
				if n == 2 {
					return openaitest.Fault{Kind: openaitest.NoUsage}
				}
				return openaitest.Fault{}
			}})
			b := newBackend(t, ts.URL, OptStream, "false", OptAPI, string(api), OptMaxInflight, "1")
			f := start(t, b)
			issue(b, 4)
			for id, r := range wait(t, f, 4) {
				if id == 2 {
					if !errors.Is(r.Err, ErrNoUsage) {
						t.Fatalf("sample without usage: %v; want ErrNoUsage", r.Err)
					}
					continue
				}
				if r.Err != nil || r.Tokens != 8 {
					t.Fatalf("sample %d: %+v", id, r)
				}
				if _, ok := f.firstToken(id); ok {
					t.Fatalf("sample %d: a first token without a stream", id)
				}
			}
			for _, r := range srv.Requests() {
				if r.Stream || r.IncludeUsage {
					t.Fatalf("request %+v", r)
				}
			}
		})
	}
}

// TestStreamVariants: CRLF, comments and multi-line data are all valid
// server-sent events.
func TestStreamVariants(t *testing.T) {
	_, ts := openaitest.Serve(t, openaitest.Config{CRLF: true, Comments: true, MultiLine: true})
	for _, api := range []API{Completions, Chat} {
		b := newBackend(t, ts.URL, OptAPI, string(api))
		f := start(t, b)
		issue(b, 5)
		for id, r := range wait(t, f, 5) {
			if r.Err != nil || r.Tokens != 8 {
				t.Fatalf("%s sample %d: %+v", api, id, r)
			}
		}
		b.Stop()
		if got := b.Annotations()[FactChunksMatchUsage]; got != "true" {
			t.Errorf("%s: chunks_match_usage %q", api, got)
		}
	}
}

// TestFaults: every fault completes its sample with an error that says
// what happened; the other samples are unaffected.
func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault openaitest.Fault
		is    error  // errors.Is target, or nil
		want  string // in the message
	}{
		{"HTTP 500", openaitest.Fault{Kind: openaitest.Status, Status: 500}, nil, "POST /v1/completions: HTTP 500 Internal Server Error: injected HTTP 500"},
		{"HTTP 429", openaitest.Fault{Kind: openaitest.Status, Status: 429}, nil, "HTTP 429 Too Many Requests"},
		{"error event", openaitest.Fault{Kind: openaitest.ErrorEvent, After: 2}, ErrServer, "server error: injected error event (InternalServerError)"},
		{"error event type", openaitest.Fault{Kind: openaitest.ErrorEventType, After: 1}, ErrServer, "injected error event"},
		{"malformed chunk", openaitest.Fault{Kind: openaitest.Malformed, After: 3}, ErrMalformed, `event 4: malformed response: {"id": "broken"`},
		{"dropped connection", openaitest.Fault{Kind: openaitest.Drop, After: 4}, nil, "unexpected EOF"},
		{"dropped after the last token", openaitest.Fault{Kind: openaitest.Drop, After: 8}, nil, "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ts := openaitest.Serve(t, openaitest.Config{Fault: func(n int) openaitest.Fault {
				if n%3 == 1 {
					return tc.fault
				}
				return openaitest.Fault{}
			}})
			b := newBackend(t, ts.URL, OptMaxInflight, "1")
			f := start(t, b)
			const n = 9
			issue(b, n)
			for id, r := range wait(t, f, n) {
				if id%3 != 1 {
					if r.Err != nil || r.Tokens != 8 {
						t.Fatalf("sample %d: %+v", id, r)
					}
					continue
				}
				if r.Err == nil || !strings.Contains(r.Err.Error(), tc.want) || !strings.HasPrefix(r.Err.Error(), "openai: ") {
					t.Fatalf("sample %d: %v; want an error containing %q", id, r.Err, tc.want)
				}
				if tc.is != nil && !errors.Is(r.Err, tc.is) {
					t.Fatalf("sample %d: %v is not %v", id, r.Err, tc.is)
				}
			}
			b.Stop()
			if got := b.Annotations()[FactTokenSource]; got != SourceUsage {
				t.Errorf("token source %q; failed samples must not count", got)
			}
		})
	}
}

// TestTruncatedStream: a stream that ends cleanly but without [DONE] is
// an error, not a short answer.
func TestTruncatedStream(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			fmt.Fprint(w, `{"data": [{"id": "test-model"}]}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"choices\": [{\"text\": \" a\"}]}\n\n")
	}))
	defer ts.Close()
	b := newBackend(t, ts.URL)
	f := start(t, b)
	issue(b, 1)
	r := wait(t, f, 1)[0]
	if !errors.Is(r.Err, ErrTruncated) || r.Tokens != 1 {
		t.Fatalf("%+v; want ErrTruncated after one token", r)
	}
}

// TestNotAnEventStream: a 200 that is not an event stream is an error
// that quotes the body.
func TestNotAnEventStream(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			fmt.Fprint(w, `{"data": [{"id": "test-model"}]}`)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html>gateway says no</html>")
	}))
	defer ts.Close()
	b := newBackend(t, ts.URL)
	f := start(t, b)
	issue(b, 1)
	r := wait(t, f, 1)[0]
	if !errors.Is(r.Err, ErrMalformed) || !strings.Contains(r.Err.Error(), "gateway says no") || !strings.Contains(r.Err.Error(), `"text/html"`) {
		t.Fatalf("%v", r.Err)
	}
}

// TestStall: a stream that stops mid-way, and a server that never sends
// its headers, both end as errors once stall_timeout passes.
func TestStall(t *testing.T) {
	const stall = 300 * time.Millisecond
	_, ts := openaitest.Serve(t, openaitest.Config{Fault: func(n int) openaitest.Fault {
		if n == 0 {
			return openaitest.Fault{Kind: openaitest.Stall, After: 2}
		}
		return openaitest.Fault{}
	}})
	b := newBackend(t, ts.URL, OptStallTimeout, stall.String(), OptMaxInflight, "1")
	f := start(t, b)
	sent := issue(b, 3)
	recs := wait(t, f, 3)
	r := recs[0]
	if !errors.Is(r.Err, ErrStalled) || !strings.Contains(r.Err.Error(), "no data from the server for 300ms (stall_timeout)") || r.Tokens != 2 {
		t.Fatalf("stalled sample: %+v", r)
	}
	// It ended no sooner than the stall timeout after its last data, and
	// (generously) not much later.
	if d := time.Duration(r.At - sent[0]); d < stall || d > stall+5*time.Second {
		t.Fatalf("stalled sample ended after %v; the stall timeout is %v", d, stall)
	}
	for id := range uint64(3) {
		if id > 0 && recs[id].Err != nil {
			t.Fatalf("sample %d: %v", id, recs[id].Err)
		}
	}

	// Headers that never come.
	hold := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			fmt.Fprint(w, `{"data": [{"id": "test-model"}]}`)
			return
		}
		select {
		case <-r.Context().Done():
		case <-hold:
		}
	}))
	defer silent.Close()
	defer close(hold)
	b2 := newBackend(t, silent.URL, OptStallTimeout, stall.String())
	f2 := start(t, b2)
	sent = issue(b2, 1)
	r = wait(t, f2, 1)[0]
	if !errors.Is(r.Err, ErrStalled) || time.Duration(r.At-sent[0]) < stall {
		t.Fatalf("silent server: %+v after %v", r, time.Duration(r.At-sent[0]))
	}
}

func TestRequestTimeout(t *testing.T) {
	_, ts := openaitest.Serve(t, openaitest.Config{InterToken: 100 * time.Millisecond})
	b := newBackend(t, ts.URL, OptRequestTimeout, "250ms")
	f := start(t, b)
	issue(b, 1)
	r := wait(t, f, 1)[0]
	if !errors.Is(r.Err, ErrTimeout) || !strings.Contains(r.Err.Error(), "request timed out after 250ms (request_timeout)") {
		t.Fatalf("%+v", r)
	}
	// Tokens come every 100 ms from 0: 3 of 8 were in before 250 ms.
	if r.Tokens < 1 || r.Tokens >= 8 {
		t.Fatalf("%d tokens before the timeout", r.Tokens)
	}
}

// TestServerDownAtStart: nothing listening, and a listener that never
// answers; both fail Start, the second within connect_timeout.
func TestServerDownAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	b := newBackend(t, "http://"+addr)
	err = b.StartWith(context.Background(), new(tokenFake))
	if err == nil || !strings.Contains(err.Error(), "openai: start: server at http://"+addr+" is not reachable") ||
		!strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Start against a closed port: %v", err)
	}

	// Accepts, reads, never answers.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	})
	b = newBackend(t, "http://"+ln.Addr().String(), OptConnectTimeout, "300ms")
	t0 := time.Now()
	err = b.StartWith(context.Background(), new(tokenFake))
	if err == nil || !strings.Contains(err.Error(), "did not answer within 300ms (connect_timeout)") {
		t.Fatalf("Start against a silent server: %v", err)
	}
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Fatalf("gave up after %v, before connect_timeout", d)
	}
}

func TestWrongModel(t *testing.T) {
	_, ts := openaitest.Serve(t, openaitest.Config{Models: []string{"llama-3-8b", "llama-2-70b"}})
	b := newBackend(t, ts.URL, OptModel, "llama-3-70b")
	err := b.StartWith(context.Background(), new(tokenFake))
	want := `openai: start: model "llama-3-70b" is not served at ` + ts.URL + ` (served: "llama-2-70b", "llama-3-8b")`
	if err == nil || err.Error() != want {
		t.Fatalf("Start = %v; want %s", err, want)
	}

	// A server without /v1/models: the requests themselves fail, with
	// vLLM's message.
	srv := openaitest.New(openaitest.Config{})
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			http.NotFound(w, r)
			return
		}
		srv.ServeHTTP(w, r)
	}))
	defer bare.Close()
	b = newBackend(t, bare.URL, OptModel, "nope")
	f := start(t, b)
	issue(b, 1)
	r := wait(t, f, 1)[0]
	var se *StatusError
	if !errors.As(r.Err, &se) || se.StatusCode != 404 || !strings.Contains(r.Err.Error(), "The model `nope` does not exist.") {
		t.Fatalf("%v; want vLLM's 404", r.Err)
	}
}

// TestServerKilledMidRun: the in-flight samples and all later ones complete
// with errors; nothing hangs.
func TestServerKilledMidRun(t *testing.T) {
	srv := openaitest.New(openaitest.Config{InterToken: 20 * time.Millisecond})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()
	b := newBackend(t, ts.URL, OptMaxInflight, "4")
	f := start(t, b)
	issue(b, 4)
	// Wait until all four have their first token, then kill the server.
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		n := len(f.first)
		f.mu.Unlock()
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no first tokens")
		}
		time.Sleep(time.Millisecond)
	}
	ts.Listener.Close()
	ts.CloseClientConnections()
	b.IssueQuery([]inference.Sample{{ID: 4}, {ID: 5}})
	recs := wait(t, f, 6)
	for id, r := range recs {
		if r.Err == nil {
			t.Fatalf("sample %d succeeded after the server died: %+v", id, r)
		}
	}
	if !strings.Contains(recs[5].Err.Error(), "connection refused") {
		t.Errorf("sample issued after the kill: %v", recs[5].Err)
	}
}

// TestStopCancelsInflight: Stop ends stalled requests at once and reports
// none of them; a second Start works.
func TestStopCancelsInflight(t *testing.T) {
	_, ts := openaitest.Serve(t, openaitest.Config{Fault: func(int) openaitest.Fault {
		return openaitest.Fault{Kind: openaitest.Stall, After: 1}
	}})
	b := newBackend(t, ts.URL, OptMaxInflight, "2", OptStallTimeout, "1h")
	f := new(tokenFake)
	if err := b.StartWith(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	issue(b, 5)
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("Stop took %v", d)
	}
	if n := f.Len(); n != 0 {
		t.Fatalf("%d samples reported after Stop; want none", n)
	}
	if err := b.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	// Started again, it serves; a cancelled parent context stops it too.
	ctx, cancel := context.WithCancel(context.Background())
	f = new(tokenFake)
	if err := b.StartWith(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := b.StartWith(ctx, f); err == nil {
		t.Fatal("started twice")
	}
	cancel()
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestMaxInflight(t *testing.T) {
	srv, ts := openaitest.Serve(t, openaitest.Config{TTFT: 5 * time.Millisecond, InterToken: time.Millisecond})
	b := newBackend(t, ts.URL, OptMaxInflight, "3")
	f := start(t, b)
	q := make([]inference.Sample, 30)
	for i := range q {
		q[i] = inference.Sample{ID: uint64(i), Index: uint32(i)}
	}
	b.IssueQuery(q)
	wait(t, f, 30)
	if p := srv.PeakInflight(); p < 1 || p > 3 {
		t.Fatalf("peak in flight %d; want 1..3", p)
	}
}

func TestAPIKey(t *testing.T) {
	srv, ts := openaitest.Serve(t, openaitest.Config{APIKey: "sk-test"})
	b := newBackend(t, ts.URL)
	err := b.StartWith(context.Background(), new(tokenFake))
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "set option api_key_env") {
		t.Fatalf("Start without a key: %v", err)
	}
	t.Setenv("GPUPERF_TEST_KEY", "sk-test")
	b = newBackend(t, ts.URL, OptAPIKeyEnv, "GPUPERF_TEST_KEY")
	f := start(t, b)
	issue(b, 2)
	for id, r := range wait(t, f, 2) {
		if r.Err != nil {
			t.Fatalf("sample %d: %v", id, r.Err)
		}
	}
	for _, r := range srv.Requests() {
		if r.Authorization != "Bearer sk-test" {
			t.Fatalf("Authorization %q", r.Authorization)
		}
	}
}

func TestTLS(t *testing.T) {
	srv := openaitest.New(openaitest.Config{})
	ts := httptest.NewTLSServer(srv)
	defer ts.Close()
	b := newBackend(t, ts.URL)
	err := b.StartWith(context.Background(), new(tokenFake))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Start without the CA: %v", err)
	}
	ca := writeFile(t, "ca.pem", string(pemCert(ts.Certificate().Raw)))
	b = newBackend(t, ts.URL, OptCAFile, ca)
	f := start(t, b)
	issue(b, 3)
	for id, r := range wait(t, f, 3) {
		if r.Err != nil || r.Tokens != 8 {
			t.Fatalf("sample %d: %+v", id, r)
		}
	}
}

func TestDescribe(t *testing.T) {
	_, ts := openaitest.Serve(t, openaitest.Config{Version: "0.6.3.post1", MaxModelLen: 8192})
	b := newBackend(t, ts.URL)
	d, err := b.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"model": "test-model", "server_version": "0.6.3.post1", "model_max_model_len": "8192",
		"model_owned_by": "vllm", "model_root": "test-model"}
	if !mapsEqual(d, want) {
		t.Fatalf("Describe = %v; want %v", d, want)
	}
	// Without /version: fewer keys, no error.
	_, ts2 := openaitest.Serve(t, openaitest.Config{})
	d, err = newBackend(t, ts2.URL).Describe(context.Background())
	if err != nil || d["server_version"] != "" || d["model_max_model_len"] != "4096" {
		t.Fatalf("Describe without /version = %v, %v", d, err)
	}
	// A model the server does not serve is an error.
	if _, err := newBackend(t, ts2.URL, OptModel, "x").Describe(context.Background()); err == nil || !strings.Contains(err.Error(), `model "x" is not served`) {
		t.Fatalf("Describe of a wrong model: %v", err)
	}
}

// TestTokenLatencies runs the load generator on the test server with a
// token-latency model: TTFT, TPOT and the token count must follow from the
// server's configuration.
func TestTokenLatencies(t *testing.T) {
	const (
		ttft     = 40 * time.Millisecond
		inter    = 8 * time.Millisecond
		maxTok   = 6
		perChunk = 2 // usage (6) must be used, not the 3 chunks
	)
	_, ts := openaitest.Serve(t, openaitest.Config{TTFT: ttft, InterToken: inter, TokensPerChunk: perChunk})
	s, qsl, err := inference.Settings("llama2-70b", inference.SingleStream, inference.ProfileQuick)
	if err != nil {
		t.Fatal(err)
	}
	if !s.UseTokenLatencies {
		t.Fatal("llama2-70b does not use token latencies")
	}
	s.MinDurationMs, s.WarmupMs, s.MinQueryCount = 600, 100, 8
	s.PerformanceSampleCountOverride, qsl.PerformanceSampleCount = 8, 8
	s.SingleStreamExpectedLatencyNs = float64(ttft + maxTok*inter)
	b := newBackend(t, ts.URL, OptMaxTokens, strconv.Itoa(maxTok))
	res, err := inference.Run(context.Background(), b, inference.Config{Settings: s, QSL: qsl, Model: "llama2-70b"})
	if err != nil {
		t.Fatal(err)
	}
	tk := res.Tokens
	n := int64(res.SamplesComplete)
	if res.SamplesFailed != 0 || n < 8 || tk == nil {
		t.Fatalf("%d samples, %d failed (%s), tokens %+v", n, res.SamplesFailed, res.FirstError, tk)
	}
	if tk.TotalTokens != maxTok*n {
		t.Fatalf("total tokens %d; want %d × %d", tk.TotalTokens, maxTok, n)
	}
	// The first chunk carries tokens 0 and 1, so the server cannot send it
	// before TTFT + inter, nor the last before TTFT + (tokens − 1)·inter;
	// TPOT is then about the gap between them over tokens − 1. A loaded
	// machine adds delay, so the upper bounds are generous.
	t.Logf("%d samples: TTFT mean %v, TPOT mean %v, latency mean %v", n, time.Duration(tk.FirstToken.MeanNs),
		time.Duration(tk.TimePerOutputToken.MeanNs), time.Duration(res.Latency.MeanNs))
	firstDue := ttft + (perChunk-1)*inter
	lastDue := ttft + (maxTok-1)*inter
	tpot := (lastDue - firstDue) / (maxTok - 1)
	if tk.FirstToken.MinNs < int64(firstDue) || tk.FirstToken.MeanNs > int64(firstDue+time.Second) {
		t.Errorf("TTFT min %v mean %v; want at least %v", time.Duration(tk.FirstToken.MinNs), time.Duration(tk.FirstToken.MeanNs), firstDue)
	}
	if res.Latency.MinNs < int64(lastDue) || res.Latency.MeanNs > int64(lastDue+time.Second) {
		t.Errorf("latency min %v; want at least %v", time.Duration(res.Latency.MinNs), lastDue)
	}
	if m := time.Duration(tk.TimePerOutputToken.MeanNs); m < tpot/2 || m > tpot+200*time.Millisecond {
		t.Errorf("TPOT mean %v; want about %v", m, tpot)
	}
	// TPOT = (latency − TTFT)/(tokens − 1) per sample, so the means obey
	// it up to the integer division's remainders (below tokens − 1 ns per
	// sample) and the truncated means (1 ns each).
	lhs := res.Latency.MeanNs - tk.FirstToken.MeanNs
	rhs := tk.TimePerOutputToken.MeanNs * (maxTok - 1)
	if d := lhs - rhs; d < -(maxTok+2) || d > maxTok+2 {
		t.Errorf("mean latency − mean TTFT = %d ns; (tokens − 1) × mean TPOT = %d ns", lhs, rhs)
	}
	if res.BackendFacts[FactTokenSource] != SourceUsage || res.BackendFacts[FactChunksMatchUsage] != "false" {
		t.Errorf("backend facts %v", res.BackendFacts)
	}
}

// TestRunInvalidOnErrors: failed requests make the run INVALID under the
// default max_error_pct of 0, and the reason quotes the server.
func TestRunInvalidOnErrors(t *testing.T) {
	_, ts := openaitest.Serve(t, openaitest.Config{Fault: func(n int) openaitest.Fault {
		if n%5 == 3 {
			return openaitest.Fault{Kind: openaitest.Status, Status: 503}
		}
		return openaitest.Fault{}
	}})
	s, qsl, err := inference.Settings("llama2-70b", inference.Offline, inference.ProfileQuick)
	if err != nil {
		t.Fatal(err)
	}
	// A loaded set of 16, so equal issue pads the query to 48 samples, not
	// to the 24576 of the real data set.
	s.MinDurationMs, s.WarmupMs, s.MinQueryCount, s.OfflineExpectedQPS = 100, 0, 40, 100
	s.PerformanceSampleCountOverride, qsl.PerformanceSampleCount = 16, 16
	b := newBackend(t, ts.URL)
	res, err := inference.Run(context.Background(), b, inference.Config{Settings: s, QSL: qsl, Model: "llama2-70b"})
	if err != nil {
		t.Fatal(err)
	}
	if res.SamplesFailed == 0 || res.SamplesComplete != res.SamplesIssued {
		t.Fatalf("%d of %d samples complete, %d failed", res.SamplesComplete, res.SamplesIssued, res.SamplesFailed)
	}
	if res.Validity.Valid || !strings.Contains(res.Validity.InvalidReason, "max_error_pct") || !strings.Contains(res.FirstError, "HTTP 503") {
		t.Fatalf("validity %+v, first error %q", res.Validity, res.FirstError)
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestRunServerKilled: the server dies in the middle of a Server run; the
// run still ends on time with a result, INVALID for its failed samples.
func TestRunServerKilled(t *testing.T) {
	srv := openaitest.New(openaitest.Config{TTFT: 2 * time.Millisecond, InterToken: time.Millisecond})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()
	s, qsl, err := inference.Settings("llama2-70b", inference.Server, inference.ProfileQuick)
	if err != nil {
		t.Fatal(err)
	}
	s.MinDurationMs, s.WarmupMs, s.ServerTargetQPS, s.MinQueryCount = 1000, 0, 100, 50
	s.PerformanceSampleCountOverride, qsl.PerformanceSampleCount = 8, 8
	b := newBackend(t, ts.URL)
	kill := time.AfterFunc(400*time.Millisecond, func() {
		ts.Listener.Close()
		ts.CloseClientConnections()
	})
	defer kill.Stop()
	res, err := inference.Run(context.Background(), b, inference.Config{Settings: s, QSL: qsl, Model: "llama2-70b"})
	if err != nil {
		t.Fatal(err)
	}
	if res.SamplesComplete != res.SamplesIssued || res.SamplesFailed == 0 || res.SamplesFailed == res.SamplesComplete {
		t.Fatalf("%d of %d samples complete, %d failed; want some to succeed before the kill and the rest to fail",
			res.SamplesComplete, res.SamplesIssued, res.SamplesFailed)
	}
	if res.Validity.Valid || !strings.Contains(res.Validity.InvalidReason, "max_error_pct") || !strings.Contains(res.FirstError, "openai: ") {
		t.Fatalf("validity %+v, first error %q", res.Validity, res.FirstError)
	}
}
