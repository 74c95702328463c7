package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
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
		Use:   "compare",
		Short: "Run a plan on its agents and report retained performance",
		Long: `compare runs a plan's scenarios on its baseline and candidate agents and
reports the candidate's retained performance per scenario.

With no --plan it runs the embedded default: two agents started in-process on
loopback with the built-in cpu backend, compared with each other (an A/A
calibration that shows the measurement's noise floor).

Exit codes: 0 ok; 1 a run failed; 2 bad usage or plan; 130 interrupted.`,
		Args: cobra.NoArgs,
	}
	addPlanFlags(cmd)
	v := bindViper(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runPlan(cmd, v, true) }
	return cmd
}

func newRunCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a plan on its agents and store the results, without comparing",
		Args:  cobra.NoArgs,
	}
	addPlanFlags(cmd)
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
	f.Int("repetitions", 0, "override the plan's repetitions")
	f.String("order", "", "override the plan's order: interleaved, sequential or parallel")
	f.String("output", "", "override the plan's output folder")
	f.Int("retries", 0, "override the plan's retries per failed run")
	f.String("run-id", "", "name of the result folder (default: the start time)")
}

func runPlan(cmd *cobra.Command, v *viper.Viper, compare bool) error {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	var (
		plan     *coordinator.Plan
		planYAML []byte
		err      error
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
		if err := startEmbeddedAgents(agentCtx, &wg, plan); err != nil {
			return err
		}
	}
	if err := plan.Validate(); err != nil {
		return usageErrorf("%v", err)
	}
	for _, w := range plan.Warnings() {
		fmt.Fprintln(stderr, "gpuperf: warning:", w)
	}
	runID := v.GetString("run-id")
	if runID == "" {
		runID = time.Now().Format("20060102-150405")
	}
	reps := plan.Repetitions
	runs := len(plan.ScenarioList()) * reps * len(plan.Agents)
	disp := newPlanDisplay(stderr, runs, reps)
	r := &coordinator.Runner{Plan: plan, PlanYAML: planYAML, Version: gpuperfVersion(), RunID: runID, Logger: slogDefault(), Display: disp}
	tree, m, execErr := r.Execute(ctx)
	disp.Wait()
	if tree == nil {
		if ctx.Err() != nil {
			return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted before any run: %w", execErr)}
		}
		return execErr
	}
	if compare && m != nil {
		c, err := results.Compare(tree, m, results.Options{Version: gpuperfVersion()})
		if err != nil {
			return errors.Join(execErr, err)
		}
		if err := results.WriteTable(cmd.OutOrStdout(), c); err != nil {
			return err
		}
		if js, err := json.MarshalIndent(c, "", "  "); err == nil {
			_ = tree.WriteFile("report.json", append(js, '\n'))
		}
	}
	fmt.Fprintf(stderr, "gpuperf: results in %s\n", tree.Root)
	switch {
	case ctx.Err() != nil:
		return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted; the finished runs are in %s", tree.Root)}
	case errors.Is(execErr, coordinator.ErrRunsFailed):
		return &exitError{code: exitFailure, err: fmt.Errorf("%w; see %s", execErr, filepath.Join(tree.Root, "run.json"))}
	}
	return execErr
}

// applyPlanOverrides applies flag and GPUPERF_* overrides to the embedded
// plan (a plan file gets them through LoadPlan).
func applyPlanOverrides(p *coordinator.Plan, v *viper.Viper) {
	if v.IsSet("profile") && v.GetString("profile") != "" {
		p.Profile = v.GetString("profile")
	}
	if v.IsSet("repetitions") && v.GetInt("repetitions") > 0 {
		p.Repetitions = v.GetInt("repetitions")
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
}

// startEmbeddedAgents serves an in-process agent on an ephemeral loopback
// port for every agent whose address is "embedded", over real gRPC.
func startEmbeddedAgents(ctx context.Context, wg *sync.WaitGroup, p *coordinator.Plan) error {
	for i := range p.Agents {
		if p.Agents[i].Address != "embedded" {
			continue
		}
		srv, err := agent.NewServer(agent.DefaultConfig(), gpuperfVersion(), slogDefault())
		if err != nil {
			return err
		}
		ready := make(chan net.Addr, 1)
		errc := make(chan error, 1)
		wg.Go(func() {
			errc <- agent.Serve(ctx, srv, agent.ListenOptions{Addr: "127.0.0.1:0"}, func(a net.Addr) { ready <- a })
		})
		select {
		case a := <-ready:
			p.Agents[i].Address = a.String()
		case err := <-errc:
			return fmt.Errorf("start embedded agent %s: %w", p.Agents[i].Name, err)
		}
	}
	return nil
}
