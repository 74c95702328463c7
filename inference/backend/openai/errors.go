package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The ways a request fails besides an HTTP status; a failed sample's error
// wraps one of these or a *StatusError.
var (
	// ErrStalled: the server sent nothing for stall_timeout.
	ErrStalled = errors.New("stalled")
	// ErrTimeout: the request took longer than request_timeout.
	ErrTimeout = errors.New("request timed out")
	// ErrTruncated: the stream ended before "data: [DONE]".
	ErrTruncated = errors.New("stream ended before data: [DONE]")
	// ErrMalformed: the server sent something that is not the API's JSON.
	ErrMalformed = errors.New("malformed response")
	// ErrServer: the server reported an error inside a 200 response (an
	// error event in the stream).
	ErrServer = errors.New("server error")
	// ErrNoUsage: a response that was not streamed has no usage, so its
	// output tokens cannot be counted.
	ErrNoUsage = errors.New("no usage in the response")
)

// StatusError is a response with an HTTP status other than 200.
type StatusError struct {
	Method, Path string
	StatusCode   int
	// Message is the server's error message, when its body had one, or
	// the start of the body.
	Message string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s %s: HTTP %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// apiError is the error object of OpenAI ({"error": {...}}), of vLLM
// ({"object": "error", "message": ...}) and of FastAPI ({"detail": ...}).
type apiError struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
}

func (e *apiError) String() string {
	m := e.Message
	if e.Type != "" {
		m += " (" + e.Type + ")"
	}
	return m
}

type errorBody struct {
	Error   json.RawMessage `json:"error"`
	Object  string          `json:"object"`
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Detail  json.RawMessage `json:"detail"`
}

// errorMessage extracts the message of an error body, or "" when the body
// holds none.
func errorMessage(body []byte) string {
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil {
		return ""
	}
	if len(eb.Error) > 0 {
		var ae apiError
		if json.Unmarshal(eb.Error, &ae) == nil && ae.Message != "" {
			return ae.String()
		}
		var s string
		if json.Unmarshal(eb.Error, &s) == nil && s != "" {
			return s
		}
		return compact(eb.Error)
	}
	if eb.Object == "error" || eb.Message != "" {
		return (&apiError{Message: eb.Message, Type: eb.Type}).String()
	}
	if len(eb.Detail) > 0 {
		var s string
		if json.Unmarshal(eb.Detail, &s) == nil {
			return s
		}
		return compact(eb.Detail)
	}
	return ""
}

// statusError reads the start of a non-200 response's body into a
// *StatusError.
func statusError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &StatusError{Method: resp.Request.Method, Path: resp.Request.URL.Path, StatusCode: resp.StatusCode}
	if e.Message = errorMessage(body); e.Message == "" {
		e.Message = compact(body)
	}
	return e
}

// compact shortens b for an error message.
func compact(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > maxBodyLog {
		s = s[:maxBodyLog] + "…"
	}
	return s
}
