package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/gpuperf/gpuperf/agent"
)

func newAgentCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Serve the agent API on this host",
		Long: `agent serves gpuperf's gRPC agent API: a coordinator describes the host and
runs MLPerf scenarios on it, one at a time, against the backends this agent
offers by name (--config; without it the built-in null, sim and cpu).

It listens on loopback by default. A non-loopback address needs TLS
(--tls-cert and --tls-key, plus --tls-client-ca for mutual TLS) or an
explicit --insecure, and a way to tell who a client is: a token
(--token-file: every RPC must carry "authorization: Bearer <token>") or
client certificates (--tls-client-ca), unless --allow-anonymous says that
anyone who reaches the port may run load.

It holds every run to its own limits, whatever the coordinator asks:
--max-run-memory (the memory a run's settings need, estimated before
anything is allocated; default 50% of this host's or container's memory)
and --max-run-duration (default 24h). A run past them is refused with
INVALID_ARGUMENT naming the setting and the limit.

It runs until SIGINT or SIGTERM; runs in flight then get --shutdown-grace
to finish, are cancelled, and the agent exits a second later whatever is
still draining.

Every flag can also be set as GPUPERF_<FLAG> (dashes as underscores).
Exit codes: 0 stopped by a signal, 1 failure, 2 bad usage.`,
		Example: `  gpuperf agent
  gpuperf agent --listen 0.0.0.0:7070 --tls-cert agent.pem --tls-key agent.key --tls-client-ca ca.pem --token-file /etc/gpuperf/token
  gpuperf agent --config agent.yaml --listen 10.0.0.5:7070 --insecure --token-file /etc/gpuperf/token
  gpuperf agent --max-run-memory 8GiB --max-run-duration 2h`,
		// cobra.NoArgs's error would exit 1; arguments are a usage error.
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("agent takes no arguments, got %q", args)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.String("listen", agent.DefaultAddr, "address to listen on, HOST:PORT (port 0 picks one)")
	f.String("config", "", "agent.yaml: the backends this agent offers (default: null, sim and cpu)")
	f.String("tls-cert", "", "TLS certificate (PEM)")
	f.String("tls-key", "", "TLS private key (PEM)")
	f.String("tls-client-ca", "", "CA bundle (PEM) that client certificates must chain to: mutual TLS")
	f.Bool("insecure", false, "allow plaintext on a non-loopback address")
	f.String("token-file", "", "file holding the bearer token every RPC must carry (keep it mode 600)")
	f.Bool("allow-anonymous", false, "off loopback, serve clients with neither a token nor a client certificate: anyone who reaches the port can run load")
	f.String("max-run-memory", "", `most memory one run may need: a share of this host's memory ("50%") or a size ("8GiB") (default: the config's limits.max_run_memory, else 50%)`)
	f.String("max-run-duration", "", "longest one run may take, warm-up and peak search included (default: the config's limits.max_run_duration, else 24h)")
	f.Duration("shutdown-grace", agent.DefaultShutdownGrace, "on SIGINT or SIGTERM, how long runs in flight get to finish before they are cancelled")
	f.Int("max-msg-bytes", agent.DefaultMaxMsgBytes, "largest gRPC message sent or received, in bytes")
	f.String("metrics-listen", "", "serve Prometheus metrics (dcgm-exporter names, plain HTTP /metrics) on HOST:PORT (default: the config's metrics_listen, else none)")
	f.StringArray("label", nil, "KEY=VALUE label that Describe reports and plan selectors match (repeatable; GPUPERF_LABEL takes them comma-separated)")
	f.String("label-file", "", "file of labels, one KEY=\"VALUE\" a line: the Kubernetes downward API's labels or annotations file")
	f.String("health-listen", "", "also serve the gRPC health service alone, plaintext, on this loopback HOST:PORT, for exec probes (gpuperf health)")
	v := bindViper(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runAgent(cmd, v) }
	return cmd
}

func runAgent(cmd *cobra.Command, v *viper.Viper) error {
	cfg := agent.DefaultConfig()
	if path := v.GetString("config"); path != "" {
		var err error
		if cfg, err = agent.LoadConfig(path); err != nil {
			return backendError("--config", err)
		}
	}
	// GetInt would turn a malformed GPUPERF_MAX_MSG_BYTES into 0 silently.
	maxMsg, err := strconv.Atoi(v.GetString("max-msg-bytes"))
	if err != nil {
		return usageErrorf("--max-msg-bytes: %q is not a whole number of bytes", v.GetString("max-msg-bytes"))
	}
	insecure, err := strconv.ParseBool(v.GetString("insecure"))
	if err != nil {
		return usageErrorf("--insecure: %q is not true or false", v.GetString("insecure"))
	}
	anonymous, err := strconv.ParseBool(v.GetString("allow-anonymous"))
	if err != nil {
		return usageErrorf("--allow-anonymous: %q is not true or false", v.GetString("allow-anonymous"))
	}
	grace, err := time.ParseDuration(v.GetString("shutdown-grace"))
	if err != nil {
		return usageErrorf("--shutdown-grace: %q is not a duration (such as 5s)", v.GetString("shutdown-grace"))
	}
	if m := v.GetString("max-run-memory"); m != "" {
		cfg.Limits.MaxRunMemory = m
	}
	if d := v.GetString("max-run-duration"); d != "" {
		cfg.Limits.MaxRunDuration = d
	}
	lo := agent.ListenOptions{
		Addr:           v.GetString("listen"),
		TLSCert:        v.GetString("tls-cert"),
		TLSKey:         v.GetString("tls-key"),
		TLSClientCA:    v.GetString("tls-client-ca"),
		Insecure:       insecure,
		TokenFile:      v.GetString("token-file"),
		AllowAnonymous: anonymous,
		MaxMsgBytes:    maxMsg,
		MetricsAddr:    v.GetString("metrics-listen"),
		ShutdownGrace:  grace,
	}
	if lo.MetricsAddr == "" {
		lo.MetricsAddr = cfg.MetricsListen
	}
	if err := lo.Validate(); err != nil {
		return usageErrorf("%v", err)
	}
	labels, err := agentLabels(v)
	if err != nil {
		return usageErrorf("%v", err)
	}
	healthAddr := v.GetString("health-listen")
	if healthAddr != "" {
		if host, _, err := net.SplitHostPort(healthAddr); err != nil || !isLoopbackHost(host) {
			return usageErrorf("--health-listen %q: want a loopback HOST:PORT (the health port is plaintext)", healthAddr)
		}
	}
	srv, err := agent.NewServer(cfg, gpuperfVersion(), slogDefault(), agent.WithLabels(labels))
	if err != nil {
		return usageErrorf("%v", limitFlags(err))
	}
	defer srv.Close()
	stderr := cmd.ErrOrStderr()
	// The log level hides Info by default; this line is for people and
	// for scripts that started the agent on port 0.
	ready := func(a net.Addr) { fmt.Fprintf(stderr, "gpuperf agent listening on %s\n", a) }
	lo.MetricsReady = func(a net.Addr) { fmt.Fprintf(stderr, "gpuperf agent metrics on http://%s/metrics\n", a) }
	// Serve logs lo's warnings (a token file others can read, anonymous
	// clients, public metrics) at the warn level, which shows by default.
	if healthAddr == "" {
		err = agent.Serve(cmd.Context(), srv, lo, ready)
	} else {
		err = serveWithHealth(cmd.Context(), srv, lo, ready, healthAddr, stderr)
	}
	if errors.Is(err, agent.ErrShutdownForced) {
		// Stopped by a signal as asked; what still drains is abandoned.
		fmt.Fprintln(stderr, "gpuperf agent:", err)
		return nil
	}
	return err
}

// limitFlags names the flags behind a limits error from NewServer.
func limitFlags(err error) error {
	msg := err.Error()
	msg = strings.ReplaceAll(msg, "limits.max_run_memory", "--max-run-memory (limits.max_run_memory)")
	msg = strings.ReplaceAll(msg, "limits.max_run_duration", "--max-run-duration (limits.max_run_duration)")
	return errors.New(msg)
}
