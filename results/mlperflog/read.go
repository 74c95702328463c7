package mlperflog

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Summary is a mlperf_log_summary.txt as read by ReadSummary: its values
// with the line each came from, the headline lines of its round, the
// validity checks, the early-stopping text and the trailer.
type Summary struct {
	SUTName  string
	Scenario Field
	Mode     string
	// Headlines are the value lines between "Mode" and "Result is": the
	// headline of the summary's round. LoadGen ≥ 4.1 leads Server with
	// "Completed samples per second", earlier rounds with "Scheduled
	// samples per second"; LLM runs add tokens/s lines.
	Headlines []Field
	// Fields holds every "label : value" line by label (the first when a
	// label repeats), headlines included.
	Fields map[string]Field
	Valid  bool
	// Validity is the "Result is" line.
	Validity Field
	// Checks are the indented "... satisfied" lines under "Result is".
	Checks []Check
	// Recommendations are the " * " lines under "Recommendations:".
	Recommendations []string
	// EarlyStopping holds the " * " lines of each early-stopping block by
	// its title ("Early Stopping Result", "TTFT Early Stopping Result", ...).
	EarlyStopping map[string][]Field
	// Estimates are the early-stopping percentile estimates in ns, by
	// percentile as printed ("90.0", "99.0"), from " * Early stopping
	// 90.0th percentile estimate: N".
	Estimates map[string]Field
	// Processed is the query count the early-stopping text states, 0 when
	// it states none.
	Processed     uint64
	ProcessedLine int
	// Warnings and Errors are the trailer's counts; ErrorsLine is the
	// trailer's error line, which every complete summary ends with.
	Warnings   int
	Errors     int
	ErrorsLine int
	// Lines is the number of lines read.
	Lines int
}

// Field is one value with the line it is on.
type Field struct {
	Label string
	Value string
	Line  int
}

// Check is one of the validity lines under "Result is".
type Check struct {
	Label string
	OK    bool
	Line  int
}

// LineError is a problem at one line of a log; Line 0 is the file as a
// whole.
type LineError struct {
	Line int
	Msg  string
}

func (e *LineError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

var (
	estimateRE = regexp.MustCompile(`^\* Early stopping (\d+(?:\.\d+)?)th percentile estimate: (\d+)$`)
	// LoadGen prints "Processed at least 64 queries (8828).", "Only
	// processed 40 queries." or, for Server, "Processed 27270 queries.".
	processedRE = regexp.MustCompile(`^\* (?:Processed at least \d+ queries \((\d+)\)|Only processed (\d+) queries|Processed (\d+) queries)\.$`)
	warningsRE  = regexp.MustCompile(`^(No|\d+) warnings? encountered`)
	errorsRE    = regexp.MustCompile(`^(No|\d+) (?:errors|ERRORS?) encountered`)
)

// ReadSummary reads a mlperf_log_summary.txt of any LoadGen since 1.0.
// It is ParseSummary's reading with the line of every value kept, and it
// refuses what cannot be a complete summary: no "Scenario" or "Result is"
// line, a validity or check line that is neither yes nor no, a count that
// is not a number, or no error trailer (a truncated file). Errors are
// *LineError.
func ReadSummary(r io.Reader) (*Summary, error) {
	s := &Summary{Fields: map[string]Field{}, EarlyStopping: map[string][]Field{}, Estimates: map[string]Field{}}
	var (
		state     = "head" // head, headline, checks, recommendations, early, rest
		esTitle   string
		firstErr  error
		lastLabel string
	)
	fail := func(n int, format string, args ...any) {
		if firstErr == nil {
			firstErr = &LineError{Line: n, Msg: fmt.Sprintf(format, args...)}
		}
	}
	err := scanSummary(r, func(n int, t string) {
		s.Lines = n
		if strings.HasPrefix(t, "=") {
			// A section rule ends the early-stopping text.
			if state == "early" {
				state = "rest"
			}
			return
		}
		if strings.HasPrefix(t, "*") {
			switch state {
			case "recommendations":
				s.Recommendations = append(s.Recommendations, strings.TrimSpace(strings.TrimPrefix(t, "*")))
			case "early":
				s.EarlyStopping[esTitle] = append(s.EarlyStopping[esTitle], Field{Label: esTitle, Value: t, Line: n})
				if m := estimateRE.FindStringSubmatch(t); m != nil {
					if _, dup := s.Estimates[m[1]]; !dup {
						s.Estimates[m[1]] = Field{Label: "Early stopping " + m[1] + "th percentile estimate", Value: m[2], Line: n}
					}
				}
				if m := processedRE.FindStringSubmatch(t); m != nil && s.Processed == 0 {
					v := m[1] + m[2] + m[3]
					q, err := strconv.ParseUint(v, 10, 64)
					if err != nil {
						fail(n, "query count %q is not a number", v)
					}
					s.Processed, s.ProcessedLine = q, n
				}
			}
			return
		}
		if m := warningsRE.FindStringSubmatch(t); m != nil {
			s.Warnings = parseTrailerCount(m[1], n, fail)
			return
		}
		if m := errorsRE.FindStringSubmatch(t); m != nil {
			s.Errors, s.ErrorsLine = parseTrailerCount(m[1], n, fail), n
			return
		}
		label, value, ok := labelValue(t)
		if !ok {
			if state == "early" && esTitle != "" && lastLabel == esTitle {
				// LoadGen's multi-line bullet continues without a "*".
				s.EarlyStopping[esTitle] = append(s.EarlyStopping[esTitle], Field{Label: esTitle, Value: t, Line: n})
			}
			return
		}
		lastLabel = label
		f := Field{Label: label, Value: value, Line: n}
		if _, dup := s.Fields[label]; !dup {
			s.Fields[label] = f
		}
		switch {
		case label == "SUT name":
			s.SUTName = value
		case label == "Scenario":
			s.Scenario = f
		case label == "Mode":
			s.Mode = value
			state = "headline"
		case label == "Result is":
			s.Validity = f
			switch value {
			case "VALID":
				s.Valid = true
			case "INVALID":
			default:
				fail(n, "Result is %q, want VALID or INVALID", value)
			}
			state = "checks"
		case label == "Recommendations":
			state = "recommendations"
		case strings.HasSuffix(label, "Early Stopping Result"):
			state, esTitle = "early", label
		case state == "headline":
			s.Headlines = append(s.Headlines, f)
		case state == "checks" && strings.HasSuffix(label, "satisfied"):
			switch strings.ToLower(value) {
			case "yes", "true":
				s.Checks = append(s.Checks, Check{Label: label, OK: true, Line: n})
			case "no", "false":
				s.Checks = append(s.Checks, Check{Label: label, OK: false, Line: n})
			default:
				fail(n, "%s %q, want Yes or NO", label, value)
			}
		default:
			if state != "head" {
				state = "rest"
			}
		}
	})
	if err != nil {
		return nil, &LineError{Line: s.Lines, Msg: err.Error()}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	switch {
	case s.Lines == 0:
		return nil, &LineError{Msg: "empty file"}
	case s.Scenario.Line == 0:
		return nil, &LineError{Line: s.Lines, Msg: `no "Scenario :" line: not an MLPerf summary`}
	case s.Validity.Line == 0:
		return nil, &LineError{Line: s.Lines, Msg: `no "Result is :" line: truncated or not an MLPerf summary`}
	case s.ErrorsLine == 0:
		return nil, &LineError{Line: s.Lines, Msg: `truncated: the file ends before LoadGen's "... encountered during test." trailer`}
	}
	return s, nil
}

func parseTrailerCount(v string, n int, fail func(int, string, ...any)) int {
	if v == "No" {
		return 0
	}
	c, err := strconv.Atoi(v)
	if err != nil || c > 1<<31 {
		fail(n, "count %q is not a number of at most 2^31", abbreviate(v))
	}
	return c
}

// Headline returns the first headline line whose label is one of labels.
func (s *Summary) Headline(labels ...string) (Field, bool) {
	for _, h := range s.Headlines {
		for _, l := range labels {
			if h.Label == l {
				return h, true
			}
		}
	}
	return Field{}, false
}

// Float returns the labelled value as a number, with an error naming the
// line when it is not one: only decimal notation, finite and within
// ±MaxMagnitude, is (see ParseDecimal).
func (s *Summary) Float(f Field) (float64, error) {
	v, err := ParseDecimal(f.Value)
	if err != nil {
		return 0, &LineError{Line: f.Line, Msg: fmt.Sprintf("%s: %v", f.Label, err)}
	}
	return v, nil
}
