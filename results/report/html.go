package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"

	"github.com/gpuperf/gpuperf/results"
)

//go:embed report.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("report").Parse(pageSource))

// page is what report.html.tmpl renders.
type page struct {
	Title     string
	Schema    string
	Version   string
	CreatedAt string
	Sides     []sideView
	Gate      gateView
	Fairness  *fairnessView
	Rows      []rowView
	Conf      string
	Margin    string

	Retained        chartView
	RetainedCaption string

	Findings  []findingView
	Servers   []serverRow
	Isolation *isolationView
	Notes     []string
	Sections  []sectionView
	Defs      [][2]string
}

type sideView struct {
	Role, Title, Path, Format, RunID, Stored string
	Hosts                                    []string
}

type gateView struct {
	Class, Mark, Title string
	Reasons            []string
}

type fairnessView struct {
	Material, Differing, All []results.FairnessItem
	SamePhysicalGPU          string
}

type rowView struct {
	ID, Benchmark, Scenario, Metric, Baseline, Candidate string
	Retained, Interval, HalfWidth, Reps, Verdict         string
	VerdictClass, Gate, GateClass, GateMark, Labels      string
}

type findingView struct {
	Rank                         int
	Scenario, Kind, Metric, Text string
	Baseline, Candidate, Delta   string
}

type chartView struct {
	Title       string
	SVG         template.HTML
	Caption     string
	Unavailable string
}

type sectionView struct {
	ID, Title, Summary string
	Labels             string
	Reps               chartView
	Latency            []chartView
	Telemetry          telemetryView
}

type telemetryView struct {
	Sides       [2]chartView
	Missing     string
	Unavailable string
}

// WriteHTML writes c as one self-contained HTML page: no script, and no
// stylesheet, font or image from elsewhere. Its charts are gonum/plot SVG,
// inlined: retained % per scenario with its intervals, the equivalence
// band and the gate's threshold; per scenario the headline per
// repetition, the latency CDFs of both sides overlaid, and the telemetry
// of each side's median repetition side by side. What the charts read
// beyond c comes from o.Runs; what it cannot read, the page says.
func WriteHTML(w io.Writer, c *results.Comparison, o Options) error {
	pg := buildPage(c, o.runs())
	if err := pageTemplate.Execute(w, pg); err != nil {
		return fmt.Errorf("render html: %w", err)
	}
	return nil
}

func buildPage(c *results.Comparison, runs RunReader) *page {
	pg := &page{
		Title:   fmt.Sprintf("gpuperf: candidate %s vs baseline %s", sideTitle(c.Candidate), sideTitle(c.Baseline)),
		Schema:  c.Schema,
		Version: c.Version,
		Conf:    fmt.Sprintf("%g%% CI", 100*c.Settings.Confidence),
		Margin:  fmt.Sprintf("%g", c.Settings.MarginPct),
		Notes:   noteLines(c),
		Defs:    definitionList(c.Definitions),
	}
	if !c.CreatedAt.IsZero() {
		pg.CreatedAt = c.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	for _, s := range []results.Side{c.Baseline, c.Candidate} {
		v := sideView{Role: s.Role, Title: sideTitle(s), Path: s.Path, Format: s.Format, RunID: s.RunID, Stored: s.StoredBaseline}
		for _, h := range s.Hosts {
			d := h.Name
			if h.SystemName != "" && h.SystemName != h.Name {
				d += " — " + h.SystemName
			}
			if h.Accelerator != "" {
				d += fmt.Sprintf(" — %d × %s", h.GPUs, h.Accelerator)
			} else {
				d += fmt.Sprintf(" — %d GPU(s)", h.GPUs)
			}
			v.Hosts = append(v.Hosts, d)
		}
		pg.Sides = append(pg.Sides, v)
	}
	pg.Gate = gateView{Class: outcomeClass(c.Gate.Outcome), Mark: htmlMark(c.Gate.Outcome), Title: gateTitle(c), Reasons: c.Gate.Reasons}
	if f := c.Fairness; f != nil {
		material, differing := materialItems(f)
		pg.Fairness = &fairnessView{Material: material, Differing: differing, All: f.Items, SamePhysicalGPU: orNone(f.SamePhysicalGPU)}
	}
	for i, s := range c.Scenarios {
		pg.Rows = append(pg.Rows, rowView{
			ID: sectionID(i, s), Benchmark: s.Benchmark, Scenario: s.Scenario, Metric: metricTitle(s.Metric),
			Baseline: sideCell(s.Baseline, s.Metric), Candidate: sideCell(s.Candidate, s.Metric),
			Retained: retainedText(s), Interval: intervalText(s), HalfWidth: halfWidthText(s), Reps: repsText(s),
			Verdict: verdictText(s), VerdictClass: verdictClass(s), Gate: gateText(s), GateClass: outcomeClass(s.Gate.Outcome),
			GateMark: htmlMark(s.Gate.Outcome), Labels: labelsText(s),
		})
	}
	clipped := false
	pg.Retained = chart("", func() (template.HTML, error) {
		svg, cut, err := retainedChart(c)
		clipped = cut
		return svg, err
	})
	pg.RetainedCaption = fmt.Sprintf("Dot: retained %% (hollow when one repetition per side allows no interval). Whiskers: the %g%% interval. "+
		"Thick bar: the %g%% interval the equivalence verdict uses, coloured by verdict (green equivalent, red lower, blue higher, grey inconclusive). "+
		"Green band: equivalence margin %g%% ± %g. Dashed red line: the gate's min retained %g%% (%s; gate %s).",
		100*c.Settings.Confidence, 100*c.Settings.EquivalenceConfidence, 100.0, c.Settings.MarginPct, c.Settings.MinRetainedPct,
		c.Settings.MinRetainedFrom, c.Settings.Gate)
	if clipped {
		pg.RetainedCaption += " Intervals much wider than the rest run off the chart: their whiskers are cut at its edge, and their labels give them whole."
	}
	pg.Servers = serverRows(c, "–")
	pg.Isolation = isolationRows(c, "–")
	for i, f := range rankedFindings(c) {
		rank := f.Rank
		if rank <= 0 {
			rank = i + 1
		}
		pg.Findings = append(pg.Findings, findingView{Rank: rank, Scenario: f.Scenario, Kind: f.Kind, Metric: f.Metric, Text: f.Text,
			Baseline: findingValue(f.Baseline, f.Unit), Candidate: findingValue(f.Candidate, f.Unit), Delta: findingDelta(f.DeltaPct)})
	}
	for i, s := range c.Scenarios {
		pg.Sections = append(pg.Sections, buildSection(c, i, s, runs))
	}
	return pg
}

func sectionID(i int, s results.ScenarioComparison) string {
	id := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '-'
	}, s.Benchmark+"-"+s.Scenario)
	return fmt.Sprintf("s%d-%s", i+1, id)
}

func outcomeClass(o string) string {
	switch o {
	case results.OutcomePass:
		return "pass"
	case results.OutcomeRegression, results.OutcomeFailed, results.OutcomeUsage, results.OutcomeRefused:
		return "fail"
	case results.OutcomeInconclusive, results.OutcomeVoid, results.OutcomeNotShown, results.OutcomeNoData, results.OutcomeNotMeasurable:
		return "warn"
	}
	return "none"
}

// htmlMark is gateMark in symbols that common text fonts have (the page
// loads no emoji font).
func htmlMark(o string) string {
	switch outcomeClass(o) {
	case "pass":
		return "✓"
	case "fail":
		return "✗"
	case "warn":
		return "⚠"
	}
	return "–"
}

func verdictClass(s results.ScenarioComparison) string {
	switch verdictText(s) {
	case results.VerdictEquivalent:
		return "pass"
	case results.VerdictLower, results.StatusCandidateInvalid, results.StatusRefused:
		return "fail"
	case results.VerdictHigher:
		return "higher"
	}
	return "warn"
}

// chart renders one chart; a chart that cannot be drawn says why instead
// of taking the page down.
func chart(title string, draw func() (template.HTML, error)) chartView {
	svg, err := draw()
	v := chartView{Title: title, SVG: svg}
	if err != nil {
		v.Unavailable = "chart unavailable: " + err.Error()
	}
	return v
}

func buildSection(c *results.Comparison, i int, s results.ScenarioComparison, runs RunReader) sectionView {
	sec := sectionView{ID: sectionID(i, s), Title: scenarioName(s), Labels: labelsText(s)}
	sec.Summary = retainedSentence(c, s)
	sec.Reps = chart("Headline per repetition", func() (template.HTML, error) { return repetitionChart(s, c.Settings.MarginPct) })
	if sec.Reps.SVG == "" && sec.Reps.Unavailable == "" {
		sec.Reps.Unavailable = "no run of either side finished with a value"
	}
	sec.Reps.Caption = fmt.Sprintf("%s of every finished run (%s); dashed: each side's geometric mean of its counted runs; a cross marks a run left out of the statistics; shaded: the baseline's mean ±%g%% (the equivalence margin), which the axis always shows, so run-to-run noise smaller than the margin looks as small as it is.",
		metricTitle(s.Metric), s.Metric.Name, c.Settings.MarginPct)

	// Latency distributions of every counted run of both sides.
	byName := map[string][]runDistribution{}
	var names []string
	var problems []string
	for _, side := range []struct {
		side results.Side
		v    results.SideValues
	}{{c.Baseline, s.Baseline}, {c.Candidate, s.Candidate}} {
		got := 0
		var firstErr error
		for _, r := range chartRuns(side.v) {
			ds, err := runs.Latency(side.side, r)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			got++
			for _, d := range ds {
				if _, ok := byName[d.Name]; !ok {
					names = append(names, d.Name)
				}
				byName[d.Name] = append(byName[d.Name], runDistribution{role: side.side.Role, rep: r, d: d})
			}
		}
		if got == 0 {
			why := "no finished run"
			if firstErr != nil {
				why = firstErr.Error()
			}
			problems = append(problems, side.side.Role+": "+why)
		}
	}
	for _, name := range names {
		what := name
		if name == "latency" {
			what = "sample latency"
			if s.Scenario == "MultiStream" {
				what = "per-query latency"
			}
		}
		cv := chart("", func() (template.HTML, error) {
			return cdfChart(fmt.Sprintf("%s CDF", upperFirst(what)), byName[name], s.Scenario == "Offline")
		})
		cv.Caption = fmt.Sprintf("Each repetition's %s through LoadGen's reported points (min, 50, 90, 95, 97, 99, 99.9 percentiles, max), joined by straight lines; percentiles are nearest rank, sorted[floor(n·p)]. The vertical axis is stretched toward the tail (p at −log10(1 − p)) so p99 and p99.9 stand apart. A maximum far beyond the p99.9 is drawn at the right edge with its value written there, so one outlier does not squash the rest; a red dashed line marks the latency bound when the scenario has one.", what)
		if len(problems) > 0 {
			cv.Caption += " Missing: " + strings.Join(problems, "; ") + "."
		}
		if s.Scenario == "Offline" {
			cv.Caption += " Offline issues every sample at once, so this is when samples completed after the single query was issued."
		}
		sec.Latency = append(sec.Latency, cv)
	}
	if len(names) == 0 {
		sec.Latency = append(sec.Latency, chartView{Unavailable: "latency unavailable: " + strings.Join(problems, "; ")})
	}

	// Telemetry of each side's median repetition.
	var tel [2]*Telemetry
	var titles [2]string
	var why []string
	for k, side := range []struct {
		side results.Side
		v    results.SideValues
	}{{c.Baseline, s.Baseline}, {c.Candidate, s.Candidate}} {
		r, ok := medianRun(side.v)
		if !ok {
			sec.Telemetry.Sides[k].Unavailable = "telemetry unavailable: no finished run"
			why = append(why, side.side.Role+": no finished run")
			continue
		}
		titles[k] = fmt.Sprintf("%s run %d", side.side.Role, r.Repetition)
		t, err := runs.Telemetry(side.side, r)
		if err != nil {
			sec.Telemetry.Sides[k].Unavailable = "telemetry unavailable: " + err.Error()
			why = append(why, side.side.Role+": "+err.Error())
			continue
		}
		tel[k] = t
		sec.Telemetry.Sides[k].Caption = fmt.Sprintf("%s: repetition %d%s, the median of its runs; %s.", upperFirst(side.side.Role), r.Repetition, hostPart(r), t.File)
		if n := deviceCount(t); n > 1 {
			sec.Telemetry.Sides[k].Caption += fmt.Sprintf(" One line per GPU (%d), lighter for higher indices.", n)
		}
		if t.NoGPU != "" {
			sec.Telemetry.Sides[k].Caption += " No GPU telemetry: " + t.NoGPU + "."
		}
	}
	if tel[0] == nil && tel[1] == nil {
		sec.Telemetry.Unavailable = "telemetry unavailable: " + strings.Join(why, "; ")
		return sec
	}
	svgs, missing, err := telemetryCharts(tel[0], tel[1], titles)
	if err != nil {
		sec.Telemetry.Unavailable = "telemetry charts unavailable: " + err.Error()
		return sec
	}
	for k := range svgs {
		if tel[k] == nil {
			continue
		}
		sec.Telemetry.Sides[k].SVG = svgs[k]
		if svgs[k] == "" {
			sec.Telemetry.Sides[k].Unavailable = "telemetry unavailable: none of the charted metrics was reported"
		}
	}
	if len(missing) > 0 {
		sec.Telemetry.Missing = "Not reported by either side: " + strings.Join(missing, ", ") + "."
	}
	return sec
}

func deviceCount(t *Telemetry) int {
	devs := map[string]bool{}
	for _, s := range t.Series {
		if s.Device != "host" {
			devs[s.Device] = true
		}
	}
	return len(devs)
}

func hostPart(r results.Repetition) string {
	if r.Host == "" {
		return ""
	}
	return " on " + r.Host
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// chartRuns are the runs whose latency is drawn: the counted ones, or
// every finished one when none counted.
func chartRuns(v results.SideValues) []results.Repetition {
	var counted, finished []results.Repetition
	for _, r := range v.Runs {
		if r.Status != results.StatusOK || r.Dir == "" {
			continue
		}
		finished = append(finished, r)
		if r.Counted {
			counted = append(counted, r)
		}
	}
	if len(counted) > 0 {
		return counted
	}
	return finished
}

// medianRun is the run whose telemetry stands for its side: the lower
// median by value of the counted runs (of the finished ones when none
// counted).
func medianRun(v results.SideValues) (results.Repetition, bool) {
	rs := chartRuns(v)
	if len(rs) == 0 {
		return results.Repetition{}, false
	}
	rs = slices.Clone(rs)
	slices.SortStableFunc(rs, func(a, b results.Repetition) int {
		switch {
		case a.Value < b.Value:
			return -1
		case a.Value > b.Value:
			return 1
		}
		return a.Repetition - b.Repetition
	})
	return rs[(len(rs)-1)/2], true
}
