package openai

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSyntheticPrompts(t *testing.T) {
	// Deterministic per (seed, index); different across indexes and seeds.
	a, b := synthetic(1, 5, 64, 0), synthetic(1, 5, 64, 0)
	if a != b {
		t.Fatal("the same seed and index gave two prompts")
	}
	if synthetic(1, 6, 64, 0) == a || synthetic(2, 5, 64, 0) == a {
		t.Fatal("another index or seed gave the same prompt")
	}
	if n := len(strings.Fields(a)); n != 64 {
		t.Fatalf("fixed length: %d words; want 64", n)
	}
	vocab := make(map[string]bool)
	for _, w := range vocabulary {
		if vocab[w] {
			t.Errorf("vocabulary lists %q twice", w)
		}
		vocab[w] = true
	}
	for _, w := range strings.Fields(a) {
		if !vocab[w] {
			t.Fatalf("word %q is not in the vocabulary", w)
		}
	}
	// Normal lengths: the sample mean and deviation over many indexes.
	const n, mean, sd = 4000, 200, 20.0
	var sum, sq float64
	for i := range uint32(n) {
		l := float64(len(strings.Fields(synthetic(7, i, mean, sd))))
		sum += l
		sq += l * l
	}
	m := sum / n
	s := math.Sqrt(sq/n - m*m)
	// Standard errors: sd/sqrt(n) = 0.32 for the mean; about 0.22 for the
	// deviation. Bounds of ten of them keep the test from flaking.
	if math.Abs(m-mean) > 3.2 || math.Abs(s-sd) > 2.2 {
		t.Fatalf("lengths: mean %.2f sd %.2f; want %d and %g", m, s, mean, sd)
	}
	// A wide distribution never gives an empty prompt.
	for i := range uint32(1000) {
		if synthetic(1, i, 2, 50) == "" {
			t.Fatalf("index %d: empty prompt", i)
		}
	}
}

func decodeBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return m
}

func TestRequestBody(t *testing.T) {
	c := DefaultConfig()
	c.URL, c.Model, c.MaxTokens, c.InputTokens = "http://x:1", "m", 9, 4
	p, err := newPrompts(c)
	if err != nil {
		t.Fatal(err)
	}
	raw, maxTok, err := p.body(3)
	if err != nil {
		t.Fatal(err)
	}
	m := decodeBody(t, raw)
	if maxTok != 9 || m["model"] != "m" || m["prompt"] != synthetic(0, 3, 4, 0) || m["max_tokens"] != 9.0 ||
		m["temperature"] != 0.0 || m["stream"] != true || m["ignore_eos"] != true || m["min_tokens"] != 9.0 {
		t.Fatalf("completions body %s", raw)
	}
	if so, _ := m["stream_options"].(map[string]any); so["include_usage"] != true {
		t.Fatalf("stream_options: %s", raw)
	}
	if _, ok := m["messages"]; ok {
		t.Fatalf("completions body with messages: %s", raw)
	}

	c.API, c.FixedLength, c.Stream = Chat, false, false
	p, _ = newPrompts(c)
	raw, _, _ = p.body(3)
	m = decodeBody(t, raw)
	msgs, _ := m["messages"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["role"] != "user" || msgs[0].(map[string]any)["content"] != synthetic(0, 3, 4, 0) {
		t.Fatalf("chat body %s", raw)
	}
	for _, k := range []string{"prompt", "ignore_eos", "min_tokens", "stream_options"} {
		if _, ok := m[k]; ok {
			t.Errorf("chat body without fixed_length or stream has %s: %s", k, raw)
		}
	}
	if m["temperature"] != 0.0 || m["stream"] != false {
		t.Fatalf("chat body %s", raw)
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPromptsFile(t *testing.T) {
	path := writeFile(t, "p.jsonl", `{"prompt": "first"}

{"prompt": "second", "max_tokens": 3}
{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "third"}]}
`)
	c := DefaultConfig()
	c.URL, c.Model, c.API, c.Prompts = "http://x:1", "m", Chat, path
	p, err := newPrompts(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		index   uint32
		content string // of the last message
		n       int    // messages
		max     int
	}{{0, "first", 1, 128}, {1, "second", 1, 3}, {2, "third", 2, 128}, {3, "first", 1, 128}, {7, "second", 1, 3}} {
		raw, maxTok, err := p.body(tc.index)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Messages []message `json:"messages"`
			Max      int       `json:"max_tokens"`
			Min      int       `json:"min_tokens"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) != tc.n || r.Messages[tc.n-1].Content != tc.content || r.Max != tc.max || r.Min != tc.max || maxTok != tc.max {
			t.Errorf("index %d: %s; want %d messages ending %q, max_tokens %d", tc.index, raw, tc.n, tc.content, tc.max)
		}
	}
}

func TestPromptsFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		api        API
		want       string
	}{
		{"empty", "\n\n", Completions, "no prompts"},
		{"not JSON", `{"prompt": "a"}` + "\nhello\n", Completions, "p.jsonl:2: "},
		{"neither", `{"max_tokens": 3}`, Completions, `p.jsonl:1: want {"prompt": TEXT} or {"messages": [...]}`},
		{"both", `{"prompt": "a", "messages": [{"role": "user", "content": "b"}]}`, Chat, "p.jsonl:1: give prompt or messages, not both"},
		{"messages for completions", `{"messages": [{"role": "user", "content": "b"}]}`, Completions, "p.jsonl:1: messages need api=chat"},
		{"empty messages", `{"messages": []}`, Chat, "p.jsonl:1: messages: want a non-empty array"},
		{"unknown field", `{"prompt": "a", "colour": 1}`, Completions, `p.jsonl:1: json: unknown field "colour"`},
		{"negative max_tokens", `{"prompt": "a", "max_tokens": -1}`, Completions, "p.jsonl:1: max_tokens -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "p.jsonl", tc.text)
			_, err := New(map[string]string{OptURL: "http://x:1", OptModel: "m", OptAPI: string(tc.api), OptPrompts: path})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "option prompts") {
				t.Fatalf("%s: %v; want %q", tc.text, err, tc.want)
			}
		})
	}
	_, err := New(map[string]string{OptURL: "http://x:1", OptModel: "m", OptPrompts: filepath.Join(t.TempDir(), "none.jsonl")})
	if err == nil || !strings.Contains(err.Error(), "none.jsonl") {
		t.Fatalf("missing file: %v", err)
	}
}
