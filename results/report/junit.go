package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/gpuperf/gpuperf/results"
)

// JUnit XML, as Jenkins, GitLab and GitHub test reporters read it: one
// <testsuite> per comparison, one <testcase> per benchmark and scenario
// (classname gpuperf.<benchmark>, name <Scenario>).
//
// A scenario's gate outcome decides its case:
//   - regression (exit 4), a candidate INVALID where the baseline is
//     VALID, and inconclusive under --gate qualify (exit 5): <failure>;
//   - refused under a gate (exit 2): <error>, the gate could not run;
//   - void (the baseline is INVALID or has LoadGen errors, exit 3), refused
//     without a gate, no data, and a scenario only one side has:
//     <skipped>, with the reason;
//   - not shown to regress (an interval wider than the margin, or none)
//     and not measurable on this host: <skipped>, with the reason, since
//     the gate could not examine them (exit 0, but no pass);
//   - pass and not-gated: passed.
//
// Every case carries its numbers in the message and <system-out>, and
// properties with the run ids and folders; runtime failures outside any
// scenario (exit 1) add a case "runs" with an <error>.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name       string          `xml:"name,attr"`
	Classname  string          `xml:"classname,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Failure    *junitResult    `xml:"failure,omitempty"`
	Error      *junitResult    `xml:"error,omitempty"`
	Skipped    *junitResult    `xml:"skipped,omitempty"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitResult struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes c as JUnit XML.
func WriteJUnit(w io.Writer, c *results.Comparison) error {
	suite := junitSuite{
		Name: fmt.Sprintf("gpuperf compare: candidate %s vs baseline %s", sideTitle(c.Candidate), sideTitle(c.Baseline)),
		Time: "0",
	}
	if !c.CreatedAt.IsZero() {
		suite.Timestamp = c.CreatedAt.UTC().Format("2006-01-02T15:04:05Z")
	}
	prop := func(name, value string) {
		if value != "" {
			suite.Properties = append(suite.Properties, junitProperty{name, value})
		}
	}
	prop("schema", c.Schema)
	prop("gpuperf_version", c.Version)
	for _, s := range []results.Side{c.Baseline, c.Candidate} {
		prop(s.Role+".name", s.Name)
		prop(s.Role+".path", s.Path)
		prop(s.Role+".format", s.Format)
		prop(s.Role+".run_id", s.RunID)
		prop(s.Role+".round", s.Round)
		prop(s.Role+".submitter", s.Submitter)
		prop(s.Role+".stored_baseline", s.StoredBaseline)
	}
	prop("gate.mode", c.Gate.Mode)
	prop("gate.min_retained_pct", fmt.Sprintf("%g", c.Gate.MinRetainedPct))
	prop("gate.outcome", c.Gate.Outcome)
	prop("gate.exit_code", fmt.Sprint(c.Gate.ExitCode))
	prop("equivalence_margin_pct", fmt.Sprintf("%g", c.Settings.MarginPct))
	if f := c.Fairness; f != nil {
		prop("fairness.material_differences", fmt.Sprint(f.MaterialDifferences))
		prop("fairness.same_physical_gpu", f.SamePhysicalGPU)
	}

	for _, s := range c.Scenarios {
		suite.Cases = append(suite.Cases, junitScenario(c, s))
	}
	suite.Cases = append(suite.Cases, junitIsolation(c)...)
	for _, u := range c.Unmatched {
		msg := fmt.Sprintf("only the %s has %s %s; not compared", u.Side, u.Benchmark, u.Scenario)
		suite.Cases = append(suite.Cases, junitCase{Name: u.Scenario, Classname: "gpuperf." + u.Benchmark, Time: "0",
			Skipped: &junitResult{Message: msg}})
	}
	if c.Gate.ExitCode == results.ExitFailure || c.Gate.ExitCode == results.ExitUsage {
		// Failures outside the scenarios: reasons no scenario gave.
		var other []string
		for _, r := range c.Gate.Reasons {
			if !scenarioReason(c, r) {
				other = append(other, r)
			}
		}
		if len(other) > 0 {
			suite.Cases = append(suite.Cases, junitCase{Name: "runs", Classname: "gpuperf", Time: "0",
				Error: &junitResult{Message: other[0], Type: c.Gate.Outcome, Text: strings.Join(other, "\n")}})
		}
	}

	var out []string
	if f := c.Fairness; f != nil {
		material, _ := materialItems(f)
		for _, it := range material {
			out = append(out, "material difference: "+fairnessLine(it))
		}
	}
	for i, f := range rankedFindings(c) {
		scope := ""
		if f.Scenario != "" {
			scope = f.Scenario + ": "
		}
		out = append(out, fmt.Sprintf("finding %d: %s%s", i+1, scope, f.Text))
	}
	for _, n := range noteLines(c) {
		out = append(out, "note: "+n)
	}
	out = append(out, gateTitle(c))
	out = append(out, c.Gate.Reasons...)
	suite.SystemOut = strings.Join(out, "\n")

	for _, tc := range suite.Cases {
		suite.Tests++
		switch {
		case tc.Failure != nil:
			suite.Failures++
		case tc.Error != nil:
			suite.Errors++
		case tc.Skipped != nil:
			suite.Skipped++
		}
	}
	doc := junitSuites{Name: "gpuperf", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Skipped: suite.Skipped, Suites: []junitSuite{suite}}
	ew := &errWriter{w: w}
	ew.printf("%s", xml.Header)
	if ew.err != nil {
		return ew.err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func scenarioReason(c *results.Comparison, reason string) bool {
	for _, s := range c.Scenarios {
		if strings.HasPrefix(reason, scenarioName(s)+": ") {
			return true
		}
	}
	return false
}

// junitScenario is one scenario's test case.
func junitScenario(c *results.Comparison, s results.ScenarioComparison) junitCase {
	tc := junitCase{Name: s.Scenario, Classname: "gpuperf." + s.Benchmark, Time: "0"}
	numbers := scenarioNumbers(c, s)
	tc.SystemOut = numbers
	props := []junitProperty{
		{"metric", metricTitle(s.Metric)},
		{"status", s.Status},
		{"verdict", s.Verdict},
		{"gate", s.Gate.Outcome},
	}
	if s.RetainedPct != nil {
		props = append(props, junitProperty{"retained_pct", fmt.Sprintf("%.4g", *s.RetainedPct)})
	}
	if iv := s.Interval; iv != nil {
		props = append(props, junitProperty{"interval_low_pct", fmt.Sprintf("%.4g", iv.LowPct)},
			junitProperty{"interval_high_pct", fmt.Sprintf("%.4g", iv.HighPct)},
			junitProperty{"half_width_pct", fmt.Sprintf("%.3g", iv.HalfWidthPct)})
	}
	for _, side := range []struct {
		role string
		v    results.SideValues
	}{{results.RoleBaseline, s.Baseline}, {results.RoleCandidate, s.Candidate}} {
		var dirs []string
		for _, r := range side.v.Runs {
			if r.Dir != "" {
				dirs = append(dirs, r.Dir)
			}
		}
		if len(dirs) > 0 {
			props = append(props, junitProperty{side.role + ".runs", strings.Join(dirs, " ")})
		}
	}
	tc.Properties = props

	msg := retainedSentence(c, s)
	if s.Gate.Reason != "" {
		msg += ": " + s.Gate.Reason
	}
	g := s.Gate
	switch {
	case g.ExitCode == results.ExitRegression:
		tc.Failure = &junitResult{Message: msg, Type: g.Outcome, Text: numbers}
	case g.ExitCode == results.ExitInconclusive:
		tc.Failure = &junitResult{Message: msg, Type: "inconclusive", Text: numbers}
	case g.ExitCode == results.ExitVoid && s.Status == results.StatusVoid:
		tc.Skipped = &junitResult{Message: msg}
	case g.ExitCode == results.ExitVoid:
		// A candidate INVALID where the baseline is VALID, without a gate.
		tc.Failure = &junitResult{Message: msg, Type: "candidate-invalid", Text: numbers}
	case g.ExitCode == results.ExitUsage:
		tc.Error = &junitResult{Message: msg, Type: g.Outcome, Text: numbers}
	case s.Status == results.StatusRefused, s.Status == results.StatusNoData, s.RetainedPct == nil,
		g.Outcome == results.OutcomeNotShown, g.Outcome == results.OutcomeNotMeasurable, g.Outcome == results.OutcomeNoData:
		tc.Skipped = &junitResult{Message: msg}
	}
	return tc
}

// retainedSentence is a scenario's result in one line.
func retainedSentence(c *results.Comparison, s results.ScenarioComparison) string {
	name := scenarioName(s)
	switch {
	case s.Status == results.StatusRefused:
		return name + " refused: " + s.Refusal
	case s.Status == results.StatusVoid:
		return name + " void: " + s.Void
	case s.RetainedPct == nil:
		return name + ": " + verdictText(s)
	case s.Interval != nil:
		return fmt.Sprintf("%s retained %.1f%% %g%% CI [%.1f, %.1f] ±%.1f, verdict %s", name, *s.RetainedPct,
			100*s.Interval.Confidence, s.Interval.LowPct, s.Interval.HighPct, s.Interval.HalfWidthPct, s.Verdict)
	}
	return fmt.Sprintf("%s retained %.1f%% (one repetition per side: no interval possible), verdict %s", name, *s.RetainedPct, s.Verdict)
}

// scenarioNumbers are a scenario's numbers, one per line.
func scenarioNumbers(c *results.Comparison, s results.ScenarioComparison) string {
	lines := []string{
		retainedSentence(c, s),
		"metric: " + metricTitle(s.Metric) + " (" + s.Metric.Name + ")",
		"baseline: " + sideCell(s.Baseline, s.Metric),
		"candidate: " + sideCell(s.Candidate, s.Metric),
		fmt.Sprintf("repetitions for ±%g%%: %s; pairing: %s", c.Settings.MarginPct, repsText(s), s.Pairing),
		"gate: " + gateText(s),
	}
	if len(s.Labels) > 0 {
		lines = append(lines, "labels: "+labelsText(s))
	}
	for _, n := range s.Notes {
		lines = append(lines, "note: "+n)
	}
	return strings.Join(lines, "\n")
}
