// Package trend finds where a series of runs changed level, and whether
// the newest runs are a regression: change points by E-divisive means
// (results/changepoint) over the history's series (results/history), and
// the trend gate on the newest segment. It renders the result as text
// with a sparkline, CSV, JSON, an HTML page and a PNG chart.
package trend

import (
	"fmt"
	"math"
	"time"

	"github.com/gpuperf/gpuperf/results"
	"github.com/gpuperf/gpuperf/results/changepoint"
	"github.com/gpuperf/gpuperf/results/history"
)

// Options tune the analysis.
type Options struct {
	// Detect tunes the change-point detection.
	Detect changepoint.Options
	// MarginPct, when positive, is the drop the gate tolerates; otherwise
	// each series' own (its newest record's equivalence margin), else
	// results.DefaultMarginPct.
	MarginPct float64
}

// Trend is one series with its change points.
type Trend struct {
	history.Series
	ChangePoints []ChangePoint `json:"change_points"`
	Segments     []Segment     `json:"segments"`
	// MarginPct is the margin the gate judged the newest segment by, in
	// the series' change units (percentage points for retained %, percent
	// of the level for a metric).
	MarginPct float64 `json:"margin_pct"`
	// Regression: the newest segment is a significant change for the worse
	// larger than the margin; Reason says so in words (Name says of which
	// series).
	Regression bool   `json:"regression"`
	Reason     string `json:"reason,omitempty"`
}

// ChangePoint is a significant change of level, at a run.
type ChangePoint struct {
	// Index is the first point after the change; Run, RunID and At name
	// that run.
	Index int       `json:"index"`
	Run   int64     `json:"run"`
	RunID string    `json:"run_id,omitempty"`
	At    time.Time `json:"at"`
	// Before and After are the means of the segments either side; Change
	// is After − Before in percentage points (retained %) or percent of
	// Before (a metric); Worse says it is a change for the worse.
	Before float64 `json:"mean_before"`
	After  float64 `json:"mean_after"`
	Change float64 `json:"change"`
	Worse  bool    `json:"worse"`
	PValue float64 `json:"p_value"`
}

// Segment is a run of points between change points.
type Segment struct {
	Start int       `json:"start"`
	End   int       `json:"end"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	Mean  float64   `json:"mean"`
	// StdDev is the points' sample standard deviation.
	StdDev float64 `json:"stddev"`
}

// ChangeUnit is how Change and MarginPct are measured.
func (t Trend) ChangeUnit() string {
	if t.Quantity == history.MetricRetained {
		return "pp"
	}
	return "%"
}

// Analyze segments one series and judges its newest segment.
func Analyze(s history.Series, o Options) (Trend, error) {
	t := Trend{Series: s}
	x := make([]float64, len(s.Points))
	for i, p := range s.Points {
		x[i] = p.Value
	}
	res, err := changepoint.Detect(x, o.Detect)
	if err != nil {
		return t, fmt.Errorf("%s: %w", s.Name(), err)
	}
	for _, seg := range res.Segments {
		sg := Segment{Start: seg.Start, End: seg.End, Mean: seg.Mean, StdDev: seg.StdDev}
		if seg.End > seg.Start {
			sg.From, sg.To = s.Points[seg.Start].At, s.Points[seg.End-1].At
		}
		t.Segments = append(t.Segments, sg)
	}
	for _, cp := range res.ChangePoints {
		p := s.Points[cp.Index]
		c := ChangePoint{Index: cp.Index, Run: p.Run, RunID: p.RunID, At: p.At, Before: cp.Before, After: cp.After, PValue: cp.PValue}
		c.Change = t.change(cp.Before, cp.After)
		c.Worse = (c.Change < 0) == s.HigherIsBetter && c.Change != 0
		t.ChangePoints = append(t.ChangePoints, c)
	}
	t.MarginPct = o.MarginPct
	if !(t.MarginPct > 0) {
		t.MarginPct = results.DefaultMarginPct
		if s.MarginPct != nil && *s.MarginPct > 0 {
			t.MarginPct = *s.MarginPct
		}
	}
	// The newest segment is judged against the last level more than the
	// margin away from it, so a drop the detection split in two steps, or
	// a spurious split inside the lower level, still counts whole.
	ref := res.Reference(func(ref, newest float64) bool { return math.Abs(t.change(ref, newest)) > t.MarginPct })
	if ref >= 0 {
		newest, before := t.Segments[len(t.Segments)-1], t.Segments[ref]
		c := t.change(before.Mean, newest.Mean)
		if (c < 0) == s.HigherIsBetter {
			first := t.ChangePoints[ref] // the change point that ended the reference level
			t.Regression = true
			t.Reason = fmt.Sprintf("the newest %d runs (since %s) average %s, %s %s the %s of the %d runs before the change at %s (p = %.3g), beyond the %g %s margin",
				newest.End-newest.Start, describeRun(t.ChangePoints[len(t.ChangePoints)-1]), t.Format(newest.Mean), t.FormatChange(c), t.worseWord(),
				t.Format(before.Mean), before.End-before.Start, describeRun(first), first.PValue, t.MarginPct, t.ChangeUnit())
		}
	}
	return t, nil
}

func describeRun(c ChangePoint) string {
	if c.RunID != "" {
		return fmt.Sprintf("run %d, %s", c.Run, c.RunID)
	}
	return fmt.Sprintf("run %d, %s", c.Run, c.At.Format(time.DateOnly))
}

func (t Trend) worseWord() string {
	if t.HigherIsBetter {
		return "below"
	}
	return "above"
}

func (t Trend) change(before, after float64) float64 {
	if t.Quantity == history.MetricRetained {
		return after - before
	}
	if before == 0 {
		return 0
	}
	return (after/before - 1) * 100
}

// Format prints a value of the series in its unit.
func (t Trend) Format(v float64) string {
	if t.Quantity == history.MetricRetained {
		return fmt.Sprintf("%.1f%%", v)
	}
	return formatMetric(v, t.Unit)
}

// FormatChange prints a change with its sign and unit.
func (t Trend) FormatChange(c float64) string {
	sign := "+"
	if c < 0 {
		sign = "−"
	}
	return fmt.Sprintf("%s%.1f %s", sign, math.Abs(c), t.ChangeUnit())
}

func formatMetric(v float64, unit string) string {
	switch {
	case unit == "ns":
		return time.Duration(v).Round(time.Microsecond).String()
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	default:
		return fmt.Sprintf("%.3g %s", v, unit)
	}
}

// Gate is the trend gate over several trends: exit 4 when any newest
// segment is a regression.
type Gate struct {
	Regressions []string `json:"regressions,omitempty"`
	ExitCode    int      `json:"exit_code"`
}

// Decide applies the trend gate.
func Decide(ts []Trend) Gate {
	var g Gate
	for _, t := range ts {
		if t.Regression {
			g.Regressions = append(g.Regressions, t.Name()+": "+t.Reason)
		}
	}
	if len(g.Regressions) > 0 {
		g.ExitCode = results.ExitRegression
	}
	return g
}
