package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/gpuperf/gpuperf/results/history"
)

func newHistoryCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the runs, comparisons and benches the run history holds",
		Long: `history lists what gpuperf recorded, newest first: every run, compare and
bench, and what gpuperf import backfilled. A row is one benchmark and
scenario of a record: retained % with its interval, verdict and gate
outcome for a comparison, each side's geometric mean otherwise.

The history lives in a SQLite file ($XDG_DATA_HOME/gpuperf/history.db, or
--store FILE) or in PostgreSQL (--store postgres://..., or GPUPERF_STORE).

Exit codes: 0 ok; 1 the store cannot be reached; 2 bad usage, or a store
gpuperf must not use (corrupt, or written by a newer gpuperf).`,
		Example: `  gpuperf history --since 30d --scenario server
  gpuperf history --host gpu-node-03 --verdict lower --format csv > lower.csv
  gpuperf history --pool vgpu --format json`,
		Args: cobra.NoArgs,
	}
	addStoreFlag(cmd)
	addFilterFlags(cmd)
	cmd.Flags().String("format", "table", "table, json or csv")
	cmd.Flags().Int("limit", 50, "the newest N records (0: all)")
	v := bindViper(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		format := v.GetString("format")
		switch format {
		case "table", "json", "csv":
		default:
			return usageErrorf("--format: must be table, json or csv, got %q", format)
		}
		f, err := filterFromFlags(v)
		if err != nil {
			return err
		}
		if f.Limit = v.GetInt("limit"); f.Limit < 0 {
			return usageErrorf("--limit: must be 0 (all) or more, got %d", f.Limit)
		}
		s, err := openStore(cmd.Context(), v)
		if err != nil {
			return err
		}
		defer s.Close()
		recs, err := s.List(cmd.Context(), f)
		if err != nil {
			return storeError(err)
		}
		rows := historyRows(recs, f)
		out := cmd.OutOrStdout()
		switch format {
		case "json":
			return writeHistoryJSON(out, recs, f)
		case "csv":
			return writeHistoryCSV(out, rows)
		}
		if len(rows) == 0 {
			_, err := fmt.Fprintf(out, "no records in %s match\n", s.Where())
			return err
		}
		return writeHistoryTable(out, rows)
	}
	return cmd
}

// addFilterFlags adds the flags that select records (history and trend).
func addFilterFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("host", "", "a host's name or hostname, on either side")
	f.String("pool", "", "part of either side's pool: a pool label, virtualization (vgpu_vm, passthrough_vm, bare_metal) or GPU model")
	f.String("candidate", "", "the candidate side's name (its hosts joined by +)")
	f.String("baseline-name", "", "the baseline side's name")
	f.String("benchmark", "", "the benchmark (model key: resnet50, bert-99, ...)")
	f.String("scenario", "", "offline, server, single-stream or multi-stream")
	f.String("since", "", "records started at or after: a date (2026-01-31), a time (RFC 3339) or an age (36h, 30d)")
	f.String("until", "", "records started before: a date, a time or an age")
	f.String("verdict", "", "a compared scenario's verdict: equivalent, lower, higher or inconclusive")
	f.String("gate-outcome", "", "the record's gate outcome: pass, regression, inconclusive, void, ...")
	f.String("kind", "", "run, compare, bench, import or mlperf (comma-separated)")
	f.String("plan-hash", "", "the start of a plan hash")
}

func filterFromFlags(v *viper.Viper) (history.Filter, error) {
	f := history.Filter{
		Host: v.GetString("host"), Pool: v.GetString("pool"), Candidate: v.GetString("candidate"), Baseline: v.GetString("baseline-name"),
		Benchmark: v.GetString("benchmark"), Scenario: v.GetString("scenario"), Verdict: v.GetString("verdict"),
		GateOutcome: v.GetString("gate-outcome"), PlanHash: v.GetString("plan-hash"),
	}
	if f.Scenario != "" {
		if sc := history.ScenarioName(f.Scenario); sc == f.Scenario && !isScenario(sc) {
			return f, usageErrorf("--scenario: want offline, server, single-stream or multi-stream, got %q", f.Scenario)
		}
	}
	switch f.Verdict {
	case "", "equivalent", "lower", "higher", "inconclusive", "n/a":
	default:
		return f, usageErrorf("--verdict: want equivalent, lower, higher or inconclusive, got %q", f.Verdict)
	}
	if k := v.GetString("kind"); k != "" {
		for _, kind := range strings.Split(k, ",") {
			kind = strings.TrimSpace(kind)
			switch kind {
			case history.KindRun, history.KindCompare, history.KindBench, history.KindImport, history.KindMLPerf:
				f.Kinds = append(f.Kinds, kind)
			default:
				return f, usageErrorf("--kind: want run, compare, bench, import or mlperf, got %q", kind)
			}
		}
	}
	var err error
	if f.Since, err = timeFlag(v, "since"); err != nil {
		return f, err
	}
	if f.Until, err = timeFlag(v, "until"); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, usageErrorf("--since %s is not before --until %s", v.GetString("since"), v.GetString("until"))
	}
	return f, nil
}

func isScenario(s string) bool {
	switch s {
	case "Offline", "Server", "SingleStream", "MultiStream":
		return true
	}
	return false
}

// timeFlag parses a date, an RFC 3339 time, or an age back from now
// (Go durations, plus days: 30d).
func timeFlag(v *viper.Viper, name string) (time.Time, error) {
	raw := strings.TrimSpace(v.GetString(name))
	if raw == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, raw); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, raw, time.Local); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(raw, "d"); ok {
		if n, err := strconv.ParseFloat(days, 64); err == nil && n >= 0 && !math.IsInf(n, 0) {
			return time.Now().Add(-time.Duration(n * 24 * float64(time.Hour))), nil
		}
	}
	if d, err := time.ParseDuration(raw); err == nil && d >= 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, usageErrorf("--%s: %q is not a date (2026-01-31), a time (2026-01-31T02:00:00Z) or an age (36h, 30d)", name, raw)
}

// historyRow is one benchmark and scenario of one record.
type historyRow struct {
	rec       *history.Record
	benchmark string
	scenario  string
	// value is retained % with its interval (a comparison), or the sides'
	// geometric means.
	value   string
	low     *float64
	high    *float64
	verdict string
	gate    string
	metric  string
	retPct  *float64
	base    *float64
	cand    *float64
	unit    string
}

func historyRows(recs []*history.Record, f history.Filter) []historyRow {
	var rows []historyRow
	match := func(bench, sc string) bool {
		return (f.Benchmark == "" || strings.EqualFold(bench, f.Benchmark)) && (f.Scenario == "" || sc == history.ScenarioName(f.Scenario))
	}
	for _, r := range recs {
		n := len(rows)
		if r.Comparison != nil && len(r.Comparison.Scenarios) > 0 {
			for _, sc := range r.Comparison.Scenarios {
				if !match(sc.Benchmark, sc.Scenario) || (f.Verdict != "" && sc.Verdict != f.Verdict) {
					continue
				}
				row := historyRow{rec: r, benchmark: sc.Benchmark, scenario: sc.Scenario, verdict: sc.Verdict, gate: sc.GateOutcome,
					metric: sc.Metric, retPct: sc.RetainedPct, low: sc.LowPct, high: sc.HighPct, base: sc.BaselineValue, cand: sc.CandidateValue, unit: sc.Unit}
				switch {
				case sc.RetainedPct == nil:
					row.value = sc.Status
				case sc.LowPct != nil && sc.HighPct != nil:
					row.value = fmt.Sprintf("%.1f%% [%.1f, %.1f]", *sc.RetainedPct, *sc.LowPct, *sc.HighPct)
				default:
					row.value = fmt.Sprintf("%.1f%%", *sc.RetainedPct)
				}
				rows = append(rows, row)
			}
		} else {
			for _, g := range sideMeans(r) {
				if !match(g.bench, g.scenario) {
					continue
				}
				row := historyRow{rec: r, benchmark: g.bench, scenario: g.scenario, metric: g.metric, unit: g.unit, base: g.base, cand: g.cand}
				var parts []string
				if g.base != nil {
					parts = append(parts, "baseline "+formatValue(*g.base, g.unit))
				}
				if g.cand != nil {
					parts = append(parts, formatValue(*g.cand, g.unit))
				}
				row.value = strings.Join(parts, ", ")
				if r.Kind == history.KindBench && g.valid != nil && !*g.valid {
					row.verdict = "INVALID"
				}
				rows = append(rows, row)
			}
		}
		if len(rows) == n && f.Benchmark == "" && f.Scenario == "" && f.Verdict == "" {
			rows = append(rows, historyRow{rec: r, value: "no runs"})
		}
	}
	return rows
}

type sideMean struct {
	bench, scenario, metric, unit string
	base, cand                    *float64
	valid                         *bool
}

// sideMeans are a record's per-scenario geometric means of each side's
// valid runs, for records without a comparison.
func sideMeans(r *history.Record) []sideMean {
	type acc struct {
		sum   float64
		n     int
		valid bool
	}
	var order []string
	groups := map[string]*sideMean{}
	sums := map[string]*acc{}
	for _, m := range r.Metrics {
		key := m.Benchmark + "\x00" + m.Scenario + "\x00" + m.Name
		g := groups[key]
		if g == nil {
			g = &sideMean{bench: m.Benchmark, scenario: m.Scenario, metric: m.Name, unit: m.Unit}
			groups[key] = g
			order = append(order, key)
		}
		if m.Value == nil || *m.Value <= 0 {
			continue
		}
		a := sums[key+"\x00"+m.Role]
		if a == nil {
			a = &acc{valid: true}
			sums[key+"\x00"+m.Role] = a
		}
		a.sum += math.Log(*m.Value)
		a.n++
		a.valid = a.valid && m.Valid
		v := math.Exp(a.sum / float64(a.n))
		valid := a.valid
		if m.Role == "baseline" {
			g.base = &v
		} else {
			g.cand, g.valid = &v, &valid
		}
	}
	out := make([]sideMean, 0, len(order))
	for _, k := range order {
		out = append(out, *groups[k])
	}
	return out
}

func sidesText(r *history.Record) string {
	switch {
	case r.BaselineName != "" && r.CandidateName != "":
		return r.CandidateName + " vs " + r.BaselineName
	case r.CandidateName != "":
		return r.CandidateName
	}
	return r.BaselineName
}

func writeHistoryTable(w io.Writer, rows []historyRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTARTED\tKIND\tRUN ID\tSIDES\tBENCHMARK\tSCENARIO\tRESULT\tVERDICT\tGATE\tEXIT")
	for _, r := range rows {
		rec := r.rec
		gate := r.gate
		if gate == "" && rec.Comparison != nil {
			gate = rec.Comparison.GateOutcome
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", rec.ID, rec.StartedAt.Local().Format("2006-01-02 15:04"), rec.Kind,
			histDash(rec.RunID), histDash(sidesText(rec)), histDash(r.benchmark), histDash(r.scenario), histDash(r.value), histDash(r.verdict), histDash(gate), rec.ExitCode)
	}
	return tw.Flush()
}

func histDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func writeHistoryCSV(w io.Writer, rows []historyRow) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"run", "started_at", "kind", "run_id", "tree", "plan_hash", "baseline", "candidate", "baseline_pool", "candidate_pool",
		"benchmark", "scenario", "metric", "unit", "retained_pct", "low_pct", "high_pct", "baseline_value", "candidate_value",
		"verdict", "scenario_gate", "gate_outcome", "exit_code", "gpuperf_version"})
	for _, r := range rows {
		rec := r.rec
		outcome := ""
		if rec.Comparison != nil {
			outcome = rec.Comparison.GateOutcome
		}
		_ = cw.Write([]string{strconv.FormatInt(rec.ID, 10), rec.StartedAt.Format(time.RFC3339), rec.Kind, rec.RunID, rec.Tree, rec.PlanHash,
			rec.BaselineName, rec.CandidateName, rec.BaselinePool, rec.CandidatePool, r.benchmark, r.scenario, r.metric, r.unit,
			optFloat(r.retPct), optFloat(r.low), optFloat(r.high), optFloat(r.base), optFloat(r.cand),
			r.verdict, r.gate, outcome, strconv.Itoa(rec.ExitCode), rec.Version})
	}
	cw.Flush()
	return cw.Error()
}

func optFloat(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'g', 8, 64)
}

// writeHistoryJSON writes the records whole (their comparisons' scenario
// JSON included), the scenarios narrowed by the filter.
func writeHistoryJSON(w io.Writer, recs []*history.Record, f history.Filter) error {
	out := make([]*history.Record, 0, len(recs))
	for _, r := range recs {
		if r.Comparison != nil && (f.Benchmark != "" || f.Scenario != "" || f.Verdict != "") {
			cp := *r
			c := *r.Comparison
			c.Scenarios = nil
			for _, sc := range r.Comparison.Scenarios {
				if (f.Benchmark == "" || strings.EqualFold(sc.Benchmark, f.Benchmark)) && (f.Scenario == "" || sc.Scenario == history.ScenarioName(f.Scenario)) &&
					(f.Verdict == "" || sc.Verdict == f.Verdict) {
					c.Scenarios = append(c.Scenarios, sc)
				}
			}
			cp.Comparison = &c
			r = &cp
		}
		out = append(out, r)
	}
	// One record at a time: a thousand records are tens of megabytes of
	// JSON, which need not sit in memory whole.
	bw := bufio.NewWriter(w)
	bw.WriteString("{\n  \"schema\": \"gpuperf.history/v1\",\n  \"records\": [")
	for i, r := range out {
		b, err := json.MarshalIndent(r, "    ", "  ")
		if err != nil {
			return err
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		bw.Write(b)
	}
	if len(out) > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("]\n}\n")
	return bw.Flush()
}
