package main

import (
	"fmt"
	"net"
	"strconv"

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
explicit --insecure. With --token-file every RPC must carry
"authorization: Bearer <token>". It runs until SIGINT or SIGTERM.

Every flag can also be set as GPUPERF_<FLAG> (dashes as underscores).
Exit codes: 0 stopped by a signal, 1 failure, 2 bad usage.`,
		Example: `  gpuperf agent
  gpuperf agent --listen 0.0.0.0:7070 --tls-cert agent.pem --tls-key agent.key --tls-client-ca ca.pem --token-file /etc/gpuperf/token
  gpuperf agent --config agent.yaml --listen 10.0.0.5:7070 --insecure`,
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
	f.String("token-file", "", "file holding the bearer token every RPC must carry")
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
	lo := agent.ListenOptions{
		Addr:        v.GetString("listen"),
		TLSCert:     v.GetString("tls-cert"),
		TLSKey:      v.GetString("tls-key"),
		TLSClientCA: v.GetString("tls-client-ca"),
		Insecure:    insecure,
		TokenFile:   v.GetString("token-file"),
		MaxMsgBytes: maxMsg,
		MetricsAddr: v.GetString("metrics-listen"),
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
		return usageErrorf("--config: %v", err)
	}
	defer srv.Close()
	stderr := cmd.ErrOrStderr()
	// The log level hides Info by default; this line is for people and
	// for scripts that started the agent on port 0.
	ready := func(a net.Addr) { fmt.Fprintf(stderr, "gpuperf agent listening on %s\n", a) }
	lo.MetricsReady = func(a net.Addr) { fmt.Fprintf(stderr, "gpuperf agent metrics on http://%s/metrics\n", a) }
	if healthAddr == "" {
		return agent.Serve(cmd.Context(), srv, lo, ready)
	}
	return serveWithHealth(cmd.Context(), srv, lo, ready, healthAddr, stderr)
}
