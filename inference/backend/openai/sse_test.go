package openai

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

type event struct{ typ, data string }

// readAll returns every event of r, and the error that ended the stream
// (nil for io.EOF).
func readAll(r io.Reader) ([]event, error) {
	er := newEventReader(r)
	var out []event
	for {
		typ, data, err := er.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, event{string(typ), string(data)})
	}
}

func TestEventReader(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []event
	}{
		{"one event", "data: a\n\n", []event{{"", "a"}}},
		{"two events", "data: a\n\ndata: b\n\n", []event{{"", "a"}, {"", "b"}}},
		{"no space after the colon", "data:a\n\n", []event{{"", "a"}}},
		{"only one space is stripped", "data:  a\n\n", []event{{"", " a"}}},
		{"multi-line data joins with LF", "data: {\"a\":\ndata: 1}\n\n", []event{{"", "{\"a\":\n1}"}}},
		{"CRLF", "data: a\r\n\r\ndata: b\r\n\r\n", []event{{"", "a"}, {"", "b"}}},
		{"lone CR", "data: a\r\rdata: b\r\r", []event{{"", "a"}, {"", "b"}}},
		{"mixed line ends", "data: a\r\n\ndata: b\n\r\n", []event{{"", "a"}, {"", "b"}}},
		{"comments are skipped", ": ping\ndata: a\n: more\n\n:\n\n", []event{{"", "a"}}},
		{"event type", "event: error\ndata: boom\n\ndata: next\n\n", []event{{"error", "boom"}, {"", "next"}}},
		{"id and retry are ignored", "id: 7\nretry: 10\ndata: a\n\n", []event{{"", "a"}}},
		{"a field with no colon", "data\n\n", []event{{"", ""}}},
		{"blank lines without data dispatch nothing", "\n\n\nevent: x\n\ndata: a\n\n", []event{{"", "a"}}},
		{"unknown fields are ignored", "foo: bar\ndata: a\n\n", []event{{"", "a"}}},
		{"byte-order mark", "\xEF\xBB\xBFdata: a\n\n", []event{{"", "a"}}},
		{"last event without a blank line", "data: a\n\ndata: [DONE]\n", []event{{"", "a"}, {"", "[DONE]"}}},
		{"last line without an end", "data: [DONE]", []event{{"", "[DONE]"}}},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, and one byte per read: line ends split across reads
			// (CR, then LF) must parse the same.
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				got, err := readAll(r)
				if err != nil {
					t.Fatalf("%q: %v", tc.in, err)
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("%q: events %q; want %q", tc.in, got, tc.want)
				}
			}
		})
	}
}

func TestEventReaderErrors(t *testing.T) {
	long := "data: " + strings.Repeat("x", maxEventBytes+1) + "\n\n"
	if _, err := readAll(strings.NewReader(long)); !errors.Is(err, errEventTooLong) {
		t.Errorf("a %d-byte line: %v; want errEventTooLong", len(long), err)
	}
	boom := errors.New("connection reset")
	got, err := readAll(io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) || len(got) != 1 {
		t.Errorf("read error: events %q, err %v; want one event, then %v", got, err, boom)
	}
}

// FuzzEventReader checks that how the stream is cut into reads never
// changes the events.
func FuzzEventReader(f *testing.F) {
	for _, s := range []string{"data: a\r\n\r\n", "data: a\rdata: b\r\r", ": c\ndata: x\ndata: y\n\n", "event: e\ndata\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		whole, err1 := readAll(strings.NewReader(in))
		bytewise, err2 := readAll(iotest.OneByteReader(strings.NewReader(in)))
		if (err1 == nil) != (err2 == nil) || !slices.Equal(whole, bytewise) {
			t.Fatalf("%q: whole %q (%v), byte by byte %q (%v)", in, whole, err1, bytewise, err2)
		}
	})
}
