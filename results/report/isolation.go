package report

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/gpuperf/gpuperf/interference"
	"github.com/gpuperf/gpuperf/results"
)

// The isolation table, in every format: per scenario and load, each
// side's metric quiet and under the load with the isolation ratio and its
// interval, the candidate's retained % quiet beside its retained % under
// the load, what the neighbour achieved, and the resource that moved.

// isolationView is the isolation table as every format prints it.
type isolationView struct {
	Headline []headlineRow
	Sides    []isolationRow
	Loads    []string // "name: description"
	Defn     string
}

// headlineRow is one scenario under one load: retained quiet and under
// the load, side by side.
type headlineRow struct {
	Scenario, Load                 string
	Quiet, QuietCI, Loaded, LoadCI string
	Change                         string
}

// isolationRow is one scenario, load and side.
type isolationRow struct {
	Scenario, Load, Side     string
	Quiet, Loaded            string
	Ratio, Interval, Verdict string
	VerdictClass             string
	Neighbour, Attribution   string
}

func isolationRows(c *results.Comparison, none string) *isolationView {
	iso := c.Isolation
	if iso == nil || len(iso.Scenarios) == 0 {
		return nil
	}
	v := &isolationView{Defn: iso.Definition}
	for _, l := range iso.Loads {
		v.Loads = append(v.Loads, fmt.Sprintf("%s: %s", l.Name, l.Description))
	}
	pct := func(p *float64) string {
		if p == nil {
			return none
		}
		return fmt.Sprintf("%.1f%%", *p)
	}
	ci := func(iv *results.Interval) string {
		if iv == nil {
			return none
		}
		return fmt.Sprintf("[%.1f, %.1f]", iv.LowPct, iv.HighPct)
	}
	for _, s := range iso.Scenarios {
		name := s.Benchmark + " " + s.Scenario
		for _, l := range s.Loads {
			h := headlineRow{Scenario: name, Load: l.Load, Quiet: pct(s.RetainedQuietPct), QuietCI: ci(s.QuietInterval),
				Loaded: pct(l.RetainedPct), LoadCI: ci(l.Interval), Change: none}
			if s.RetainedQuietPct != nil && l.RetainedPct != nil {
				h.Change = fmt.Sprintf("%+.1f pts", *l.RetainedPct-*s.RetainedQuietPct)
			}
			v.Headline = append(v.Headline, h)
			for _, side := range []struct {
				role string
				si   results.SideIsolation
			}{{results.RoleBaseline, l.Baseline}, {results.RoleCandidate, l.Candidate}} {
				si := side.si
				r := isolationRow{Scenario: name, Load: l.Load, Side: side.role,
					Loaded: sideCellOr(si.Loaded, s.Metric, none), Ratio: pct(si.RatioPct), Interval: ci(si.Interval),
					Verdict: isolationVerdict(si), Neighbour: none, Attribution: si.Attribution}
				r.Quiet = none
				if si.RatioPct == nil {
					r.Attribution = "no isolation ratio"
					if len(si.Notes) > 0 {
						r.Attribution += ": " + strings.Join(si.Notes, "; ")
					}
				}
				if si.QuietGeomean != nil {
					r.Quiet = formatValue(*si.QuietGeomean, s.Metric.Unit)
				}
				if n := si.Neighbour; n != nil {
					r.Neighbour = interference.WithUnit(n.Achieved, n.Unit)
					if n.Target > 0 {
						r.Neighbour += fmt.Sprintf(" (target %.3g)", n.Target)
					}
					if n.Runs > 1 && n.High > n.Low {
						r.Neighbour += fmt.Sprintf(", %.3g–%.3g over %d runs", n.Low, n.High, n.Runs)
					}
				}
				r.VerdictClass = map[string]string{results.VerdictEquivalent: "pass", results.VerdictLower: "fail", results.VerdictHigher: "higher"}[si.Verdict]
				if r.VerdictClass == "" {
					r.VerdictClass = "none"
				}
				v.Sides = append(v.Sides, r)
			}
		}
	}
	return v
}

// isolationVerdict words the equivalence test on the isolation ratio:
// isolated when the load moved the metric by less than the margin.
func isolationVerdict(si results.SideIsolation) string {
	switch si.Verdict {
	case results.VerdictEquivalent:
		return "isolated"
	case results.VerdictLower:
		return "degraded"
	case results.VerdictHigher:
		return "faster"
	case results.VerdictInconclusive:
		return "inconclusive"
	}
	return "n/a"
}

// writeIsolationTable prints the isolation table in the terminal table.
// line prints a paragraph and item an indented one, wrapped in the compact
// table; compact puts the retained % beside its interval and each side's
// ratio on a line of its own, so the section fits the compact width.
func writeIsolationTable(ew *errWriter, c *results.Comparison, line, item func(string), compact bool) error {
	v := isolationRows(c, "-")
	if v == nil {
		return nil
	}
	conf := fmt.Sprintf("%g%% CI", 100*c.Settings.Confidence)
	ew.printf("\nIsolation under noisy neighbours: retained, quiet vs under each load:\n")
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	if compact {
		fmt.Fprintf(tw, "SCENARIO\tLOAD\tQUIET [%s]\tUNDER LOAD [%s]\tCHANGE\n", conf, conf)
		for _, h := range v.Headline {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Scenario, h.Load, joinCI(h.Quiet, h.QuietCI), joinCI(h.Loaded, h.LoadCI), h.Change)
		}
	} else {
		fmt.Fprintf(tw, "SCENARIO\tLOAD\tRETAINED QUIET\t%s\tRETAINED UNDER LOAD\t%s\tCHANGE\n", conf, conf)
		for _, h := range v.Headline {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Scenario, h.Load, h.Quiet, h.QuietCI, h.Loaded, h.LoadCI, h.Change)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	ew.printf("\nIsolation ratio per side (under the load ÷ quiet):\n")
	if compact {
		for _, r := range v.Sides {
			text := fmt.Sprintf("%s under %s, %s: %s quiet, %s under the load, ratio %s, %s", r.Scenario, r.Load, r.Side,
				r.Quiet, r.Loaded, joinCI(r.Ratio, r.Interval), r.Verdict)
			if r.Neighbour != "-" {
				text += "; the neighbour achieved " + r.Neighbour
			}
			item(text)
		}
	} else {
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "SCENARIO\tLOAD\tSIDE\tQUIET\tUNDER LOAD\tRATIO\t%s\tVERDICT\tNEIGHBOUR ACHIEVED\n", conf)
		for _, r := range v.Sides {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.Load, r.Side, r.Quiet, r.Loaded, r.Ratio, r.Interval, r.Verdict, r.Neighbour)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	ew.printf("\nWhat moved under each load:\n")
	for _, r := range v.Sides {
		if r.Attribution != "" {
			item(fmt.Sprintf("%s under %s, %s: %s.", r.Scenario, r.Load, r.Side, r.Attribution))
		}
	}
	line(fmt.Sprintf("Loads: %s.", strings.Join(v.Loads, "; ")))
	line(fmt.Sprintf("Isolation: %s.", v.Defn))
	return ew.err
}

// joinCI puts an interval beside its value: "98.6% [98.2, 99.0]".
func joinCI(value, ci string) string {
	if ci == "-" {
		return value
	}
	return value + " " + ci
}

// writeIsolationMarkdown writes the isolation tables for a pull request.
func writeIsolationMarkdown(p func(string, ...any), c *results.Comparison) {
	v := isolationRows(c, "–")
	if v == nil {
		return
	}
	conf := fmt.Sprintf("%g%% CI", 100*c.Settings.Confidence)
	p("**Isolation under noisy neighbours**: retained, quiet vs under each load\n\n")
	p("| Scenario | Load | Retained quiet | %s | Retained under load | %s | Change |\n", conf, conf)
	p("|:--|:--|--:|:--|--:|:--|--:|\n")
	for _, h := range v.Headline {
		p("| %s | %s | **%s** | %s | **%s** | %s | %s |\n", md(h.Scenario), md(h.Load), h.Quiet, h.QuietCI, h.Loaded, h.LoadCI, h.Change)
	}
	p("\n| Scenario | Load | Side | Quiet | Under load | Isolation ratio | %s | Verdict | Neighbour achieved |\n", conf)
	p("|:--|:--|:--|--:|--:|--:|:--|:--|:--|\n")
	for _, r := range v.Sides {
		p("| %s | %s | %s | %s | %s | **%s** | %s | %s | %s |\n", md(r.Scenario), md(r.Load), r.Side, md(r.Quiet), md(r.Loaded), r.Ratio, r.Interval, r.Verdict, md(r.Neighbour))
	}
	p("\n")
	for _, r := range v.Sides {
		if r.Attribution != "" {
			p("- %s under %s, %s: %s.\n", md(r.Scenario), md(r.Load), r.Side, md(r.Attribution))
		}
	}
	p("\n<sub>Loads: %s. Isolation: %s.</sub>\n\n", md(strings.Join(v.Loads, "; ")), md(v.Defn))
}

// junitIsolation is one passed case per scenario and load (isolation is
// reported, not gated), its figures in properties and system-out, or a
// skipped case when neither side has a ratio.
func junitIsolation(c *results.Comparison) []junitCase {
	if c.Isolation == nil {
		return nil
	}
	var out []junitCase
	for _, s := range c.Isolation.Scenarios {
		for _, l := range s.Loads {
			tc := junitCase{Name: s.Scenario + " under " + l.Load, Classname: "gpuperf." + s.Benchmark + ".isolation", Time: "0"}
			prop := func(name string, v *float64) {
				if v != nil {
					tc.Properties = append(tc.Properties, junitProperty{name, fmt.Sprintf("%.2f", *v)})
				}
			}
			prop("retained_quiet_pct", s.RetainedQuietPct)
			prop("retained_under_load_pct", l.RetainedPct)
			var lines []string
			ratios := 0
			for _, side := range []struct {
				role string
				si   results.SideIsolation
			}{{results.RoleBaseline, l.Baseline}, {results.RoleCandidate, l.Candidate}} {
				si := side.si
				prop(side.role+".isolation_ratio_pct", si.RatioPct)
				if si.Interval != nil {
					prop(side.role+".isolation_low_pct", &si.Interval.LowPct)
					prop(side.role+".isolation_high_pct", &si.Interval.HighPct)
				}
				if si.RatioPct == nil {
					lines = append(lines, fmt.Sprintf("%s: no isolation ratio (%s)", side.role, strings.Join(si.Notes, "; ")))
					continue
				}
				ratios++
				line := fmt.Sprintf("%s: isolation ratio %.1f%%", side.role, *si.RatioPct)
				if si.Interval != nil {
					line += fmt.Sprintf(" [%.1f, %.1f]", si.Interval.LowPct, si.Interval.HighPct)
				}
				line += ", " + isolationVerdict(si)
				if n := si.Neighbour; n != nil {
					line += "; neighbour achieved " + interference.WithUnit(n.Achieved, n.Unit)
				}
				if si.Attribution != "" {
					line += "; " + si.Attribution
				}
				lines = append(lines, line)
			}
			tc.SystemOut = strings.Join(lines, "\n")
			if ratios == 0 {
				tc.Skipped = &junitResult{Message: "no isolation ratio on either side"}
			}
			out = append(out, tc)
		}
	}
	return out
}
