package results

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/gpuperf/gpuperf/inference"
)

// Role names, as plans spell them.
const (
	RoleBaseline  = "baseline"
	RoleCandidate = "candidate"
)

// ScenarioComparison is one scenario's retained performance.
type ScenarioComparison struct {
	Scenario string `json:"scenario"`
	// Metric is what was compared; Label says it in words.
	Metric string `json:"metric"`
	Label  string `json:"label"`
	Unit   string `json:"unit"`
	// HigherIsBetter is false for latencies; RetainedPct is inverted for
	// them so that above 100 always means the candidate did better.
	HigherIsBetter bool      `json:"higher_is_better"`
	Baseline       []float64 `json:"baseline"`
	Candidate      []float64 `json:"candidate"`
	// RetainedPct is candidate/baseline of the geometric means, in percent;
	// NaN (null in JSON) when a side has no usable run.
	RetainedPct *float64 `json:"retained_pct"`
	// Invalid and Failed count runs left out: INVALID by MLPerf's rules, or
	// failed outright.
	Invalid int      `json:"invalid_runs"`
	Failed  int      `json:"failed_runs"`
	Notes   []string `json:"notes,omitempty"`
}

// Comparison is a plan's result: retained performance per scenario.
type Comparison struct {
	RunID     string               `json:"run_id"`
	Model     string               `json:"model"`
	Backend   string               `json:"backend"`
	Scenarios []ScenarioComparison `json:"scenarios"`
}

// Compare computes retained performance from a finished tree. Only VALID
// runs count; a latency ratio is refused when the two sides processed
// different query counts, since the early-stopping estimate depends on it.
func Compare(t *Tree, m *Manifest) (*Comparison, error) {
	c := &Comparison{RunID: m.RunID, Model: m.Model, Backend: m.Backend}
	var order []string
	by := map[string]*ScenarioComparison{}
	queries := map[string]map[string]map[uint64]bool{}
	for _, r := range m.Runs {
		sc, ok := by[r.Scenario]
		if !ok {
			sc = &ScenarioComparison{Scenario: r.Scenario}
			by[r.Scenario] = sc
			order = append(order, r.Scenario)
			queries[r.Scenario] = map[string]map[uint64]bool{RoleBaseline: {}, RoleCandidate: {}}
		}
		if r.Status != StatusOK {
			sc.Failed++
			continue
		}
		res, err := t.ReadResult(r.Dir)
		if err != nil {
			return nil, fmt.Errorf("read %s run %d of %s: %w", r.Scenario, r.Repetition+1, r.Host, err)
		}
		if !res.Validity.Valid {
			sc.Invalid++
			continue
		}
		name, label, unit, value, higher := headline(res)
		sc.Metric, sc.Label, sc.Unit, sc.HigherIsBetter = name, label, unit, higher
		switch r.Role {
		case RoleBaseline:
			sc.Baseline = append(sc.Baseline, value)
		case RoleCandidate:
			sc.Candidate = append(sc.Candidate, value)
		}
		queries[r.Scenario][r.Role][res.QueriesIssued] = true
	}
	for _, name := range order {
		sc := by[name]
		latency := !sc.HigherIsBetter
		if latency && !sameCounts(queries[name]) {
			sc.Notes = append(sc.Notes, "refused: the two sides processed different query counts, so their early-stopping estimates are not comparable")
		} else if len(sc.Baseline) > 0 && len(sc.Candidate) > 0 {
			b, cd := geomean(sc.Baseline), geomean(sc.Candidate)
			pct := 100 * cd / b
			if latency {
				pct = 100 * b / cd
			}
			sc.RetainedPct = &pct
		} else {
			sc.Notes = append(sc.Notes, "no VALID run on one side")
		}
		if sc.Invalid > 0 {
			sc.Notes = append(sc.Notes, fmt.Sprintf("%d INVALID run(s) left out", sc.Invalid))
		}
		if sc.Failed > 0 {
			sc.Notes = append(sc.Notes, fmt.Sprintf("%d failed run(s) left out", sc.Failed))
		}
		c.Scenarios = append(c.Scenarios, *sc)
	}
	return c, nil
}

// headline picks what a run contributes: the official metric, except that a
// Server run at one fixed QPS says nothing about capacity (both sides
// complete what was scheduled), so its p99 latency is compared instead.
func headline(r *inference.Result) (name, label, unit string, value float64, higher bool) {
	m := r.Metric
	switch {
	case r.Effective.Scenario == inference.Server && r.Peak == nil:
		return "target_percentile_latency_ns",
			fmt.Sprintf("p%g latency at a fixed %.0f QPS", r.TargetPercentile*100, r.Effective.TargetQPS),
			"ns", float64(r.TargetLatencyNs), false
	case r.Effective.Scenario == inference.Server:
		return m.Name, "completed samples/s at the peak VALID QPS", m.Unit, m.Value, true
	case m.HigherIsBetter:
		return m.Name, m.Unit, m.Unit, m.Value, true
	default:
		return m.Name, fmt.Sprintf("p%g early-stopping latency", r.TargetPercentile*100), m.Unit, m.Value, false
	}
}

func sameCounts(byRole map[string]map[uint64]bool) bool {
	b, c := byRole[RoleBaseline], byRole[RoleCandidate]
	if len(b) == 0 || len(c) == 0 {
		return true
	}
	if len(b) != 1 || len(c) != 1 {
		return false
	}
	for q := range b {
		return c[q]
	}
	return true
}

func geomean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += math.Log(x)
	}
	return math.Exp(s / float64(len(xs)))
}

// WriteText prints the comparison as a table.
func (c *Comparison) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "gpuperf compare %s: %s on %s\n\n", c.RunID, c.Model, c.Backend)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tMETRIC\tBASELINE\tCANDIDATE\tRETAINED\tRUNS (B/C)")
	for _, s := range c.Scenarios {
		ret := "n/a"
		if s.RetainedPct != nil {
			ret = fmt.Sprintf("%.1f%%", *s.RetainedPct)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\n", s.Scenario, s.Label,
			formatValue(s.Baseline, s.Unit), formatValue(s.Candidate, s.Unit), ret, len(s.Baseline), len(s.Candidate))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range c.Scenarios {
		for _, n := range s.Notes {
			fmt.Fprintf(w, "  %s: %s\n", s.Scenario, n)
		}
	}
	_, err := fmt.Fprintln(w, "\nRetained = candidate / baseline of the geometric means over VALID runs (latencies inverted:"+
		" above 100% the candidate did better). Latencies are LoadGen percentiles, sorted[floor(n·p)]. Confidence intervals are not computed yet.")
	return err
}

func formatValue(xs []float64, unit string) string {
	if len(xs) == 0 {
		return "-"
	}
	g := geomean(xs)
	switch unit {
	case "ns":
		return fmt.Sprintf("%.3f ms", g/1e6)
	default:
		return strings.TrimSpace(fmt.Sprintf("%.1f %s", g, unit))
	}
}
