package openai

import (
	"errors"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want decoded
	}{
		{"completions token", `{"id":"c","object":"text_completion","choices":[{"index":0,"text":" a","finish_reason":null}]}`, decoded{text: 1, usage: -1}},
		{"chat role chunk carries no text", `{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`, decoded{usage: -1}},
		{"chat null content", `{"choices":[{"delta":{"content":null}}]}`, decoded{usage: -1}},
		{"chat token", `{"choices":[{"delta":{"content":"hi"}}]}`, decoded{text: 1, usage: -1}},
		{"reasoning token (vLLM)", `{"choices":[{"delta":{"reasoning_content":"hm"}}]}`, decoded{text: 1, usage: -1}},
		{"reasoning token", `{"choices":[{"delta":{"reasoning":"hm","content":null}}]}`, decoded{text: 1, usage: -1}},
		{"escaped text", `{"choices":[{"text":"\u00e9\n"}]}`, decoded{text: 1, usage: -1}},
		{"finish", `{"choices":[{"text":"","finish_reason":"length"}]}`, decoded{finish: "length", usage: -1}},
		{"usage chunk", `{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":128,"total_tokens":133}}`, decoded{usage: 128}},
		{"usage null", `{"choices":[{"text":"x"}],"usage":null}`, decoded{text: 1, usage: -1}},
		{"usage without completion_tokens", `{"usage":{"prompt_tokens":5}}`, decoded{usage: -1}},
		{"whole chat completion", `{"object":"chat.completion","choices":[{"message":{"role":"assistant","content":" a b"},"finish_reason":"stop"}],"usage":{"completion_tokens":2}}`,
			decoded{text: 1, finish: "stop", usage: 2}},
		{"error null", `{"choices":[{"text":"x"}],"error":null}`, decoded{text: 1, usage: -1}},
		{"unknown fields", `{"choices":[{"text":"x","logprobs":{"a":[1,2]},"stop_reason":null}],"system_fingerprint":"fp"}`, decoded{text: 1, usage: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d decoder
			got, err := d.decode([]byte(tc.in))
			if err != nil || got != tc.want {
				t.Fatalf("decode(%s) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		is       error
		want     string
	}{
		{"not JSON", `{"choices": [`, ErrMalformed, "cannot parse"},
		{"not an object", `[1]`, ErrMalformed, "not a JSON object"},
		{"text a number", `{"choices":[{"text":5}]}`, ErrMalformed, "choice field [text] is not a string"},
		{"choices an object", `{"choices":{}}`, ErrMalformed, "choices is not an array"},
		{"choice a string", `{"choices":["a"]}`, ErrMalformed, "a choice is not an object"},
		{"finish a number", `{"choices":[{"finish_reason":1}]}`, ErrMalformed, "finish_reason is not a string"},
		{"usage a string", `{"usage":"lots"}`, ErrMalformed, "usage is not an object"},
		{"negative count", `{"usage":{"completion_tokens":-3}}`, ErrMalformed, "completion_tokens is not a count"},
		{"OpenAI error", `{"error":{"message":"overloaded","type":"server_error","code":null}}`, ErrServer, "server error: overloaded (server_error)"},
		{"vLLM error", `{"object":"error","message":"boom","type":"InternalServerError","code":500}`, ErrServer, "server error: boom (InternalServerError)"},
		{"error string", `{"error":"Unauthorized"}`, ErrServer, "server error: Unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d decoder
			_, err := d.decode([]byte(tc.in))
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("decode(%s) = %v; want %v containing %q", tc.in, err, tc.is, tc.want)
			}
		})
	}
}

// BenchmarkDecode is one streamed token's JSON.
func BenchmarkDecode(b *testing.B) {
	data := []byte(`{"id":"cmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"meta-llama/Llama-2-70b-chat-hf","choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}]}`)
	var d decoder
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
