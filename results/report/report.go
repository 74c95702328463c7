// Package report renders a results.Comparison in the formats gpuperf
// offers: the terminal table (WriteTable), JSON (the Comparison
// itself, schema gpuperf.comparison/v1), Markdown for pull-request
// comments, JUnit XML for CI, and one self-contained HTML file with
// charts drawn by gonum/plot.
//
// Every format renders the same value; only the HTML charts read more,
// from the runs' folders (latency percentiles and telemetry.csv), through
// a RunReader.
package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gpuperf/gpuperf/internal/atomicfile"
	"github.com/gpuperf/gpuperf/results"
)

// Format is a report format.
type Format string

// The formats.
const (
	Table    Format = "table"
	JSON     Format = "json"
	Markdown Format = "md"
	HTML     Format = "html"
	JUnit    Format = "junit"
)

// Formats lists every format, the default first.
func Formats() []Format { return []Format{Table, JSON, Markdown, HTML, JUnit} }

// FormatNames is Formats joined for help texts and errors: "table|json|...".
func FormatNames() string {
	var s []string
	for _, f := range Formats() {
		s = append(s, string(f))
	}
	return strings.Join(s, "|")
}

// ParseFormat reads a format name; "markdown" and "xml" are accepted for
// md and junit.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case Table, JSON, Markdown, HTML, JUnit:
		return f, nil
	case "markdown":
		return Markdown, nil
	case "xml":
		return JUnit, nil
	}
	return "", fmt.Errorf("unknown report format %q: use %s", s, FormatNames())
}

// Ext is the file extension a report of the format is stored with.
func (f Format) Ext() string {
	switch f {
	case Table:
		return "txt"
	case JUnit:
		return "xml"
	}
	return string(f)
}

// Options tune the reports.
type Options struct {
	// Runs reads the runs' latency percentiles and telemetry for the HTML
	// charts; nil reads them from the sides' folders (Folders{}).
	Runs RunReader
	// TopFindings is how many findings the Markdown report lists (the
	// HTML lists all); 0 means 5.
	TopFindings int
	// Wide prints the full terminal table instead of the compact one.
	Wide bool
	// Width is the columns the compact table fits (a terminal's width);
	// 0 means 100.
	Width int
}

func (o Options) runs() RunReader {
	if o.Runs == nil {
		return Folders{}
	}
	return o.Runs
}

func (o Options) topFindings() int {
	if o.TopFindings <= 0 {
		return 5
	}
	return o.TopFindings
}

// Write renders c in format f.
func Write(w io.Writer, f Format, c *results.Comparison, o Options) error {
	switch f {
	case Table:
		return writeTable(w, c, o.Wide, o.Width)
	case JSON:
		return WriteJSON(w, c)
	case Markdown:
		return WriteMarkdown(w, c, o)
	case HTML:
		return WriteHTML(w, c, o)
	case JUnit:
		return WriteJUnit(w, c)
	}
	return fmt.Errorf("unknown report format %q: use %s", f, FormatNames())
}

// WriteJSON writes c as indented JSON: the value itself, its fields in
// the order the schema documents them.
func WriteJSON(w io.Writer, c *results.Comparison) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode comparison: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// TreeFormats are the reports a result tree keeps, as DESIGN.md's tree
// lists them: report.json, report.md and report.html.
var TreeFormats = []Format{JSON, Markdown, HTML}

// WriteFiles writes report.<ext> into dir for each format (TreeFormats
// when none are given), each atomically, and returns the paths written.
// A format that fails to render does not stop the others; the errors are
// joined.
func WriteFiles(dir string, c *results.Comparison, o Options, formats ...Format) ([]string, error) {
	if len(formats) == 0 {
		formats = TreeFormats
	}
	var (
		paths []string
		errs  []error
	)
	for _, f := range formats {
		var b bytes.Buffer
		if err := Write(&b, f, c, o); err != nil {
			errs = append(errs, fmt.Errorf("report.%s: %w", f.Ext(), err))
			continue
		}
		name := "report." + f.Ext()
		if err := atomicfile.Write(dir, name, b.Bytes()); err != nil {
			errs = append(errs, fmt.Errorf("write %s: %w", filepath.Join(dir, name), err))
			continue
		}
		paths = append(paths, filepath.Join(dir, name))
	}
	return paths, errors.Join(errs...)
}

// ReportFile is the stored comparison in a result tree.
const ReportFile = "report.json"

// Read reads a stored comparison (report.json). Bad input is a
// *results.InputError naming the file and, for malformed JSON, the line.
func Read(path string) (*results.Comparison, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &results.InputError{File: path, Err: err}
	}
	return Decode(path, b)
}

// Decode decodes a stored comparison read from name.
func Decode(name string, b []byte) (*results.Comparison, error) {
	var c results.Comparison
	if err := json.Unmarshal(b, &c); err != nil {
		line := 0
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line = lineOf(b, se.Offset)
		case errors.As(err, &te):
			line = lineOf(b, te.Offset)
		}
		return nil, &results.InputError{File: name, Line: line, Err: fmt.Errorf("not a gpuperf comparison: %w", err)}
	}
	switch {
	case c.Schema == "":
		return nil, &results.InputError{File: name, Err: fmt.Errorf("no \"schema\": not a gpuperf comparison (want %s)", results.ComparisonSchema)}
	case c.Schema != results.ComparisonSchema:
		return nil, &results.InputError{File: name, Err: fmt.Errorf("schema %q: this gpuperf reads %s", c.Schema, results.ComparisonSchema)}
	}
	return &c, nil
}

// lineOf is the 1-based line of byte offset off.
func lineOf(b []byte, off int64) int {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	return bytes.Count(b[:off], []byte{'\n'}) + 1
}
