package trend

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sparkBars are the eighth-blocks a sparkline is drawn with.
var sparkBars = []rune("▁▂▃▄▅▆▇█")

// SparkWidth is the most columns a sparkline takes; longer series are
// averaged into that many buckets.
const SparkWidth = 60

// Sparkline draws values as block characters from the lowest to the
// highest, at most width columns wide; per is how many points each
// column averages.
func Sparkline(values []float64, width int) (line string, per int) {
	if len(values) == 0 {
		return "", 0
	}
	per = (len(values) + width - 1) / width
	var cols []float64
	for i := 0; i < len(values); i += per {
		end := min(i+per, len(values))
		var s float64
		for _, v := range values[i:end] {
			s += v
		}
		cols = append(cols, s/float64(end-i))
	}
	lo, hi := slices.Min(cols), slices.Max(cols)
	var b strings.Builder
	for _, v := range cols {
		k := len(sparkBars) / 2
		// Differences below a millionth of the level are rounding, not a
		// shape to draw.
		if hi-lo > 1e-6*math.Max(math.Abs(hi), math.Abs(lo)) {
			k = int(math.Round((v - lo) / (hi - lo) * float64(len(sparkBars)-1)))
		}
		b.WriteRune(sparkBars[k])
	}
	return b.String(), per
}

// WriteText writes each trend as a few lines: the series, a sparkline of
// its values, the latest run with its interval, the change points, and
// the verdict on the newest segment.
func WriteText(w io.Writer, ts []Trend) error {
	ew := &errWriter{w: w}
	for i, t := range ts {
		if i > 0 {
			ew.printf("\n")
		}
		pts := t.Points
		first, last := pts[0], pts[len(pts)-1]
		ew.printf("%s", t.Name())
		if t.PlanHash != "" {
			ew.printf("  [plan %s]", t.PlanHash)
		}
		ew.printf("\n")
		vals := make([]float64, len(pts))
		for j, p := range pts {
			vals[j] = p.Value
		}
		line, per := Sparkline(vals, SparkWidth)
		ew.printf("  %s  %d runs, %s … %s", line, len(pts), first.At.Format(time.DateOnly), last.At.Format(time.DateOnly))
		if per > 1 {
			ew.printf(" (a column averages %d runs)", per)
		}
		ew.printf("; range %s … %s\n", t.Format(slices.Min(vals)), t.Format(slices.Max(vals)))
		ew.printf("  latest: %s", t.Format(last.Value))
		if last.Low != nil && last.High != nil {
			ew.printf(" [%s, %s]", t.Format(*last.Low), t.Format(*last.High))
		}
		ew.printf(", run %d", last.Run)
		if last.RunID != "" {
			ew.printf(" (%s)", last.RunID)
		}
		ew.printf(", %s\n", last.At.Format("2006-01-02 15:04"))
		if len(t.ChangePoints) == 0 {
			ew.printf("  no change point (%d runs", len(pts))
			if len(pts) < 6 {
				ew.printf("; two segments need at least 6")
			}
			ew.printf(")\n")
		}
		for _, c := range t.ChangePoints {
			ew.printf("  change at run %d", c.Run)
			if c.RunID != "" {
				ew.printf(" (%s)", c.RunID)
			}
			ew.printf(", %s: %s → %s (%s), p = %.3g\n", c.At.Format(time.DateOnly), t.Format(c.Before), t.Format(c.After), t.FormatChange(c.Change), c.PValue)
		}
		if t.Regression {
			ew.printf("  REGRESSION: %s\n", t.Reason)
		}
	}
	return ew.err
}

// WriteJSON writes the trends and the gate.
func WriteJSON(w io.Writer, ts []Trend, g *Gate) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if ts == nil {
		ts = []Trend{}
	}
	return enc.Encode(struct {
		Schema string  `json:"schema"`
		Trends []Trend `json:"trends"`
		Gate   *Gate   `json:"gate,omitempty"`
	}{"gpuperf.trend/v1", ts, g})
}

// WriteCSV writes one row per point, with its series, segment and
// whether a change point starts there.
func WriteCSV(w io.Writer, ts []Trend) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"benchmark", "scenario", "baseline", "candidate", "quantity", "metric", "unit",
		"run", "run_id", "at", "value", "low", "high", "n", "verdict", "segment", "segment_mean", "change_point", "p_value", "tree"})
	for _, t := range ts {
		cps := map[int]ChangePoint{}
		for _, c := range t.ChangePoints {
			cps[c.Index] = c
		}
		seg := 0
		for i, p := range t.Points {
			for seg+1 < len(t.Segments) && i >= t.Segments[seg].End {
				seg++
			}
			cp, isCP := cps[i]
			pv := ""
			if isCP {
				pv = g(cp.PValue)
			}
			_ = cw.Write([]string{t.Benchmark, t.Scenario, t.Baseline, t.Candidate, t.Quantity, t.Metric, t.Unit,
				strconv.FormatInt(p.Run, 10), p.RunID, p.At.Format(time.RFC3339), g(p.Value), optG(p.Low), optG(p.High),
				strconv.Itoa(p.N), p.Verdict, strconv.Itoa(seg + 1), g(t.Segments[seg].Mean), strconv.FormatBool(isCP), pv, p.Tree})
		}
	}
	cw.Flush()
	return cw.Error()
}

func g(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }

func optG(v *float64) string {
	if v == nil {
		return ""
	}
	return g(*v)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
