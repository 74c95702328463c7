package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/gpuperf/gpuperf/coordinator"
	"github.com/gpuperf/gpuperf/results"
)

// addComparisonFlags adds the flags that decide how two sides are compared
// and gated.
func addComparisonFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Float64("min-retained", 0, "the gate's threshold in percent retained (default: the plan's thresholds.min_retained_pct, else 95); implies --gate regression unless --gate is given")
	f.Float64("margin", 0, "the equivalence margin in percent (default: the plan's thresholds.equivalence_margin_pct, else 3)")
	f.String("gate", "", "none, regression (exit 4 when a scenario's interval lies wholly below --min-retained) or qualify (exit 5 unless the whole interval is at or above it), or trend (regression, then exit 4 when the run history's newest runs are a significant drop beyond the margin); default regression with --plan or --min-retained, else none")
	f.Bool("per-gpu", false, "divide throughputs by each side's GPU count")
	f.String("interval", results.IntervalAuto, "interval method: auto (paired t for interleaved runs, else Welch), t, or bootstrap (seeded; needs 10 or more repetitions per side)")
	f.Uint64("seed", results.DefaultBootstrapSeed, "the bootstrap's seed")
	f.Bool("strict", false, "refuse to compare (exit 2) when the fairness preflight finds a material difference between the sides (another GPU, driver branch, backend, settings or seeds, power limit, ECC, MIG, an unlicensed vGPU)")
}

// comparisonOptions builds the comparison's options from flags (and
// GPUPERF_* variables), then the plan's thresholds, then the defaults.
func comparisonOptions(cmd *cobra.Command, v *viper.Viper, plan *coordinator.Plan) (results.Options, error) {
	o := results.Options{
		Version: gpuperfVersion(), PerGPU: v.GetBool("per-gpu"),
		IntervalMethod: v.GetString("interval"), Seed: v.GetUint64("seed"), Gate: v.GetString("gate"),
	}
	if o.Seed == 0 {
		return o, usageErrorf("--seed: must not be 0")
	}
	set := func(key string) bool { return v.IsSet(key) && v.GetString(key) != "" }
	switch {
	case set("min-retained"):
		o.MinRetainedPct, o.MinRetainedFrom = v.GetFloat64("min-retained"), "flag"
		if !(o.MinRetainedPct > 0) {
			return o, usageErrorf("--min-retained: must be a positive percentage, got %s", v.GetString("min-retained"))
		}
	case plan != nil && plan.Thresholds.MinRetainedPct > 0:
		o.MinRetainedPct, o.MinRetainedFrom = plan.Thresholds.MinRetainedPct, "plan"
	}
	switch {
	case set("margin"):
		o.MarginPct = v.GetFloat64("margin")
		if !(o.MarginPct > 0 && o.MarginPct < 100) {
			return o, usageErrorf("--margin: must be between 0 and 100 percent, got %s", v.GetString("margin"))
		}
	case plan != nil && plan.Thresholds.EquivalenceMarginPct > 0:
		o.MarginPct = plan.Thresholds.EquivalenceMarginPct
	}
	if o.Gate == "" {
		o.Gate = results.GateNone
		if set("min-retained") || cmd.Flags().Changed("plan") || (set("plan") && plan != nil) {
			o.Gate = results.GateRegression
		}
	}
	switch o.Gate {
	case results.GateNone, results.GateRegression, results.GateQualify:
	default:
		return o, usageErrorf("--gate: must be none, regression or qualify, got %q", o.Gate)
	}
	switch o.IntervalMethod {
	case results.IntervalAuto, results.IntervalT, results.IntervalBootstrap:
	default:
		return o, usageErrorf("--interval: must be auto, t or bootstrap, got %q", o.IntervalMethod)
	}
	return o, nil
}

// planOnlyFlags run a plan; they mean nothing to stored results.
var planOnlyFlags = []string{"plan", "profile", "repetitions", "order", "output", "retries", "run-id"}

// runStoredCompare compares stored results: one gpuperf tree's two sides,
// or two folders (gpuperf trees or hosts, or published MLPerf systems).
func runStoredCompare(cmd *cobra.Command, v *viper.Viper, args []string) (err error) {
	for _, name := range planOnlyFlags {
		if cmd.Flags().Changed(name) {
			return usageErrorf("--%s runs a plan; it does not apply to comparing stored results (%s)", name, strings.Join(args, " "))
		}
	}
	hist, err := startStoredHistory(cmd, v, args)
	if err != nil {
		return err
	}
	defer func() { err = hist.finish(cmd.Context(), cmd, err) }()
	baseFlag := ""
	if cmd.Flags().Changed("baseline") {
		baseFlag = v.GetString("baseline")
	}
	var paths []string
	switch {
	case len(args) == 2 && baseFlag != "":
		return usageErrorf("--baseline names the baseline; give one CANDIDATE folder with it, not two")
	case len(args) == 2:
		paths = args
	case baseFlag != "":
		paths = []string{baseFlag, args[0]}
	}
	opts, err := comparisonOptions(cmd, v, nil)
	if err != nil {
		return err
	}
	// SIGINT and SIGTERM cancel the context: reading a large tree stops.
	ctx := cmd.Context()
	// A large tree's runs stay in memory through the comparison while each
	// result.json read leaves garbage behind: collecting at half the live
	// heap rather than all of it keeps the peak a quarter lower for about
	// the same CPU (BENCHMARKS.md). GOGC in the environment wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	var c *results.Comparison
	hist.observeStored(&c)
	if len(paths) == 0 {
		c, err = compareOneTree(ctx, args[0], opts)
	} else {
		c, err = compareTwo(ctx, paths[0], paths[1], opts)
	}
	if ctx.Err() != nil {
		return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted: %w", ctx.Err())}
	}
	if err != nil {
		var ie *results.InputError
		if errors.As(err, &ie) {
			return &exitError{code: exitUsage, err: err}
		}
		return err
	}
	if err := refuseUnfair(cmd, v, c); err != nil {
		return err
	}
	if err := writeReports(cmd, v, c, ""); err != nil {
		return err
	}
	return gateError(c)
}

func compareOneTree(ctx context.Context, dir string, opts results.Options) (*results.Comparison, error) {
	if _, err := os.Stat(filepath.Join(dir, "run.json")); err != nil {
		return nil, &results.InputError{File: dir, Err: fmt.Errorf("not a gpuperf result tree (no run.json); to compare published MLPerf results name two folders: gpuperf compare BASELINE CANDIDATE")}
	}
	t, err := results.Open(dir)
	if err != nil {
		return nil, &results.InputError{File: dir, Err: err}
	}
	m, err := t.ReadManifest()
	if err != nil {
		return nil, &results.InputError{File: filepath.Join(dir, "run.json"), Err: err}
	}
	return results.CompareContext(ctx, t, m, opts)
}

func compareTwo(ctx context.Context, basePath, candPath string, opts results.Options) (*results.Comparison, error) {
	base, err := results.ReadSourceContext(ctx, basePath, results.RoleBaseline)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	cand, err := results.ReadSourceContext(ctx, candPath, results.RoleCandidate)
	if err != nil {
		return nil, fmt.Errorf("candidate: %w", err)
	}
	return results.CompareSources(base, cand, opts)
}

// gateError turns the gate's outcome into gpuperf's exit code.
func gateError(c *results.Comparison) error {
	g := c.Gate
	if g.ExitCode == exitOK {
		return nil
	}
	msg := g.Outcome
	if len(g.Reasons) > 0 {
		msg += ": " + strings.Join(g.Reasons, "; ")
	}
	return &exitError{code: g.ExitCode, err: errors.New(msg)}
}
