package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/dustin/go-humanize"

	"github.com/gpuperf/gpuperf/results"
)

// The words every format shares, so a number reads the same in the
// terminal, in a pull request and in the HTML page.

func scenarioName(s results.ScenarioComparison) string { return s.Benchmark + " " + s.Scenario }

// sideTitle names a side: its host or system, submitter, round and run id.
func sideTitle(s results.Side) string {
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
	if t == "" {
		t = s.Path
	}
	if len(parts) > 0 {
		t += " (" + strings.Join(parts, ", ") + ")"
	}
	return t
}

func metricTitle(m results.Metric) string {
	if m.Label != "" {
		return m.Label
	}
	return m.Name
}

// formatValue prints a metric value in its unit; latencies in ns are shown
// in ms.
func formatValue(v float64, unit string) string {
	switch unit {
	case "ns":
		return fmt.Sprintf("%.3f ms", v/1e6)
	case "":
		return fmt.Sprintf("%.4g", v)
	}
	if math.Abs(v) >= 1000 {
		return humanize.FormatFloat("#,###.#", v) + " " + unit
	}
	if math.Abs(v) >= 100 {
		return fmt.Sprintf("%.1f %s", v, unit)
	}
	return fmt.Sprintf("%.4g %s", v, unit)
}

// sideCell is a side's geometric mean with its counted runs out of all.
func sideCell(s results.SideValues, m results.Metric) string { return sideCellOr(s, m, "–") }

// sideCellOr is sideCell with none in place of a missing mean: the
// terminal table keeps to ASCII "-".
func sideCellOr(s results.SideValues, m results.Metric, none string) string {
	if s.Geomean == nil {
		return fmt.Sprintf("%s (0/%d)", none, len(s.Runs))
	}
	return fmt.Sprintf("%s (%d/%d)", formatValue(*s.Geomean, m.Unit), s.Counted, len(s.Runs))
}

func retainedText(s results.ScenarioComparison) string {
	if s.RetainedPct == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", *s.RetainedPct)
}

// intervalText is the interval as [low, high], or why there is none.
func intervalText(s results.ScenarioComparison) string {
	switch {
	case s.Interval != nil:
		return fmt.Sprintf("[%.1f, %.1f]", s.Interval.LowPct, s.Interval.HighPct)
	case s.Status == results.StatusPoint:
		return "no interval possible"
	}
	return "–"
}

func halfWidthText(s results.ScenarioComparison) string {
	if s.Interval == nil {
		return "–"
	}
	return fmt.Sprintf("±%.1f", s.Interval.HalfWidthPct)
}

func repsText(s results.ScenarioComparison) string {
	if s.RepsNeeded == nil {
		return "–"
	}
	return fmt.Sprint(*s.RepsNeeded)
}

// verdictText is the verdict, or the status when nothing was compared.
func verdictText(s results.ScenarioComparison) string {
	switch s.Status {
	case results.StatusRefused, results.StatusVoid, results.StatusNoData, results.StatusCandidateInvalid:
		return s.Status
	}
	return s.Verdict
}

// gateTitle is the overall gate in one line.
func gateTitle(c *results.Comparison) string {
	g := c.Gate
	if g.Mode == results.GateNone || g.Mode == "" {
		return fmt.Sprintf("gate: none, %s (exit %d)", g.Outcome, g.ExitCode)
	}
	return fmt.Sprintf("gate: %s at %g%% retained (%s): %s (exit %d)", g.Mode, g.MinRetainedPct, c.Settings.MinRetainedFrom, outcomeWords(g.Outcome), g.ExitCode)
}

// outcomeWords says an overall gate outcome; "not-shown" is no pass.
func outcomeWords(o string) string {
	if o == results.OutcomeNotShown {
		return "not shown to regress (some scenario could not be examined)"
	}
	return o
}

// gateText is a scenario's gate outcome in words, the same in every
// format: a row the gate could not examine never reads "pass".
func gateText(s results.ScenarioComparison) string {
	switch s.Gate.Outcome {
	case results.OutcomeNotShown:
		if iv := s.Interval; iv != nil {
			return fmt.Sprintf("not shown to regress (interval [%.1f, %.1f])", iv.LowPct, iv.HighPct)
		}
		return "not shown to regress (no interval)"
	case results.OutcomeNoData:
		return "not examined (no data)"
	case results.OutcomeNotMeasurable:
		return "not measurable on this host"
	}
	return s.Gate.Outcome
}

// gateMark is a symbol for a gate outcome, for Markdown and HTML badges.
func gateMark(outcome string) string {
	switch outcome {
	case results.OutcomePass:
		return "✅"
	case results.OutcomeRegression, results.OutcomeFailed, results.OutcomeUsage, results.OutcomeRefused:
		return "❌"
	case results.OutcomeInconclusive, results.OutcomeVoid, results.OutcomeNotShown, results.OutcomeNoData, results.OutcomeNotMeasurable:
		return "⚠️"
	}
	return "➖"
}

// noteLines gathers every note: per scenario its refusal, void reason,
// notes and left-out runs; a note every scenario shares once; the
// unmatched scenarios; the comparison's own notes. WriteTable prints the
// same notes.
func noteLines(c *results.Comparison) []string {
	count := map[string]int{}
	for _, s := range c.Scenarios {
		for _, n := range slices.Compact(slices.Sorted(slices.Values(s.Notes))) {
			count[n]++
		}
	}
	var notes, shared []string
	for _, s := range c.Scenarios {
		name := scenarioName(s)
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
		for _, side := range []results.SideValues{s.Baseline, s.Candidate} {
			for _, r := range side.Runs {
				if !r.Counted && r.Excluded != "" && r.Status == results.StatusOK {
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
	return append(notes, c.Notes...)
}

// materialItems are the fairness items whose difference changes what the
// numbers mean; differing are the other items that differ.
func materialItems(f *results.Fairness) (material, differing []results.FairnessItem) {
	if f == nil {
		return nil, nil
	}
	for _, it := range f.Items {
		switch {
		case it.Material:
			material = append(material, it)
		case !it.Same:
			differing = append(differing, it)
		}
	}
	return material, differing
}

// orNone prints a value a side did not report as "not reported".
func orNone(s string) string {
	if s == "" {
		return "not reported"
	}
	return s
}

// rankedFindings are the findings in rank order (rank 0, unranked, last).
func rankedFindings(c *results.Comparison) []results.Finding {
	fs := slices.Clone(c.Findings)
	rank := func(f results.Finding) int {
		if f.Rank <= 0 {
			return math.MaxInt
		}
		return f.Rank
	}
	slices.SortStableFunc(fs, func(a, b results.Finding) int { return cmp.Compare(rank(a), rank(b)) })
	return fs
}

func findingValue(v *float64, unit string) string {
	if v == nil {
		return "not reported"
	}
	if unit == "" {
		return fmt.Sprintf("%.4g", *v)
	}
	return fmt.Sprintf("%.4g %s", *v, unit)
}

func findingDelta(d *float64) string {
	if d == nil {
		return "–"
	}
	return fmt.Sprintf("%+.1f%%", *d)
}

// labelsText joins a scenario's labels.
func labelsText(s results.ScenarioComparison) string {
	return strings.Join(s.Labels, ", ")
}

// serverRow is one side of one scenario in the server statistics table,
// its cells formatted; Unavailable replaces the times when set.
type serverRow struct {
	Scenario, Side, Source                                string
	Runs                                                  int
	Client, Request, Queue, Infer, Prefill, Decode, Other string
	Unavailable                                           string
}

// serverRows lists the scenarios' server statistics, baseline then
// candidate; none when no scenario has any. Other is the time on the
// server outside the queue and the model: input and output handling.
func serverRows(c *results.Comparison, none string) []serverRow {
	ms := func(v *float64) string {
		if v == nil {
			return none
		}
		return fmt.Sprintf("%.3f", *v)
	}
	var rows []serverRow
	for _, s := range c.Scenarios {
		if s.Server == nil {
			continue
		}
		for _, side := range []struct {
			role string
			v    *results.ServerSide
		}{{results.RoleBaseline, s.Server.Baseline}, {results.RoleCandidate, s.Server.Candidate}} {
			r := serverRow{Scenario: scenarioName(s), Side: side.role, Source: none, Unavailable: "no server statistics"}
			if v := side.v; v != nil {
				r.Source, r.Runs, r.Unavailable = v.Source, v.Runs, v.Unavailable
				r.Client, r.Request, r.Queue, r.Infer = ms(v.ClientMeanMs), ms(v.RequestMs), ms(v.QueueMs), ms(v.InferMs)
				r.Prefill, r.Decode, r.Other = ms(v.PrefillMs), ms(v.DecodeMs), none
				if v.RequestMs != nil && v.QueueMs != nil && v.InferMs != nil {
					r.Other = fmt.Sprintf("%.3f", *v.RequestMs-*v.QueueMs-*v.InferMs)
				}
			}
			rows = append(rows, r)
		}
	}
	return rows
}
