package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/gpuperf/gpuperf/results"
)

// WriteTable prints a comparison as the terminal table: per benchmark and
// scenario the two sides' geometric means, retained %, its interval and
// half-width, the repetitions the margin needs, the verdict, the gate and
// the labels; then the notes, the definitions and the gate's outcome.
func WriteTable(w io.Writer, c *results.Comparison) error {
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
		case s.Status == results.StatusPoint:
			ci = "no interval possible"
		}
		if s.RepsNeeded != nil {
			reps = fmt.Sprint(*s.RepsNeeded)
		}
		verdict := s.Verdict
		switch s.Status {
		case results.StatusRefused, results.StatusVoid, results.StatusNoData, results.StatusCandidateInvalid:
			verdict = s.Status
		}
		labels := strings.Join(s.Labels, ", ")
		if labels == "" {
			labels = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Benchmark, s.Scenario, metricTitle(s.Metric),
			sideCellOr(s.Baseline, s.Metric, "-"), sideCellOr(s.Candidate, s.Metric, "-"), ret, ci, hw, reps, verdict, s.Gate.Outcome, labels)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := writeServerTable(ew, c); err != nil {
		return err
	}
	if err := writeIsolationTable(ew, c); err != nil {
		return err
	}
	notes := noteLines(c)
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
	case results.GateNone:
		ew.printf("\nGate: none (exit %d)\n", g.ExitCode)
	default:
		ew.printf("\nGate: %s at %g%% retained (%s): %s (exit %d)\n", g.Mode, g.MinRetainedPct, c.Settings.MinRetainedFrom, g.Outcome, g.ExitCode)
	}
	for _, r := range g.Reasons {
		ew.printf("  %s\n", r)
	}
	return ew.err
}

// writeServerTable prints the server statistics, when any scenario has
// them: per request on each side, the client's mean latency beside the
// server's time and its parts.
func writeServerTable(ew *errWriter, c *results.Comparison) error {
	rows := serverRows(c, "-")
	if len(rows) == 0 {
		return nil
	}
	ew.printf("\nServer statistics (per request, ms; means over the counted runs):\n")
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	// The reason a side has none goes last, past the aligned columns.
	fmt.Fprintf(tw, "SCENARIO\tSIDE\tSOURCE\tRUNS\tCLIENT MEAN\tON SERVER\tQUEUE\tINFER\tPREFILL\tDECODE\tOTHER\n")
	for _, r := range rows {
		if r.Runs == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t0\t-\t-\t-\t-\t-\t-\t-\t%s\n", r.Scenario, r.Side, r.Source, r.Unavailable)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.Side, r.Source, r.Runs,
			r.Client, r.Request, r.Queue, r.Infer, r.Prefill, r.Decode, r.Other)
	}
	return tw.Flush()
}
