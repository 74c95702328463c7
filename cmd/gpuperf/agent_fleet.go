package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/gpuperf/gpuperf/agent"
)

// agentLabels gathers --label-file's labels, then --label's (which may not
// contradict the file).
func agentLabels(v *viper.Viper) (map[string]string, error) {
	labels := map[string]string{}
	if path := v.GetString("label-file"); path != "" {
		if err := agent.ReadLabelFile(labels, path); err != nil {
			return nil, err
		}
	}
	var pairs []string
	for _, s := range v.GetStringSlice("label") {
		// From GPUPERF_LABEL the pairs arrive as one text.
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				pairs = append(pairs, p)
			}
		}
	}
	if err := agent.ParseLabels(labels, pairs, "--label"); err != nil {
		return nil, err
	}
	return labels, nil
}

// serveWithHealth runs the agent and its loopback health listener
// together; either failing stops both.
func serveWithHealth(ctx context.Context, srv *agent.Server, lo agent.ListenOptions, ready func(net.Addr), healthAddr string, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var healthErr error
	wg.Go(func() {
		healthErr = srv.ServeHealth(ctx, healthAddr, func(a net.Addr) { fmt.Fprintf(stderr, "gpuperf agent health on %s (plaintext, loopback)\n", a) })
		cancel()
	})
	err := agent.Serve(ctx, srv, lo, ready)
	cancel()
	wg.Wait()
	if healthErr != nil {
		// The agent stopped because the health listener failed.
		return healthErr
	}
	return err
}

func newHealthCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "health ADDR",
		Short: "Check an agent's loopback health port (for probes)",
		Long: `health asks the gRPC health service that "gpuperf agent --health-listen"
serves on loopback whether the agent takes runs, and exits 0 when it does.
It is the agent's readiness and liveness probe in the Helm chart: kubelet's
own gRPC probe cannot present the client certificate the agent's port
requires, so the probe runs inside the agent's container instead.

Exit codes: 0 serving; 1 not serving or unreachable; 2 bad usage.`,
		Example: `  gpuperf health 127.0.0.1:7071`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("health takes one address (HOST:PORT), got %d arguments", len(args))
			}
			return nil
		},
	}
	cmd.Flags().String("service", agent.HealthService, `the service to ask about ("" is the server as a whole)`)
	cmd.Flags().Duration("timeout", 3*time.Second, "how long to wait for the answer")
	v := bindViper(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if _, _, err := net.SplitHostPort(args[0]); err != nil {
			return usageErrorf("health: %q: %v", args[0], err)
		}
		timeout := v.GetDuration("timeout")
		if timeout <= 0 {
			return usageErrorf("--timeout: must be positive, got %s", v.GetString("timeout"))
		}
		if err := agent.CheckHealth(cmd.Context(), args[0], v.GetString("service"), timeout); err != nil {
			return err
		}
		_, err := fmt.Fprintln(cmd.OutOrStdout(), "SERVING")
		return err
	}
	return cmd
}
