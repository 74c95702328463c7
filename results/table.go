package results

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteTable prints a comparison as the terminal table: per benchmark and
// scenario the two sides' geometric means, retained %, its interval and
// half-width, the repetitions the margin needs, the verdict, the gate and
// the labels; then the notes, the definitions and the gate's outcome.
func WriteTable(w io.Writer, c *Comparison) error {
	ew := &errWriter{w: w}
	ew.printf("gpuperf compare: candidate %s vs baseline %s\n", sideTitle(c.Candidate), sideTitle(c.Baseline))
	ew.printf("\n")
	if c.Fairness != nil {
		writeFairness(ew, c.Fairness)
		ew.printf("\n")
	}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	conf := fmt.Sprintf("%g%% CI", 100*c.Settings.Confidence)
	fmt.Fprintf(tw, "BENCHMARK\tSCENARIO\tMETRIC\tBASELINE\tCANDIDATE\tRETAINED\t%s\t±\tREPS FOR ±%g%%\tVERDICT\tGATE\tLABELS\n", conf, c.Settings.MarginPct)
	for _, s := range c.Scenarios {
		ret, ci, hw, reps := "n/a", "-", "-", "-"
		if s.RetainedPct != nil {
			ret = fmt.Sprintf("%.1f%%", *s.RetainedPct)
		}
		switch {
		case s.Interval != nil:
			ci = fmt.Sprintf("[%.1f, %.1f]", s.Interval.LowPct, s.Interval.HighPct)
			hw = fmt.Sprintf("%.1f", s.Interval.HalfWidthPct)
		case s.Status == StatusPoint:
			ci = "no interval possible"
		}
		if s.RepsNeeded != nil {
			reps = fmt.Sprint(*s.RepsNeeded)
		}
		verdict := s.Verdict
		switch s.Status {
		case StatusRefused, StatusVoid, StatusNoData, StatusCandidateInvalid:
			verdict = s.Status
		}
		labels := strings.Join(s.Labels, ", ")
		if labels == "" {
			labels = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Benchmark, s.Scenario, metricTitle(s.Metric),
			sideCell(s.Baseline, s.Metric), sideCell(s.Candidate, s.Metric), ret, ci, hw, reps, verdict, s.Gate.Outcome, labels)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// A note every scenario shares is printed once.
	count := map[string]int{}
	for _, s := range c.Scenarios {
		for _, n := range slices.Compact(slices.Sorted(slices.Values(s.Notes))) {
			count[n]++
		}
	}
	var notes, shared []string
	for _, s := range c.Scenarios {
		name := s.Benchmark + " " + s.Scenario
		if s.Refusal != "" {
			notes = append(notes, name+": refused: "+s.Refusal)
		}
		if s.Void != "" {
			notes = append(notes, name+": void: "+s.Void)
		}
		for _, n := range s.Notes {
			if len(c.Scenarios) > 1 && count[n] == len(c.Scenarios) {
				if !slices.Contains(shared, n) {
					shared = append(shared, n)
				}
				continue
			}
			notes = append(notes, name+": "+n)
		}
		for _, side := range []SideValues{s.Baseline, s.Candidate} {
			for _, r := range side.Runs {
				if !r.Counted && r.Excluded != "" && r.Status == StatusOK {
					notes = append(notes, fmt.Sprintf("%s: %s run %d left out: %s", name, r.Host, r.Repetition, r.Excluded))
				}
			}
		}
	}
	for _, n := range shared {
		notes = append(notes, "every scenario: "+n)
	}
	for _, u := range c.Unmatched {
		notes = append(notes, fmt.Sprintf("%s %s: only the %s has it; not compared", u.Benchmark, u.Scenario, u.Side))
	}
	notes = append(notes, c.Notes...)
	if len(notes) > 0 {
		ew.printf("\nNotes:\n")
		for _, n := range notes {
			ew.printf("  %s\n", n)
		}
	}
	writeFindings(ew, c)
	d := c.Definitions
	ew.printf("\nRetained: %s.\n", d.Retained)
	ew.printf("Interval: %s. ±: %s.\n", d.Interval, d.HalfWidth)
	ew.printf("Verdict: %s. Reps: %s.\n", d.Equivalence, d.RepsNeeded)
	ew.printf("Percentiles: %s.\n", d.Percentile)
	if d.PerGPU != "" {
		ew.printf("Per GPU: %s:\n", d.PerGPU)
		for _, h := range append(slices.Clone(c.Baseline.Hosts), c.Candidate.Hosts...) {
			ew.printf("  %s: %d GPU(s), from %s\n", h.Name, h.GPUs, h.GPUsFrom)
		}
	}
	g := c.Gate
	switch g.Mode {
	case GateNone:
		ew.printf("\nGate: none (exit %d)\n", g.ExitCode)
	default:
		ew.printf("\nGate: %s at %g%% retained (%s): %s (exit %d)\n", g.Mode, g.MinRetainedPct, c.Settings.MinRetainedFrom, g.Outcome, g.ExitCode)
	}
	for _, r := range g.Reasons {
		ew.printf("  %s\n", r)
	}
	return ew.err
}

func sideTitle(s Side) string {
	var parts []string
	if s.Submitter != "" {
		parts = append(parts, s.Submitter)
	}
	if s.Round != "" {
		parts = append(parts, s.Round)
	}
	if s.RunID != "" {
		parts = append(parts, "run "+s.RunID)
	}
	t := s.Name
	if len(parts) > 0 {
		t += " (" + strings.Join(parts, ", ") + ")"
	}
	return t
}

func metricTitle(m Metric) string {
	if m.Label != "" {
		return m.Label
	}
	return m.Name
}

// sideCell is a side's geometric mean with its counted runs out of all.
func sideCell(s SideValues, m Metric) string {
	if s.Geomean == nil {
		return fmt.Sprintf("- (0/%d)", len(s.Runs))
	}
	return fmt.Sprintf("%s (%d/%d)", formatValue(*s.Geomean, m.Unit), s.Counted, len(s.Runs))
}

func formatValue(v float64, unit string) string {
	switch unit {
	case "ns":
		return fmt.Sprintf("%.3f ms", v/1e6)
	case "":
		return fmt.Sprintf("%.4g", v)
	}
	switch {
	case v >= 100:
		return fmt.Sprintf("%.1f %s", v, unit)
	default:
		return fmt.Sprintf("%.4g %s", v, unit)
	}
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...)
}
