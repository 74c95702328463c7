package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
	"github.com/gpuperf/gpuperf/inference/backend/builtin"
	"github.com/gpuperf/gpuperf/results/mlperflog"
)

func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run one MLPerf scenario locally with the load generator alone",
		Long: `bench runs one MLPerf LoadGen scenario in-process against a local backend:
an untimed warm-up, then the timed run. It writes mlperf_log_summary.txt,
mlperf_log_detail.txt and result.json into --out and prints the summary.

Every flag can also be set as GPUPERF_<FLAG> (dashes as underscores).
Exit codes: 0 VALID, 1 failure, 2 bad usage, 3 INVALID run, 130 interrupted.`,
		Example: `  gpuperf bench --backend sim --backend-opt servers=4 --backend-opt latency=2ms --scenario offline
  gpuperf bench --backend null --scenario server --target-qps 500000 --target-latency 10ms --min-duration 10s
  gpuperf bench --backend cpu --scenario server --find-peak`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.String("backend", "cpu", "backend: "+joinNames(builtin.Names()))
	f.StringArray("backend-opt", nil, "backend option KEY=VALUE (repeatable)")
	f.String("scenario", "offline", "scenario: offline, server, single-stream or multi-stream")
	f.String("model", "resnet50", "model key of mlperf.conf, which sets the defaults")
	f.String("profile", "quick", "profile: quick (seconds), standard (60 s) or mlperf (600 s, official)")
	f.String("user-conf", "", "LoadGen user.conf file (model.scenario.key = value) applied after the profile")
	f.Float64("target-qps", 0, "Server: Poisson arrival rate (default: half the warm-up's throughput)")
	f.String("target-latency", "", "Server: latency bound, e.g. 10ms (default: the model's)")
	f.Float64("expected-qps", 0, "Offline: expected throughput, which sizes the query (default: measured in warm-up)")
	f.String("expected-latency", "", "SingleStream/MultiStream: expected latency, which sizes the run (default: measured in warm-up)")
	f.String("min-duration", "", "minimum timed duration, e.g. 10s (default: the profile's)")
	f.Uint64("min-query-count", 0, "minimum query count (default: the model's)")
	f.String("max-duration", "", "maximum timed duration; 0 for none")
	f.Uint64("max-async-queries", 0, "Server: end early when more queries are outstanding; 0 for unlimited")
	f.Bool("coalesce", false, "Server: merge past-due queries into one issue call")
	f.String("spin", "auto", "Server: how the generator waits for each arrival: auto (sleep, spin only inside the host's measured timer overshoot), always (spin the last 2 ms: lowest issue delay, a whole core above ~500 QPS) or never (sleep only)")
	f.String("warmup", "", "untimed warm-up length (default: the profile's); 0 to skip")
	f.String("drain-timeout", "", "the least time the drain guard allows: the run ends INVALID when no sample completes for max(this, 10 × the expected time per query), or the wait exceeds max(this, 10 × the run's expected duration) (default 30s)")
	f.Bool("rerun", true, "repeat the timed run once, sized by the rate it observed, when it ends before the minimum duration because the backend outran its hint (recorded in result.json as rerun)")
	f.Bool("find-peak", false, "Server: search for the highest VALID target QPS, then confirm it")
	f.Float64("peak-precision", 0, "peak search stopping width in QPS (default: LoadGen's 0.1 QPS rule)")
	f.String("peak-budget", "", "peak search time bound, probes and confirmation together, e.g. 5m (default: warm-up + 20 probes + 3 × min duration)")
	f.Float64("peak-min-qps", 0, "the lowest target QPS the peak search probes (default: 1/64 of where it starts)")
	f.String("out", "", "folder for the run's files (default gpuperf-results/bench-<time>-<scenario>)")
	f.String("format", "text", "output: text or json")
	f.Bool("telemetry", true, "sample GPU (NVML) and host CPU telemetry in the timed run into result.json and telemetry.csv")
	f.String("telemetry-interval", "100ms", "telemetry sampling interval (at least 10ms)")
	addStoreFlag(cmd)
	v := bindViper(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runBench(cmd, v) }
	return cmd
}

// benchSetup is everything runBench resolved from flags before running.
type benchSetup struct {
	backend  string
	opts     map[string]string
	cfg      inference.Config
	findPeak bool
	precise  float64
	out      string
	format   string
}

func parseBenchFlags(v *viper.Viper) (*benchSetup, error) {
	bs := &benchSetup{backend: v.GetString("backend"), format: v.GetString("format")}
	if bs.format != "text" && bs.format != "json" {
		return nil, usageErrorf("--format: unknown format %q (want text or json)", bs.format)
	}
	sc, err := inference.ParseScenario(v.GetString("scenario"))
	if err != nil {
		return nil, usageErrorf("--scenario: %v", err)
	}
	prof, err := inference.ParseProfile(v.GetString("profile"))
	if err != nil {
		return nil, usageErrorf("--profile: %v", err)
	}
	model := v.GetString("model")
	s, qsl, err := inference.Settings(model, sc, prof)
	if err != nil {
		return nil, usageErrorf("--model: %v", err)
	}
	if path := v.GetString("user-conf"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usageErrorf("--user-conf: %v", err)
		}
		conf, err := inference.ParseConf(path, string(b))
		if err != nil {
			return nil, usageErrorf("--user-conf: %v", err)
		}
		conf.Apply(&s, model, false)
	}
	if !slices.Contains(builtin.Names(), bs.backend) {
		return nil, usageErrorf("--backend: unknown backend %q (want %s)", bs.backend, joinNames(builtin.Names()))
	}
	bs.opts, err = backend.ParseOptions(v.GetStringSlice("backend-opt"))
	if err != nil {
		return nil, usageErrorf("--backend-opt: %v", err)
	}

	only := func(flag string, scenarios ...inference.Scenario) error {
		if v.IsSet(flag) && !slices.Contains(scenarios, sc) {
			return usageErrorf("--%s does not apply to the %s scenario", flag, sc.Flag())
		}
		return nil
	}
	for flag, scs := range map[string][]inference.Scenario{
		"target-qps": {inference.Server}, "target-latency": {inference.Server}, "max-async-queries": {inference.Server},
		"coalesce": {inference.Server}, "find-peak": {inference.Server}, "peak-precision": {inference.Server},
		"peak-budget": {inference.Server}, "peak-min-qps": {inference.Server},
		"expected-qps":     {inference.Offline},
		"expected-latency": {inference.SingleStream, inference.MultiStream},
	} {
		if err := only(flag, scs...); err != nil {
			return nil, err
		}
	}
	bs.findPeak = v.GetBool("find-peak")
	if v.IsSet("peak-precision") && !bs.findPeak {
		return nil, usageErrorf("--peak-precision needs --find-peak")
	}
	for _, flag := range []string{"peak-budget", "peak-min-qps"} {
		if v.IsSet(flag) && !bs.findPeak {
			return nil, usageErrorf("--%s needs --find-peak", flag)
		}
	}
	bs.precise = v.GetFloat64("peak-precision")
	if bs.precise < 0 || math.IsNaN(bs.precise) {
		return nil, usageErrorf("--peak-precision: must be positive, got %v", bs.precise)
	}

	hinted := false
	if v.IsSet("target-qps") {
		q := v.GetFloat64("target-qps")
		if !(q > 0) || math.IsInf(q, 0) {
			return nil, usageErrorf("--target-qps: must be a positive number, got %v", v.GetString("target-qps"))
		}
		s.ServerTargetQPS, hinted = q, true
	}
	if v.IsSet("expected-qps") {
		q := v.GetFloat64("expected-qps")
		if !(q > 0) || math.IsInf(q, 0) {
			return nil, usageErrorf("--expected-qps: must be a positive number, got %v", v.GetString("expected-qps"))
		}
		s.OfflineExpectedQPS, hinted = q, true
	}
	if d, ok, err := durationFlag(v, "expected-latency", false); err != nil {
		return nil, err
	} else if ok {
		s.SingleStreamExpectedLatencyNs, s.MultiStreamExpectedLatencyNs, hinted = float64(d), float64(d), true
	}
	if d, ok, err := durationFlag(v, "target-latency", false); err != nil {
		return nil, err
	} else if ok {
		s.ServerTargetLatencyNs = uint64(d)
	}
	if d, ok, err := durationFlag(v, "min-duration", false); err != nil {
		return nil, err
	} else if ok {
		s.MinDurationMs = uint64(d / time.Millisecond)
		if s.MinDurationMs == 0 {
			return nil, usageErrorf("--min-duration: must be at least 1ms, got %s", d)
		}
	}
	if d, ok, err := durationFlag(v, "max-duration", true); err != nil {
		return nil, err
	} else if ok {
		s.MaxDurationMs = uint64(d / time.Millisecond)
	}
	if d, ok, err := durationFlag(v, "warmup", true); err != nil {
		return nil, err
	} else if ok {
		s.WarmupMs = uint64(d / time.Millisecond)
	}
	if d, ok, err := durationFlag(v, "drain-timeout", false); err != nil {
		return nil, err
	} else if ok {
		s.DrainTimeoutMs = uint64(max(d/time.Millisecond, 1))
	}
	if d, ok, err := durationFlag(v, "peak-budget", false); err != nil {
		return nil, err
	} else if ok {
		s.PeakBudgetMs = uint64(max(d/time.Millisecond, 1))
	}
	if v.IsSet("peak-min-qps") {
		q := v.GetFloat64("peak-min-qps")
		if !(q > 0) || math.IsInf(q, 0) {
			return nil, usageErrorf("--peak-min-qps: must be a positive number, got %v", v.GetString("peak-min-qps"))
		}
		s.PeakMinQPS = q
	}
	if v.IsSet("min-query-count") {
		s.MinQueryCount = v.GetUint64("min-query-count")
		if sc != inference.Offline && s.MinQueryCount == 0 {
			return nil, usageErrorf("--min-query-count: must be at least 1")
		}
	}
	if v.IsSet("max-async-queries") {
		s.ServerMaxAsyncQueries = v.GetUint64("max-async-queries")
	}
	s.ServerCoalesceQueries = v.GetBool("coalesce")
	if s.GeneratorSpin, err = inference.ParseSpinPolicy(v.GetString("spin")); err != nil {
		return nil, usageErrorf("--spin: %v", err)
	}
	if sc == inference.Server && !hinted && s.WarmupMs == 0 {
		return nil, usageErrorf("--target-qps is required when --warmup is 0 (the warm-up measures a default)")
	}
	if err := s.Validate(); err != nil {
		return nil, usageErrorf("settings: %v", err)
	}

	bs.out = v.GetString("out")
	if bs.out == "" {
		bs.out = filepath.Join("gpuperf-results", fmt.Sprintf("bench-%s-%s", time.Now().Format("20060102-150405"), sc.Flag()))
	}
	bs.cfg = inference.Config{
		Settings: s, QSL: qsl, Model: model, Profile: prof, Version: gpuperfVersion(),
		BackendOpts: bs.opts, AutoHint: !hinted, Rerun: v.GetBool("rerun"),
	}
	return bs, nil
}

func runBench(cmd *cobra.Command, v *viper.Viper) (err error) {
	bs, err := parseBenchFlags(v)
	if err != nil {
		return err
	}
	hist, err := startHistory(cmd, v)
	if err != nil {
		return err
	}
	defer func() { err = hist.finish(cmd.Context(), cmd, err) }()
	b, err := builtin.New(bs.backend, bs.opts)
	if err != nil {
		return backendError("--backend-opt", err)
	}
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	prog := newProgress(stderr, bs.cfg.Settings.Scenario.String())
	bs.cfg.Progress = prog.update
	bs.cfg.Logger = slogDefault()
	// Log lines print above the progress line, not through it.
	restoreLogs := logSinkFrom(ctx).redirect(prog)
	iv, err := time.ParseDuration(v.GetString("telemetry-interval"))
	if err != nil || iv < 10*time.Millisecond {
		return usageErrorf("--telemetry-interval: %q is not a duration of at least 10ms", v.GetString("telemetry-interval"))
	}
	tel := startBenchTelemetry(&bs.cfg, v.GetBool("telemetry"), iv)

	setBenchMemoryLimit(&bs.cfg)
	var res *inference.Result
	hist.observeBench(bs, &res)
	if bs.findPeak {
		res, err = inference.FindPeak(ctx, b, bs.cfg, bs.precise)
	} else {
		res, err = inference.Run(ctx, b, bs.cfg)
	}
	prog.done()
	restoreLogs()
	telCSV := tel.finish(res)
	if res != nil {
		if werr := mlperflog.WriteRunDir(bs.out, res); werr != nil {
			return errors.Join(err, fmt.Errorf("write results: %w", werr))
		}
		if werr := tel.writeCSV(bs.out, telCSV); werr != nil {
			return errors.Join(err, fmt.Errorf("write results: %w", werr))
		}
		if perr := printResult(cmd.OutOrStdout(), stderr, bs, res); perr != nil {
			return perr
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted; what finished is in %s", bs.out)}
		}
		if errors.Is(err, inference.ErrRunTooLarge) {
			return usageErrorf("%v", err)
		}
		return err
	}
	if !res.Validity.Valid {
		return &exitError{code: exitInvalidRun, err: fmt.Errorf("the run is INVALID: %s", res.InvalidExplanation())}
	}
	return nil
}

// printResult prints the run: on w (standard output) the MLPerf summary
// or the JSON result, the data a redirect keeps; on notes (standard error)
// gpuperf's own lines about the run.
func printResult(w, notes io.Writer, bs *benchSetup, res *inference.Result) error {
	if bs.format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	if err := mlperflog.WriteSummary(w, res); err != nil {
		return err
	}
	h := res.Health
	if r := res.Rerun; r != nil {
		fmt.Fprintf(notes, "gpuperf: re-ran the timed run once: %s; %s %.6g -> %.6g\n", r.Reason, r.Setting, r.From, r.To)
	}
	if pk := res.Peak; pk != nil {
		state := "confirmed"
		if !pk.Confirmed {
			state = "NOT confirmed"
		}
		fmt.Fprintf(notes, "gpuperf: peak search: %.6g QPS %s, %d probes of %s in %s (budget %s)",
			pk.PeakQPS, state, len(pk.Probes), time.Duration(pk.ProbeDurationMs)*time.Millisecond,
			time.Duration(pk.ElapsedNs).Round(time.Second), time.Duration(pk.BudgetMs)*time.Millisecond)
		if pk.Note != "" {
			fmt.Fprintf(notes, "; %s", pk.Note)
		}
		fmt.Fprintln(notes)
	}
	_, err := fmt.Fprintf(notes, "gpuperf: %s %s on %s: %s = %s %s\n"+
		"gpuperf: warm-up %s (%d samples), hints from %s\n"+
		"gpuperf: generator issue delay p50 %s p99 %s max %s; issue call p50 %s p99 %s; generator CPU %.0f%%; host steal %s\n"+
		"%s%sgpuperf: files in %s\n",
		res.Model, res.Effective.Scenario, res.Backend, res.Metric.Name, formatMetric(res.Metric), res.Metric.Unit,
		time.Duration(res.Warmup.DurationNs).Round(time.Millisecond), res.Warmup.Samples, res.HintsFrom,
		time.Duration(h.IssueDelay.P50Ns), time.Duration(h.IssueDelay.P99Ns), time.Duration(h.IssueDelay.MaxNs),
		time.Duration(h.IssueCall.P50Ns), time.Duration(h.IssueCall.P99Ns), h.GeneratorCPUPct, stealText(h),
		telemetryLine(res), serverLine(res)+waitLine(res), bs.out)
	return err
}

// waitLine says how the Server generator waited: its policy, margin, the
// host's sleep overshoot and its issuing thread's CPU, beside the issue
// delay above.
func waitLine(res *inference.Result) string {
	w := res.Health.Wait
	if w == nil {
		return ""
	}
	cpu := "not measured"
	if w.ThreadCPUPct >= 0 {
		cpu = fmt.Sprintf("%.1f%% of a core", w.ThreadCPUPct)
	}
	line := fmt.Sprintf("gpuperf: generator wait: spin %s, margin %s (calibrated %s, max %s); issuing thread CPU %s",
		w.Spin, time.Duration(w.MarginNs), time.Duration(w.CalibratedMarginNs), time.Duration(w.MarginMaxNs), cpu)
	if w.SpinBelowNs > 0 {
		line += fmt.Sprintf(", spins waits under %s", time.Duration(w.SpinBelowNs))
	}
	if w.Sleeps > 0 {
		o := w.SleepOvershoot
		line += fmt.Sprintf("; %d sleeps, overshoot p50 %s p99 %s", w.Sleeps, time.Duration(o.P50Ns), time.Duration(o.P99Ns))
	}
	return line + "\n"
}

func formatMetric(m inference.Metric) string {
	if m.Unit == "ns" {
		return strconv.FormatInt(int64(m.Value), 10)
	}
	return strconv.FormatFloat(m.Value, 'f', 2, 64)
}

func stealText(h inference.Health) string {
	if h.HostStealPct < 0 {
		return h.HostStealNote
	}
	return fmt.Sprintf("%.2f%%", h.HostStealPct)
}

// durationFlag parses a duration flag, naming it in errors. zeroOK allows 0.
func durationFlag(v *viper.Viper, name string, zeroOK bool) (time.Duration, bool, error) {
	if !v.IsSet(name) || v.GetString(name) == "" {
		return 0, false, nil
	}
	raw := v.GetString(name)
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, false, usageErrorf("--%s: %q is not a duration (e.g. 10ms, 2s)", name, raw)
	}
	if d < 0 || (d == 0 && !zeroOK) {
		return 0, false, usageErrorf("--%s: must be positive, got %s", name, raw)
	}
	return d, true, nil
}
