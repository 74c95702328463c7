package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/gpuperf/gpuperf/agent"
	"github.com/gpuperf/gpuperf/configs"
	"github.com/gpuperf/gpuperf/coordinator"
	"github.com/gpuperf/gpuperf/results"
)

func newCompareCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "compare [BASELINE] [CANDIDATE]",
		Short: "Report retained performance: run a plan, or compare stored results",
		Long: `compare reports the candidate's retained performance per benchmark and
scenario: candidate / baseline in percent, with a confidence interval, the
repetitions the equivalence margin needs, and an equivalence verdict.

  gpuperf compare                   run the embedded default: two agents started
                                    in-process on loopback with the built-in cpu
                                    backend, compared with each other (an A/A
                                    calibration that shows the noise floor)
  gpuperf compare --plan FILE       run a plan on its agents, then compare
  gpuperf compare --baseline DIR    run the plan's candidate against a stored
                                    baseline tree (compared unpaired)
  gpuperf compare TREE              compare a stored gpuperf tree again
  gpuperf compare A B               compare two stored results: gpuperf trees
                                    (TREE, or TREE/HOST for one host) or published
                                    MLPerf systems (<results>/<system>, or one
                                    <benchmark> or <Scenario> folder of it);
                                    A is the baseline, B the candidate

Reports: a plan writes report.json (the comparison, docs/comparison-schema.md),
report.md and report.html into its result tree; --format prints json, md,
html or junit instead of the table; --report-dir writes the three reports into
a folder; gpuperf report DIR renders a stored comparison again.

Gates: --gate regression (the default with --plan or --min-retained) exits 4
when a scenario's 95% interval lies wholly below --min-retained (or the
plan's thresholds.min_retained_pct); --gate qualify needs the whole interval
at or above it and exits 5 when the data cannot decide.

Exit codes: 0 ok; 1 a run failed; 2 bad usage, plan or input; 3 a baseline
is INVALID or has LoadGen errors (the scenario is void), or a run is INVALID;
4 a regression; 5 inconclusive under --gate qualify; 130 interrupted. When
several apply, the first of 2, 1, 3, 4, 5 wins.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 2 {
				return usageErrorf("compare takes at most two folders (BASELINE CANDIDATE), got %d", len(args))
			}
			return nil
		},
	}
	addPlanFlags(cmd)
	addComparisonFlags(cmd)
	addReportFlags(cmd)
	cmd.Flags().String("baseline", "", "a stored result tree to compare against: with a plan, stands in for its baseline agents; with one CANDIDATE folder, is the baseline; last-good or tag:NAME take it from the run history")
	addStoreFlag(cmd)
	v := bindViper(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return runStoredCompare(cmd, v, args)
		}
		return runPlan(cmd, v, true)
	}
	return cmd
}

func newRunCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a plan on its agents and store the results, without comparing",
		Args:  cobra.NoArgs,
	}
	addPlanFlags(cmd)
	addStoreFlag(cmd)
	v := bindViper(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if v.GetString("plan") == "" {
			return usageErrorf("--plan is required")
		}
		return runPlan(cmd, v, false)
	}
	return cmd
}

func addPlanFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("plan", "", "plan file (YAML); default: the embedded A/A plan")
	f.String("profile", "", "override the plan's profile: quick, standard or mlperf")
	f.String("repetitions", "", "override the plan's repetitions: a number, or auto (ABBA pairs until the verdict is decided or max_repetitions)")
	f.String("order", "", "override the plan's order: interleaved, sequential or parallel")
	f.String("output", "", "override the plan's output folder")
	f.Int("retries", 0, "override the plan's retries per failed run")
	f.String("run-id", "", "name of the result folder (default: the start time)")
}

func runPlan(cmd *cobra.Command, v *viper.Viper, compare bool) (err error) {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	var (
		plan     *coordinator.Plan
		planYAML []byte
	)
	var wg sync.WaitGroup
	agentCtx, stopAgents := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		stopAgents()
		wg.Wait()
	}()
	if path := v.GetString("plan"); path != "" {
		if planYAML, err = os.ReadFile(path); err != nil {
			return usageErrorf("--plan: %v", err)
		}
		if plan, err = coordinator.LoadPlan(path, v); err != nil {
			return usageErrorf("%v", err)
		}
	} else {
		planYAML = configs.DefaultPlan()
		if plan, err = coordinator.ParsePlan("default plan", planYAML); err != nil {
			return fmt.Errorf("embedded plan: %w", err)
		}
		applyPlanOverrides(plan, v)
	}
	hist, err := startPlanHistory(cmd, v, plan)
	if err != nil {
		return err
	}
	defer func() { err = hist.finish(ctx, cmd, err) }()
	if err := plan.Validate(); err != nil {
		return usageErrorf("%v", err)
	}
	discovered, err := resolveDiscovery(ctx, stderr, plan)
	if err != nil {
		return err
	}
	// Any plan may use address "embedded", as the default does: a copy of
	// it must run as it is.
	if err := startEmbeddedAgents(agentCtx, &wg, plan); err != nil {
		return err
	}
	for _, w := range plan.Warnings() {
		fmt.Fprintln(stderr, "gpuperf: warning:", w)
	}
	var opts results.Options
	if compare {
		// Settle the comparison's flags before any run starts.
		if opts, err = comparisonOptions(cmd, v, plan); err != nil {
			return err
		}
	}
	runID := v.GetString("run-id")
	if runID == "" {
		runID = time.Now().Format("20060102-150405")
	}
	reps := plan.Repetitions
	if plan.RepetitionsAuto {
		// At most the cap; the display's total is an upper bound.
		reps = plan.MaxRepetitions
	}
	runs := len(plan.ScenarioList()) * reps * len(plan.Agents) * len(plan.Phases())
	var hosts []string
	for _, a := range plan.Agents {
		hosts = append(hosts, a.Name)
	}
	disp := newPlanDisplay(stderr, runs, reps, hosts)
	// Log lines print above the display, not through it.
	restoreLogs := logSinkFrom(ctx).redirect(disp)
	r := &coordinator.Runner{Plan: plan, PlanYAML: planYAML, Version: gpuperfVersion(), RunID: runID, Logger: slogDefault(), Display: disp}
	tree, m, execErr := r.Execute(ctx)
	disp.Wait()
	restoreLogs()
	if err := writeDiscovery(tree, discovered); err != nil {
		fmt.Fprintln(stderr, "gpuperf: warning: discovery.json:", err)
	}
	if tree == nil {
		if ctx.Err() != nil {
			return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted before any run: %w", execErr)}
		}
		return execErr
	}
	var failures results.Failures
	if errors.Is(execErr, coordinator.ErrRunsFailed) {
		failures.Runtime = append(failures.Runtime, fmt.Sprintf("%v; see %s", execErr, filepath.Join(tree.Root, "run.json")))
	}
	var c *results.Comparison
	hist.observePlan(&tree, &m, &c, compare)
	if compare && m != nil && len(m.Runs) > 0 {
		if c, err = results.Compare(tree, m, opts); err != nil {
			return errors.Join(execErr, err)
		}
		c.ApplyGate(failures)
		if err := refuseUnfair(cmd, v, c); err != nil {
			fmt.Fprintf(stderr, "gpuperf: results in %s\n", tree.Root)
			return err
		}
		if err := writeReports(cmd, v, c, tree.Root); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "gpuperf: results in %s\n", tree.Root)
	switch {
	case ctx.Err() != nil:
		return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted; the finished runs are in %s", tree.Root)}
	case c != nil:
		return gateError(c)
	case errors.Is(execErr, coordinator.ErrRunsFailed):
		return &exitError{code: exitFailure, err: fmt.Errorf("%w; see %s", execErr, filepath.Join(tree.Root, "run.json"))}
	case execErr != nil:
		return execErr
	}
	if invalid := invalidRuns(m); len(invalid) > 0 {
		return &exitError{code: exitInvalidRun, err: fmt.Errorf("%d of %d runs INVALID by MLPerf's rules (%s); see %s",
			len(invalid), len(m.Runs), strings.Join(invalid, "; "), filepath.Join(tree.Root, "run.json"))}
	}
	return nil
}

// invalidRuns names the runs of a plan that finished INVALID, for `gpuperf
// run`'s exit code (compare's gate decides its own).
func invalidRuns(m *results.Manifest) []string {
	if m == nil {
		return nil
	}
	var out []string
	for _, r := range m.Runs {
		if r.Status == results.StatusOK && !r.Valid {
			out = append(out, fmt.Sprintf("%s %s run %d", r.Host, r.Scenario, r.Repetition+1))
		}
	}
	if len(out) > 4 {
		out = append(out[:3], fmt.Sprintf("%d more", len(out)-3))
	}
	return out
}

// applyPlanOverrides applies flag and GPUPERF_* overrides to the embedded
// plan (a plan file gets them through LoadPlan).
func applyPlanOverrides(p *coordinator.Plan, v *viper.Viper) {
	if v.IsSet("profile") && v.GetString("profile") != "" {
		p.Profile = v.GetString("profile")
	}
	if v.IsSet("repetitions") {
		switch reps := strings.TrimSpace(v.GetString("repetitions")); {
		case strings.EqualFold(reps, "auto"):
			p.RepetitionsAuto, p.Repetitions = true, results.MinPairs
		case v.GetInt("repetitions") > 0:
			p.Repetitions = v.GetInt("repetitions")
		}
	}
	if v.IsSet("order") && v.GetString("order") != "" {
		p.Order = v.GetString("order")
	}
	if v.IsSet("output") && v.GetString("output") != "" {
		p.Output = v.GetString("output")
	}
	if v.IsSet("retries") {
		p.Retries = v.GetInt("retries")
	}
	if v.IsSet("baseline") && v.GetString("baseline") != "" {
		// A stored baseline stands in for the embedded baseline agent;
		// nothing is left to interleave with.
		p.Baseline = v.GetString("baseline")
		p.Agents = slices.DeleteFunc(p.Agents, func(a coordinator.AgentSpec) bool { return a.Role == coordinator.RoleBaseline })
		if p.Order == coordinator.OrderInterleaved {
			p.Order = coordinator.OrderSequential
		}
	}
}

// startEmbeddedAgents serves an in-process agent on an ephemeral loopback
// port for every agent whose address is "embedded", over real gRPC.
func startEmbeddedAgents(ctx context.Context, wg *sync.WaitGroup, p *coordinator.Plan) error {
	for i := range p.Agents {
		if p.Agents[i].Address != coordinator.AddressEmbedded {
			continue
		}
		addr, err := startEmbeddedAgent(ctx, wg)
		if err != nil {
			return fmt.Errorf("start embedded agent %s: %w", p.Agents[i].Name, err)
		}
		p.Agents[i].Address = addr
	}
	return startEmbeddedNeighbours(ctx, wg, p)
}

// startEmbeddedAgent serves one in-process agent on an ephemeral loopback
// port until ctx ends, and returns its address.
func startEmbeddedAgent(ctx context.Context, wg *sync.WaitGroup) (string, error) {
	srv, err := agent.NewServer(agent.DefaultConfig(), gpuperfVersion(), slogDefault())
	if err != nil {
		return "", err
	}
	ready := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	wg.Go(func() {
		errc <- agent.Serve(ctx, srv, agent.ListenOptions{Addr: "127.0.0.1:0"}, func(a net.Addr) { ready <- a })
	})
	select {
	case a := <-ready:
		return a.String(), nil
	case err := <-errc:
		return "", err
	}
}
