package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/gpuperf/gpuperf/results"
)

// WriteFairness prints the fairness preflight: material differences first
// (marked "!"), then the other differences, then the identical items in
// one line. It is the first section of the terminal table, and what
// --strict prints when it refuses to compare.
func WriteFairness(w io.Writer, f *results.Fairness) error {
	ew := &errWriter{w: w}
	writeFairness(ew, f, false)
	return ew.err
}

// maxCell bounds a value's width in the table; the JSON keeps it whole.
const maxCell = 44

// writeFairness prints the preflight; compact lists each difference as a
// wrapped line instead of a table row, so it fits the compact table's width.
func writeFairness(ew *errWriter, f *results.Fairness, compact bool) {
	if f == nil {
		return
	}
	if len(f.Items) == 0 {
		ew.printf("Fairness preflight: neither side has a fingerprint to compare.\n")
		return
	}
	word := "differences"
	if f.MaterialDifferences == 1 {
		word = "difference"
	}
	ew.printf("Fairness preflight: %d material %s; same physical GPU: %s\n", f.MaterialDifferences, word, f.SamePhysicalGPU)
	var differ, same []results.FairnessItem
	for _, it := range f.Items {
		if it.Same {
			same = append(same, it)
		} else {
			differ = append(differ, it)
		}
	}
	if len(differ) > 0 && compact {
		for _, material := range []bool{true, false} {
			for _, it := range differ {
				if it.Material != material {
					continue
				}
				mark := "  "
				if it.Material {
					mark = "! "
				}
				line := fmt.Sprintf("  %s%s: baseline %s, candidate %s", mark, it.Label, cell(it.Baseline), cell(it.Candidate))
				if it.Note != "" {
					line += " (" + it.Note + ")"
				}
				ew.printf("%s", wrap(line, ew.cols(), "      "))
			}
		}
	}
	if len(differ) > 0 && !compact {
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "   \tITEM\tBASELINE\tCANDIDATE\tNOTE\n")
		for _, material := range []bool{true, false} {
			for _, it := range differ {
				if it.Material != material {
					continue
				}
				mark := ""
				if it.Material {
					mark = "!"
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", mark, it.Label, cell(it.Baseline), cell(it.Candidate), it.Note)
			}
		}
		tw.Flush()
	}
	if len(same) > 0 {
		var parts, scenarios []string
		at := -1
		for _, it := range same {
			// Identical LoadGen settings print once, with their scenarios.
			if sc, ok := strings.CutPrefix(it.Key, "loadgen."); ok {
				if at < 0 {
					at = len(parts)
					parts = append(parts, "")
				}
				scenarios = append(scenarios, sc)
				continue
			}
			if utf8.RuneCountInString(it.Baseline) <= 24 {
				parts = append(parts, fmt.Sprintf("%s (%s)", it.Label, it.Baseline))
			} else {
				parts = append(parts, it.Label)
			}
		}
		if at >= 0 {
			parts[at] = "LoadGen settings and seeds (" + strings.Join(scenarios, ", ") + ")"
		}
		ew.printf("%s", wrap("  Identical: "+strings.Join(parts, ", ")+".", ew.cols(), "    "))
	}
	if f.MaterialDifferences > 0 {
		ew.printf("%s", wrap("  ! material: the difference changes what the numbers mean; --strict refuses to compare.", ew.cols(), "    "))
	}
}

func cell(v string) string {
	switch {
	case v == "":
		return "-"
	case utf8.RuneCountInString(v) > maxCell:
		r := []rune(v)
		return string(r[:maxCell-1]) + "…"
	}
	return v
}

// writeFindings prints the ranked findings; nil findings (no run recorded
// telemetry or generator health: published results) print nothing.
func writeFindings(ew *errWriter, c *results.Comparison) {
	if c.Findings == nil {
		return
	}
	if len(c.Findings) == 0 {
		ew.printf("\nFindings: no telemetry or load-generator difference beyond the repetitions' spread.\n")
		return
	}
	ew.printf("\n%s", wrap("Findings (ranked by how much of a gap each can explain; deltas beyond the repetitions' spread):", ew.cols(), "  "))
	for _, f := range c.Findings {
		text := f.Text
		if f.Scenario != "" {
			text = f.Scenario + ": " + text
		}
		lead := fmt.Sprintf("  %d. ", f.Rank)
		ew.printf("%s", wrap(lead+text, ew.cols(), strings.Repeat(" ", len(lead))))
	}
}

// wrap breaks s into lines of at most width runes at spaces, indenting
// the continuation lines; it ends with a newline.
func wrap(s string, width int, indent string) string {
	var b strings.Builder
	line := 0
	for i, w := range strings.Fields(s) {
		n := utf8.RuneCountInString(w)
		switch {
		case i == 0:
			lead := len(s) - len(strings.TrimLeft(s, " "))
			b.WriteString(s[:lead])
			line = lead
		case line+1+n > width:
			b.WriteString("\n" + indent)
			line = utf8.RuneCountInString(indent)
		default:
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += n
	}
	b.WriteByte('\n')
	return b.String()
}
