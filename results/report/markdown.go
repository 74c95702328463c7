package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/gpuperf/gpuperf/results"
)

// WriteMarkdown writes c as GitHub-flavoured Markdown for a pull-request
// comment: the gate, material fairness differences (before any number),
// a compact table per scenario (retained % with its interval, ±, verdict
// and gate), the top findings and notes; the runs, the full fairness
// preflight and the definitions of every number fold away in <details>.
func WriteMarkdown(w io.Writer, c *results.Comparison, o Options) error {
	ew := &errWriter{w: w}
	p := ew.printf
	p("### gpuperf: candidate %s vs baseline %s\n\n", md(sideTitle(c.Candidate)), md(sideTitle(c.Baseline)))
	p("%s **%s**\n", gateMark(c.Gate.Outcome), md(gateTitle(c)))
	for _, r := range c.Gate.Reasons {
		p("- %s\n", md(r))
	}
	p("\n")

	if f := c.Fairness; f != nil {
		material, differing := materialItems(f)
		if len(material) > 0 {
			p("> [!WARNING]\n")
			p("> **%s between the sides** (fairness preflight): read them before the numbers.\n", plural(len(material), "material difference", "material differences"))
			for _, it := range material {
				p("> - %s\n", md(fairnessLine(it)))
			}
			p("> - Same physical GPU: %s.\n\n", md(orNone(f.SamePhysicalGPU)))
		} else {
			p("Fairness preflight: no material difference (%s differ); same physical GPU: %s.\n\n",
				plural(len(differing), "other item", "other items"), md(orNone(f.SamePhysicalGPU)))
		}
	}

	conf := fmt.Sprintf("%g%% CI", 100*c.Settings.Confidence)
	p("| Benchmark | Scenario | Retained | %s | ± | Verdict | Gate |\n", conf)
	p("|:--|:--|--:|:--|--:|:--|:--|\n")
	for _, s := range c.Scenarios {
		scenario := md(s.Scenario)
		if len(s.Labels) > 0 {
			// Labels qualify the number, so they stay beside it.
			scenario += "<br><sub>" + md(labelsText(s)) + "</sub>"
		}
		p("| %s | %s | **%s** | %s | %s | %s | %s %s |\n", md(s.Benchmark), scenario, retainedText(s), intervalText(s), halfWidthText(s),
			md(verdictText(s)), gateMark(s.Gate.Outcome), md(gateText(s)))
	}
	p("\n")

	if rows := serverRows(c, "–"); len(rows) > 0 {
		p("**Server statistics** (per request, ms; means over the counted runs)\n\n")
		p("| Scenario | Side | Source | Runs | Client mean | On server | Queue | Infer | Prefill | Decode | Other |\n")
		p("|:--|:--|:--|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, r := range rows {
			if r.Runs == 0 {
				p("| %s | %s | %s | 0 | %s | | | | | | |\n", md(r.Scenario), r.Side, md(r.Source), md(r.Unavailable))
				continue
			}
			p("| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", md(r.Scenario), r.Side, md(r.Source), r.Runs,
				r.Client, r.Request, r.Queue, r.Infer, r.Prefill, r.Decode, r.Other)
		}
		p("\n")
	}

	writeIsolationMarkdown(p, c)

	if fs := rankedFindings(c); len(fs) > 0 {
		top := min(len(fs), o.topFindings())
		if top < len(fs) {
			p("**Findings** (top %d of %d, ranked)\n\n", top, len(fs))
		} else {
			p("**Findings** (ranked)\n\n")
		}
		for i, f := range fs[:top] {
			scope := ""
			if f.Scenario != "" {
				scope = md(f.Scenario) + ": "
			}
			values := ""
			if f.Baseline != nil || f.Candidate != nil {
				values = fmt.Sprintf(" <sub>(%s: %s → %s, %s)</sub>", md(f.Metric),
					md(findingValue(f.Baseline, f.Unit)), md(findingValue(f.Candidate, f.Unit)), findingDelta(f.DeltaPct))
			}
			p("%d. %s%s%s\n", i+1, scope, md(f.Text), values)
		}
		p("\n")
	}

	if notes := noteLines(c); len(notes) > 0 {
		p("**Notes**\n\n")
		for _, n := range notes {
			p("- %s\n", md(n))
		}
		p("\n")
	}

	p("<details><summary>Metrics and runs</summary>\n\n")
	p("| Benchmark | Scenario | Metric | Baseline | Candidate | Reps for ±%g%% | Pairing | Labels |\n", c.Settings.MarginPct)
	p("|:--|:--|:--|--:|--:|--:|:--|:--|\n")
	for _, s := range c.Scenarios {
		p("| %s | %s | %s | %s | %s | %s | %s | %s |\n", md(s.Benchmark), md(s.Scenario), md(metricTitle(s.Metric)),
			md(sideCell(s.Baseline, s.Metric)), md(sideCell(s.Candidate, s.Metric)), repsText(s), md(s.Pairing), md(labelsText(s)))
	}
	p("\nBaseline and candidate are geometric means of the counted repetitions (counted/all).\n\n")
	for _, side := range []results.Side{c.Baseline, c.Candidate} {
		p("- %s: `%s` (%s)", side.Role, mdCode(side.Path), md(side.Format))
		if side.RunID != "" {
			p(", run id `%s`", mdCode(side.RunID))
		}
		if side.StoredBaseline != "" {
			p(", stored baseline from `%s`", mdCode(side.StoredBaseline))
		}
		p("\n")
	}
	p("\n</details>\n\n")

	if f := c.Fairness; f != nil && len(f.Items) > 0 {
		material, differing := materialItems(f)
		p("<details><summary>Fairness preflight: %d items, %d material, %d other differences</summary>\n\n", len(f.Items), len(material), len(differing))
		p("| Item | Baseline | Candidate | |\n|:--|:--|:--|:--|\n")
		for _, it := range f.Items {
			mark := "same"
			switch {
			case it.Material:
				mark = "**material**"
			case !it.Same:
				mark = "differs"
			}
			if it.Note != "" {
				mark += ": " + md(it.Note)
			}
			p("| %s | %s | %s | %s |\n", md(itemLabel(it)), md(orNone(it.Baseline)), md(orNone(it.Candidate)), mark)
		}
		p("\n</details>\n\n")
	}

	d := c.Definitions
	p("<details><summary>How these numbers are defined</summary>\n\n")
	for _, def := range definitionList(d) {
		p("- **%s**: %s.\n", def[0], md(def[1]))
	}
	p("\n</details>\n\n")
	p("<sub>%s", md(c.Schema))
	if c.Version != "" {
		p(" · gpuperf %s", md(c.Version))
	}
	p("</sub>\n")
	return ew.err
}

// definitionList is the Definitions in the order the reports print them.
func definitionList(d results.Definitions) [][2]string {
	var out [][2]string
	for _, def := range [][2]string{
		{"Retained", d.Retained},
		{"Interval", d.Interval},
		{"±", d.HalfWidth},
		{"Verdict", d.Equivalence},
		{"Reps", d.RepsNeeded},
		{"Percentiles", d.Percentile},
		{"Gate", d.Gate},
		{"Server", d.Server},
		{"Per GPU", d.PerGPU},
	} {
		if def[1] != "" {
			out = append(out, def)
		}
	}
	return out
}

func itemLabel(it results.FairnessItem) string {
	if it.Label != "" {
		return it.Label
	}
	return it.Key
}

// fairnessLine is one differing item in a sentence.
func fairnessLine(it results.FairnessItem) string {
	s := fmt.Sprintf("%s: baseline %s, candidate %s", itemLabel(it), orNone(it.Baseline), orNone(it.Candidate))
	if it.Note != "" {
		s += " (" + it.Note + ")"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// md escapes text for a Markdown table cell or list item: the characters
// that would end a cell, start emphasis or code, or open an HTML tag.
var mdReplacer = strings.NewReplacer(
	`\`, `\\`, "|", `\|`, "*", `\*`, "`", "\\`", "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`, "\n", " ", "\r", "",
)

func md(s string) string { return mdReplacer.Replace(s) }

// mdCode prepares text for inline code: a backtick cannot be escaped
// there, so it is replaced.
func mdCode(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "`", "'"), "\n", " ") }

// errWriter keeps the first write error; later writes do nothing. It is
// an io.Writer too, for a tabwriter on top of it.
type errWriter struct {
	w   io.Writer
	err error
	// width is what the compact table's prose wraps to; 0 is compactWidth.
	width int
}

// cols is the width the compact table's lines fit.
func (e *errWriter) cols() int {
	if e.width > 0 {
		return e.width
	}
	return compactWidth
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
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, format, args...)
}
