package report

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/gpuperf/gpuperf/results"
)

// compactWidth is the compact table's width: every line of it fits.
const compactWidth = 100

// WriteTable prints a comparison as the compact terminal table, which fits
// 100 columns: per scenario the metric's unit, the two sides' geometric
// means, retained % with its interval, the verdict and (under a gate) the
// gate; each scenario's metric, half-width, repetitions needed and labels
// on a line of their own below; then the notes, the definitions and the
// gate's outcome, wrapped.
func WriteTable(w io.Writer, c *results.Comparison) error { return writeTable(w, c, false, 0) }

// WriteWideTable prints the full table, one row per scenario with every
// column (about 220 columns wide): --wide.
func WriteWideTable(w io.Writer, c *results.Comparison) error { return writeTable(w, c, true, 0) }

func writeTable(w io.Writer, c *results.Comparison, wide bool, width int) error {
	ew := &errWriter{w: w, width: width}
	title := fmt.Sprintf("gpuperf compare: candidate %s vs baseline %s", sideTitle(c.Candidate), sideTitle(c.Baseline))
	if wide {
		ew.printf("%s\n", title)
	} else {
		ew.printf("%s", wrap(title, ew.cols(), "  "))
	}
	ew.printf("\n")
	if c.Fairness != nil {
		writeFairness(ew, c.Fairness, !wide)
		ew.printf("\n")
	}
	if !wide {
		return writeCompact(ew, c)
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
			sideCellOr(s.Baseline, s.Metric, "-"), sideCellOr(s.Candidate, s.Metric, "-"), ret, ci, hw, reps, verdict, gateText(s), labels)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeTail(ew, c, func(s string) { ew.printf("%s\n", s) }, func(s string) { ew.printf("  %s\n", s) }, false)
}

// writeTail prints what follows the table: the server statistics, notes,
// findings, definitions and the gate. line prints a paragraph, item an
// indented one.
func writeTail(ew *errWriter, c *results.Comparison, line, item func(string), compact bool) error {
	serverItem := item
	if !compact {
		serverItem = nil
	}
	if err := writeServerTable(ew, c, serverItem); err != nil {
		return err
	}
	if err := writeIsolationTable(ew, c, line, item, compact); err != nil {
		return err
	}
	notes := noteLines(c)
	if len(notes) > 0 {
		ew.printf("\nNotes:\n")
		for _, n := range notes {
			item(n)
		}
	}
	writeFindings(ew, c)
	d := c.Definitions
	ew.printf("\n")
	line(fmt.Sprintf("Retained: %s.", d.Retained))
	line(fmt.Sprintf("Interval: %s. ±: %s.", d.Interval, d.HalfWidth))
	line(fmt.Sprintf("Verdict: %s. Reps: %s.", d.Equivalence, d.RepsNeeded))
	line(fmt.Sprintf("Percentiles: %s.", d.Percentile))
	if d.PerGPU != "" {
		line(fmt.Sprintf("Per GPU: %s:", d.PerGPU))
		for _, h := range append(slices.Clone(c.Baseline.Hosts), c.Candidate.Hosts...) {
			item(fmt.Sprintf("%s: %d GPU(s), from %s", h.Name, h.GPUs, h.GPUsFrom))
		}
	}
	g := c.Gate
	ew.printf("\n")
	switch g.Mode {
	case results.GateNone:
		line(fmt.Sprintf("Gate: none (exit %d)", g.ExitCode))
	default:
		line(fmt.Sprintf("Gate: %s at %g%% retained (%s): %s (exit %d)", g.Mode, g.MinRetainedPct, c.Settings.MinRetainedFrom, outcomeWords(g.Outcome), g.ExitCode))
	}
	for _, r := range g.Reasons {
		item(r)
	}
	return ew.err
}

// writeCompact prints the compact table and the rest wrapped to the
// writer's width (compactWidth unless set). Scenarios are grouped under
// their benchmark; when even so a row would not fit (long names, long
// verdicts, a narrow terminal), each scenario takes two lines instead of a
// row.
func writeCompact(ew *errWriter, c *results.Comparison) error {
	gated := c.Gate.Mode != results.GateNone && c.Gate.Mode != ""
	conf := fmt.Sprintf("%g%% CI", 100*c.Settings.Confidence)
	type row struct {
		bench, scenario, unit, base, cand, ret, verdict, gate string
	}
	var rows []row
	var details []string
	for _, s := range c.Scenarios {
		ret := "n/a"
		if s.RetainedPct != nil {
			ret = fmt.Sprintf("%.1f%%", *s.RetainedPct)
			switch {
			case s.Interval != nil:
				ret += fmt.Sprintf(" [%.1f, %.1f]", s.Interval.LowPct, s.Interval.HighPct)
			case s.Status == results.StatusPoint:
				ret += " (point)"
			}
		}
		verdict := s.Verdict
		switch s.Status {
		case results.StatusRefused, results.StatusVoid, results.StatusNoData, results.StatusCandidateInvalid:
			verdict = s.Status
		}
		unit, scale := compactUnit(s.Metric.Unit)
		rows = append(rows, row{s.Benchmark, s.Scenario, unit, compactCell(s.Baseline, scale), compactCell(s.Candidate, scale), ret, verdict, compactGate(s.Gate.Outcome)})
		detail := scenarioName(s) + ": " + metricTitle(s.Metric)
		if s.Interval != nil {
			detail += fmt.Sprintf("; ±%.1f points", s.Interval.HalfWidthPct)
		}
		if s.RepsNeeded != nil {
			detail += fmt.Sprintf("; %d repetitions for ±%g%%", *s.RepsNeeded, c.Settings.MarginPct)
		}
		if len(s.Labels) > 0 {
			detail += "; " + strings.Join(s.Labels, ", ")
		}
		details = append(details, detail)
	}
	// Columns are aligned by hand: a benchmark's own line would end a
	// tabwriter column block.
	head := []string{"SCENARIO", "UNIT", "BASELINE", "CANDIDATE", "RETAINED [" + conf + "]", "VERDICT"}
	if gated {
		head = append(head, "GATE")
	}
	cells := [][]string{head}
	for _, r := range rows {
		line := []string{"  " + r.scenario, r.unit, r.base, r.cand, r.ret, r.verdict}
		if gated {
			line = append(line, r.gate)
		}
		cells = append(cells, line)
	}
	widths := make([]int, len(head))
	for _, line := range cells {
		for i, c := range line {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b bytes.Buffer
	writeRow := func(line []string) {
		for i, c := range line {
			if i == len(line)-1 {
				b.WriteString(c + "\n")
				break
			}
			b.WriteString(c + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
		}
	}
	writeRow(cells[0])
	bench := ""
	for i, r := range rows {
		if r.bench != bench {
			bench = r.bench
			b.WriteString(bench + "\n")
		}
		writeRow(cells[i+1])
	}
	fits := true
	for l := range strings.Lines(b.String()) {
		fits = fits && utf8.RuneCountInString(strings.TrimRight(l, "\n")) <= ew.cols()
	}
	if fits {
		ew.printf("%s", b.String())
	} else {
		for _, r := range rows {
			line := fmt.Sprintf("%s %s: retained %s, %s", r.bench, r.scenario, r.ret, r.verdict)
			if gated {
				line += "; gate " + r.gate
			}
			ew.printf("%s", wrap(line, ew.cols(), "    "))
			ew.printf("%s", wrap(fmt.Sprintf("  baseline %s %s, candidate %s %s", r.base, r.unit, r.cand, r.unit), ew.cols(), "    "))
		}
	}
	ew.printf("\n")
	for _, d := range details {
		ew.printf("%s", wrap("  "+d, ew.cols(), "    "))
	}
	return writeTail(ew, c,
		func(s string) { ew.printf("%s", wrap(s, ew.cols(), "  ")) },
		func(s string) { ew.printf("%s", wrap("  "+s, ew.cols(), "    ")) }, true)
}

// compactGate is a scenario's gate outcome in the compact table's words;
// "not shown" is not shown to regress: the interval beside it says why.
func compactGate(outcome string) string {
	switch outcome {
	case results.OutcomeNotShown:
		return "not shown"
	case results.OutcomeNoData:
		return "not examined"
	case results.OutcomeNotMeasurable:
		return "not measurable"
	}
	return outcome
}

// compactUnit shortens a metric's unit for the compact table, and gives
// the factor its values are divided by.
func compactUnit(unit string) (string, float64) {
	if unit == "ns" {
		return "ms", 1e6
	}
	return unit, 1
}

// compactCell is a side's geometric mean in the compact unit, with its
// counted runs out of all.
func compactCell(s results.SideValues, scale float64) string {
	if s.Geomean == nil {
		return fmt.Sprintf("- (0/%d)", len(s.Runs))
	}
	v := *s.Geomean / scale
	num := fmt.Sprintf("%.4g", v)
	if math.Abs(v) >= 100 {
		num = fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%s (%d/%d)", num, s.Counted, len(s.Runs))
}

// writeServerTable prints the server statistics, when any scenario has
// them: per request on each side, the client's mean latency beside the
// server's time and its parts. With item (the compact table) each row is a
// wrapped sentence instead.
func writeServerTable(ew *errWriter, c *results.Comparison, item func(string)) error {
	rows := serverRows(c, "-")
	if len(rows) == 0 {
		return nil
	}
	ew.printf("\nServer statistics (per request, ms; means over the counted runs):\n")
	if item != nil {
		for _, r := range rows {
			head := fmt.Sprintf("%s, %s (%s, %d runs)", r.Scenario, r.Side, r.Source, r.Runs)
			if r.Runs == 0 {
				item(head + ": " + r.Unavailable)
				continue
			}
			text := fmt.Sprintf("%s: client %s, on the server %s = queue %s + inference %s", head, r.Client, r.Request, r.Queue, r.Infer)
			if r.Prefill != "-" || r.Decode != "-" {
				text += fmt.Sprintf(" (prefill %s, decode %s)", r.Prefill, r.Decode)
			}
			item(text + " + other " + r.Other)
		}
		return nil
	}
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
