package openai

import (
	"fmt"

	"github.com/valyala/fastjson"
)

// decoder reads completion chunks and whole completions. It reuses its
// parser's memory from one document to the next, which is what keeps the
// client's CPU per token low (encoding/json costs about twice as much
// here); a decoder is therefore used by one goroutine at a time.
type decoder struct{ p fastjson.Parser }

// decoded is what one chunk or completion says.
type decoded struct {
	// text counts the choices that carried output text.
	text int
	// finish is the last finish_reason given, or "".
	finish string
	// usage is usage.completion_tokens, or -1 when absent.
	usage int64
}

// textFields are where a choice carries output: text (completions),
// delta.content (chat chunks), message.content (chat, not streamed), and
// the reasoning text of reasoning models (vLLM's reasoning_content, or
// reasoning), which is output tokens too.
var textFields = [][]string{
	{"text"},
	{"delta", "content"}, {"delta", "reasoning_content"}, {"delta", "reasoning"},
	{"message", "content"}, {"message", "reasoning_content"}, {"message", "reasoning"},
}

// decode parses one JSON document: a chunk's data or a whole response. A
// document that is not the API's JSON wraps ErrMalformed; an error object
// wraps ErrServer.
func (d *decoder) decode(data []byte) (decoded, error) {
	out := decoded{usage: -1}
	v, err := d.p.ParseBytes(data)
	if err != nil {
		return out, fmt.Errorf("%w: %s: %v", ErrMalformed, compact(data), err)
	}
	if v.Type() != fastjson.TypeObject {
		return out, fmt.Errorf("%w: %s: not a JSON object", ErrMalformed, compact(data))
	}
	if e := v.Get("error"); (e != nil && e.Type() != fastjson.TypeNull) || string(v.GetStringBytes("object")) == "error" {
		m := errorMessage(data)
		if m == "" {
			m = compact(data)
		}
		return out, fmt.Errorf("%w: %s", ErrServer, m)
	}
	bad := func(what string) (decoded, error) {
		return out, fmt.Errorf("%w: %s: %s", ErrMalformed, compact(data), what)
	}
	if cs := v.Get("choices"); cs != nil && cs.Type() != fastjson.TypeNull {
		choices, err := cs.Array()
		if err != nil {
			return bad("choices is not an array")
		}
		for _, c := range choices {
			if c.Type() != fastjson.TypeObject {
				return bad("a choice is not an object")
			}
			carried := false
			for _, path := range textFields {
				f := c.Get(path...)
				if f == nil || f.Type() == fastjson.TypeNull {
					continue
				}
				s, err := f.StringBytes()
				if err != nil {
					return bad(fmt.Sprintf("choice field %v is not a string", path))
				}
				carried = carried || len(s) > 0
			}
			if carried {
				out.text++
			}
			if f := c.Get("finish_reason"); f != nil && f.Type() != fastjson.TypeNull {
				s, err := f.StringBytes()
				if err != nil {
					return bad("finish_reason is not a string")
				}
				out.finish = string(s)
			}
		}
	}
	if u := v.Get("usage"); u != nil && u.Type() != fastjson.TypeNull {
		if u.Type() != fastjson.TypeObject {
			return bad("usage is not an object")
		}
		if ct := u.Get("completion_tokens"); ct != nil && ct.Type() != fastjson.TypeNull {
			n, err := ct.Int64()
			if err != nil || n < 0 {
				return bad("usage.completion_tokens is not a count")
			}
			out.usage = n
		}
	}
	return out, nil
}
