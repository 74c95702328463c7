package openai

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// eventReader reads server-sent events as the WHATWG HTML standard (§9.2,
// "Parsing an event stream") defines them: lines end in CRLF, LF or a lone
// CR; a line starting with ":" is a comment; an event's "data" lines are
// joined with "\n"; a blank line dispatches the event. Fields other than
// data and event (id, retry) are ignored. Unlike a browser, an event left
// undispatched when the stream ends is still returned, since a server that
// closes right after its last data line meant it.
type eventReader struct {
	sc      *bufio.Scanner
	afterCR bool // the last line ended in CR: a following LF is its CRLF
	first   bool // no line read yet (a byte-order mark may lead)

	typ     []byte // the event field of the event being read
	data    []byte
	hasData bool
}

func newEventReader(r io.Reader) *eventReader {
	er := &eventReader{first: true}
	er.sc = bufio.NewScanner(r)
	er.sc.Buffer(make([]byte, 4096), maxEventBytes)
	er.sc.Split(er.split)
	return er
}

// errEventTooLong is returned for a line longer than maxEventBytes.
var errEventTooLong = fmt.Errorf("a server-sent event line is longer than %d bytes", maxEventBytes)

// split is a bufio.SplitFunc for lines ending in CRLF, LF or CR. It never
// waits for the byte after a CR, so an event is dispatched as soon as its
// blank line arrives; an LF that then turns out to follow the CR is
// skipped.
func (r *eventReader) split(data []byte, atEOF bool) (int, []byte, error) {
	skip := 0
	if r.afterCR && len(data) > 0 {
		r.afterCR = false
		if data[0] == '\n' {
			skip = 1
			data = data[1:]
		}
	}
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		r.afterCR = data[i] == '\r'
		return skip + i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return skip + len(data), data, nil
	}
	// Nothing but the skipped LF: report the progress, ask for more.
	return skip, nil, nil
}

// next returns the next event's type ("" when it has none) and data; both
// are valid until the following call. It returns io.EOF after the last
// event.
func (r *eventReader) next() (typ, data []byte, err error) {
	r.typ, r.data, r.hasData = r.typ[:0], r.data[:0], false
	for r.sc.Scan() {
		l := r.sc.Bytes()
		if r.first {
			r.first = false
			l = bytes.TrimPrefix(l, []byte("\xEF\xBB\xBF"))
		}
		if len(l) == 0 {
			if r.hasData {
				return r.typ, r.data, nil
			}
			r.typ = r.typ[:0]
			continue
		}
		if l[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(l, []byte{':'})
		value = bytes.TrimPrefix(value, []byte{' '})
		switch string(field) {
		case "data":
			if r.hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			r.hasData = true
		case "event":
			r.typ = append(r.typ[:0], value...)
		}
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, nil, errEventTooLong
		}
		return nil, nil, err
	}
	if r.hasData {
		r.hasData = false
		return r.typ, r.data, nil
	}
	return nil, nil, io.EOF
}
