package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gpuperf/gpuperf/internal/atomicfile"
	"github.com/gpuperf/gpuperf/results"
	"github.com/gpuperf/gpuperf/results/changepoint"
	"github.com/gpuperf/gpuperf/results/history"
	"github.com/gpuperf/gpuperf/results/trend"
)

func newTrendCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trend",
		Short: "Retained % (or a side's metric) over time, with change points",
		Long: `trend follows one quantity over the run history, per benchmark, scenario
and pair of sides (host names, or pools with --by pool): retained % with
each run's interval (the default), or a side's own metric (--metric
candidate or baseline: the geometric mean of its valid runs, with a 95%
interval).

Each series is segmented by E-divisive means with a permutation test (the
method MongoDB's and DataStax's CI use): every change point is printed with
the means before and after, its p-value and the first run after it.

  --format text   a sparkline per series (the default)
  --format html   one self-contained page with a chart per series
  --format png    the charts, one above the other (to --output, or a pipe)
  --format json | csv

--gate trend exits 4 when a series' newest segment is a significant change
for the worse larger than the margin (--margin, else the equivalence margin
its newest comparison used, else 3): percentage points for retained %,
percent of the level for a metric.

Exit codes: 0 ok; 1 the store cannot be reached; 2 bad usage or an unusable
store; 4 a regression under --gate trend.`,
		Example: `  gpuperf trend --candidate vgpu-node-03 --scenario offline
  gpuperf trend --pool vgpu --by pool --format html --output trend.html
  gpuperf trend --metric candidate --host gpu-node-03 --gate trend`,
		Args: cobra.NoArgs,
	}
	addStoreFlag(cmd)
	addFilterFlags(cmd)
	f := cmd.Flags()
	f.String("metric", history.MetricRetained, "retained, candidate or baseline")
	f.String("by", history.ByHost, "series per pair of hosts (host) or of pools (pool)")
	f.String("format", "text", "text, json, csv, html or png")
	f.String("output", "", "write to this file instead of standard output")
	f.Int("last", 0, "the newest N runs of each series (0: all)")
	f.Int("min-points", 2, "leave out series with fewer runs")
	f.String("gate", "none", "none, or trend: exit 4 when a newest segment is a significant drop beyond the margin")
	f.Float64("margin", 0, "the drop the trend gate tolerates (default: each series' equivalence margin, else 3)")
	f.Float64("alpha", changepoint.DefaultAlpha, "the permutation test's significance level")
	f.Int("permutations", changepoint.DefaultPermutations, "shuffles per permutation test")
	f.Int("min-segment", changepoint.DefaultMinSize, "the fewest runs a segment may have")
	f.Uint64("seed", 1, "the permutations' seed")
	v := bindViper(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		format := v.GetString("format")
		switch format {
		case "text", "json", "csv", "html", "png":
		default:
			return usageErrorf("--format: must be text, json, csv, html or png, got %q", format)
		}
		gate := v.GetString("gate")
		if gate != "none" && gate != GateTrend {
			return usageErrorf("--gate: must be none or trend, got %q", gate)
		}
		metric, by := v.GetString("metric"), v.GetString("by")
		if metric != history.MetricRetained && metric != history.MetricCandidate && metric != history.MetricBaseline {
			return usageErrorf("--metric: must be retained, candidate or baseline, got %q", metric)
		}
		if by != history.ByHost && by != history.ByPool {
			return usageErrorf("--by: must be host or pool, got %q", by)
		}
		opts := trend.Options{MarginPct: v.GetFloat64("margin"), Detect: changepoint.Options{
			Alpha: v.GetFloat64("alpha"), Permutations: v.GetInt("permutations"), MinSize: v.GetInt("min-segment"), Seed: v.GetUint64("seed")}}
		if err := opts.Detect.Validate(); err != nil {
			return usageErrorf("change points: %v", err)
		}
		if m := opts.MarginPct; m < 0 || m >= 100 {
			return usageErrorf("--margin: must be between 0 and 100, got %v", m)
		}
		last, minPoints := v.GetInt("last"), v.GetInt("min-points")
		if last < 0 || minPoints < 1 {
			return usageErrorf("--last must be 0 or more and --min-points 1 or more")
		}
		out := v.GetString("output")
		if format == "png" && out == "" && term.IsTerminal(int(os.Stdout.Fd())) {
			return usageErrorf("--format png: name a file with --output, or pipe the image")
		}
		filter, err := filterFromFlags(v)
		if err != nil {
			return err
		}
		s, err := openStore(cmd.Context(), v)
		if err != nil {
			return err
		}
		defer s.Close()
		series, err := s.Series(cmd.Context(), history.SeriesOptions{Filter: filter, Metric: metric, By: by})
		if err != nil {
			return storeError(err)
		}
		var ts []trend.Trend
		short := 0
		for _, sr := range series {
			if last > 0 && len(sr.Points) > last {
				sr.Points = sr.Points[len(sr.Points)-last:]
			}
			if len(sr.Points) < minPoints {
				short++
				continue
			}
			t, err := trend.Analyze(sr, opts)
			if err != nil {
				return err
			}
			ts = append(ts, t)
		}
		g := trend.Decide(ts)
		if len(ts) == 0 {
			why := fmt.Sprintf("no series: nothing in %s matches (gpuperf history lists what is there)", s.Where())
			if short > 0 {
				why = fmt.Sprintf("no series: %s in %s match, each with fewer than %d runs (--min-points)", countNoun(short, "series", "series"), s.Where(), minPoints)
				if metric == history.MetricRetained {
					why += "; against --baseline last-good every run has its own baseline: --metric candidate follows the candidate's own metric"
				}
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "gpuperf:", why)
			if format == "text" || format == "html" || format == "png" {
				return nil
			}
		}
		var b bytes.Buffer
		switch format {
		case "text":
			err = trend.WriteText(&b, ts)
		case "json":
			err = trend.WriteJSON(&b, ts, &g)
		case "csv":
			err = trend.WriteCSV(&b, ts)
		case "html":
			err = trend.WriteHTML(&b, ts, "gpuperf trend: "+trendTitle(filter, metric))
		case "png":
			err = trend.WritePNG(&b, ts)
		}
		if err != nil {
			return err
		}
		if out != "" {
			if err := atomicfile.Write(filepath.Dir(out), filepath.Base(out), b.Bytes()); err != nil {
				return usageErrorf("--output: %v", err)
			}
		} else if _, err := cmd.OutOrStdout().Write(b.Bytes()); err != nil {
			return err
		}
		if gate == GateTrend && g.ExitCode != 0 {
			return &exitError{code: results.ExitRegression, err: fmt.Errorf("trend gate: regression: %s", strings.Join(g.Regressions, "; "))}
		}
		return nil
	}
	return cmd
}

func trendTitle(f history.Filter, metric string) string {
	var parts []string
	for _, p := range []string{f.Benchmark, f.Scenario, f.Host, f.Candidate, f.Pool} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	q := "retained %"
	if metric != history.MetricRetained {
		q = metric + " metric"
	}
	if len(parts) == 0 {
		return q
	}
	return q + ", " + strings.Join(parts, ", ")
}
