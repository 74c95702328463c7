package openai

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzStream reads an arbitrary server-sent event stream and decodes each
// event's data as a completion chunk, as the backend does with a server's
// response: errors for what is not the API's JSON, never a panic, and a
// decoded chunk never reports a negative token count.
func FuzzStream(f *testing.F) {
	for _, s := range []string{
		"data: {\"choices\":[{\"text\":\"a\",\"finish_reason\":null}]}\n\ndata: [DONE]\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":{\"completion_tokens\":7}}\r\n\r\n",
		"event: error\ndata: {\"error\":{\"message\":\"overloaded\"}}\n\n",
		"data: {\"choices\":[{\"message\":{\"reasoning_content\":\"x\"}}]}\n\n",
		"data: {\"choices\":\"no\"}\n\ndata: [1,2]\n\n: comment\n",
		"data: {\"usage\":{\"completion_tokens\":-1}}\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		er := newEventReader(strings.NewReader(in))
		var dec decoder
		for range 1 << 16 {
			_, data, err := er.next()
			if errors.Is(err, io.EOF) || err != nil {
				return
			}
			if string(data) == "[DONE]" {
				continue
			}
			d, err := dec.decode(data)
			if err == nil && (d.usage < -1 || d.text < 0) {
				t.Fatalf("%q decoded to %+v", data, d)
			}
		}
	})
}
