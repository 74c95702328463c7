// Package mlperflog writes and reads MLPerf LoadGen's log files
// (mlperf_log_summary.txt and mlperf_log_detail.txt) for gpuperf runs, with
// LoadGen 6.0.17's labels, spacing and keys (reference/loadgen.md §5, §8), so
// MLPerf tools such as tools/submission/log_parser.py can read them.
package mlperflog

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// cppDefault formats v as a C++ std::ostream does with its default flags:
// printf's %g with precision 6, so 2499.98, 27500, 1e+06, 1.23457e+06, 1e-05.
// LoadGen prints doubles this way in the summary (Offline "Samples per
// second", target_qps) and in MLLOG detail values.
func cppDefault(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	// Go's 'g' with an explicit precision follows C: %e when the exponent
	// is < -4 or >= precision, trailing zeros removed, two-digit exponent.
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// fixed formats v as LoadGen's DoubleToString(v, prec): std::fixed with prec
// decimals (QPS lines, percentile labels).
func fixed(v float64, prec int) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// jsonFloat is cppDefault for MLLOG values. Non-finite values are written as
// Infinity/-Infinity/NaN, as newer LoadGens do; Python's json module (and
// ParseDetail) read them, where C++'s "inf" would not parse at all.
func jsonFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	return cppDefault(v)
}

// jsonString quotes s as a JSON string with LoadGen's EscapeStringJson rules
// (no HTML escaping).
func jsonString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, c := range []byte(s) {
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte("0123456789abcdef"[c>>4])
				b.WriteByte("0123456789abcdef"[c&0xf])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// yesNo is LoadGen's check verdict: "Yes", or "NO" in capitals.
func yesNo(ok bool) string {
	if ok {
		return "Yes"
	}
	return "NO"
}

// boolDigit prints a bool as C++ ostream does without std::boolalpha.
func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// timeMs is the MLLOG time_ms: whole ms, ".", the ns remainder in 6 digits.
func timeMs(ns int64) string {
	if ns < 0 {
		ns = 0
	}
	ms, rem := ns/1_000_000, ns%1_000_000
	s := strconv.FormatInt(rem, 10)
	return strconv.FormatInt(ms, 10) + "." + strings.Repeat("0", 6-len(s)) + s
}

// powerTime is LoadGen's DateTimeStringForPower: MM-DD-YYYY HH:MM:SS.mmm in
// UTC, milliseconds truncated.
func powerTime(t time.Time) string {
	return t.UTC().Format("01-02-2006 15:04:05.000")
}

// isoTime is test_datetime: ISO-8601 to the second with a "Z" suffix.
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05Z")
}
