package main

import (
	"bytes"
	"io"
	"os"
	"strconv"

	"golang.org/x/term"
)

// termWriter is the console writer gpuperf's progress display draws
// through (mpb's ConsoleWriter). It redraws a block of lines in place
// without ever erasing "from here to the end of the screen" at the top-left
// corner: terminals such as tmux treat that as clearing the screen and push
// the whole screen into the scrollback, which left one stale copy of the
// block per redraw. Instead each line is erased to its end as it is
// rewritten, and lines the previous frame had beyond the new one are
// blanked one by one.
type termWriter struct {
	bytes.Buffer
	out  io.Writer
	fd   int
	tty  bool
	prev int // lines of the previous frame, which the next one overwrites
	// width is used when out is not a terminal (tests): 0 means 100.
	width int
}

func newTermWriter(out io.Writer) *termWriter {
	w := &termWriter{out: out, fd: -1}
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		w.fd, w.tty = int(f.Fd()), true
	}
	return w
}

// IsTerminal reports whether the display draws on a terminal. A test's
// writer with a set width counts as one, so the redrawing is testable.
func (w *termWriter) IsTerminal() bool { return w.tty || w.width > 0 }

// GetTermSize returns the terminal's size, or the test width and a tall
// height.
func (w *termWriter) GetTermSize() (int, int, error) {
	if !w.tty {
		return max(w.width, 1), 1000, nil
	}
	return term.GetSize(w.fd)
}

// Flush draws the buffered frame over the previous one. lines is how many
// of the frame's lines are the redrawn block (lines above it, such as log
// messages, scroll up and stay).
func (w *termWriter) Flush(lines int) error {
	frame := w.Bytes()
	var b bytes.Buffer
	b.Grow(len(frame) + 64)
	if w.prev > 0 {
		b.WriteString("\x1b[")
		b.WriteString(strconv.Itoa(w.prev))
		b.WriteString("A\r")
	}
	written := 0
	for len(frame) > 0 {
		i := bytes.IndexByte(frame, '\n')
		if i < 0 {
			b.Write(frame)
			b.WriteString("\x1b[K")
			break
		}
		b.Write(frame[:i])
		b.WriteString("\x1b[K\n")
		frame = frame[i+1:]
		written++
	}
	if extra := w.prev - written; extra > 0 {
		// The old frame was taller: blank its leftover lines, then come
		// back to just below the new frame.
		for range extra {
			b.WriteString("\x1b[2K\n")
		}
		b.WriteString("\x1b[")
		b.WriteString(strconv.Itoa(extra))
		b.WriteString("A")
	}
	w.Reset()
	w.prev = lines
	_, err := w.out.Write(b.Bytes())
	return err
}

// tableWidth is the width the compact table wraps to on out: the
// terminal's, between 60 and 100 columns, or 0 (the table's own 100) when
// out is not a terminal.
func tableWidth(out io.Writer) int {
	f, ok := out.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil || cols <= 0 {
		return 0
	}
	return min(max(cols, 60), 100)
}
