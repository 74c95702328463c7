package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gpuperf/gpuperf/agent"
	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/gpu/host"
	"github.com/gpuperf/gpuperf/internal/rpcerr"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

func newDescribeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe",
		Short: "Print the host fingerprint: OS, CPU, memory, GPUs, virtualization",
		Long: `describe prints what gpuperf records about a host before comparing it with
another: OS, kernel, CPU model and count, memory, NUMA, the CPU governor, each
GPU (name, UUID, serial, PCI bus id, driver and CUDA version, VBIOS, power
limit, ECC and MIG mode, clocks, PCIe link, what NVML can report on it), and
virtualization: every signal read (NVML's mode, vGPU license, DMI, CPUID,
/sys/hypervisor, container markers) and the verdict drawn from them.

Without --agent it describes this host; with --agent it asks a running agent
(the fingerprint its runs are recorded with). A host without a GPU or NVML
is described all the same, with the reason.

--probe also measures a GPU through the CUDA driver (the cuda backend's
kernels, no toolkit needed): empty-kernel launch latency (p50/p99),
host-device copy bandwidth from pinned and pageable memory, the fp16
(tensor core) and fp32 GEMM kernels' TFLOP/s against the device's peak (SMs
× NVML's maximum SM clock × the architecture's rate), and the CUDA version.
The numbers are recorded in the fingerprint under serving.cuda.

Every flag can also be set as GPUPERF_<FLAG> (dashes as underscores).
Exit codes: 0 ok, 1 failure, 2 bad usage.`,
		Example: `  gpuperf describe
  gpuperf describe --json
  gpuperf describe --probe
  gpuperf describe --agent gpu-host:7070 --tls-ca ca.pem --token-file token`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("describe takes no arguments, got %q", args)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Bool("json", false, "print the fingerprint as JSON")
	f.String("agent", "", "describe the agent at HOST:PORT instead of this host")
	f.String("tls-ca", "", "--agent: CA bundle (PEM) the agent's certificate must chain to (turns TLS on)")
	f.String("tls-cert", "", "--agent: client certificate (PEM) for mutual TLS")
	f.String("tls-key", "", "--agent: client key (PEM) for mutual TLS")
	f.String("tls-server-name", "", "--agent: name to verify the agent's certificate against")
	f.String("token-file", "", "--agent: file holding the agent's bearer token")
	f.Bool("insecure", false, "--agent: allow plaintext to a non-loopback agent")
	f.String("timeout", "10s", "--agent: how long to wait for the agent")
	f.Bool("probe", false, "also measure the GPU through the CUDA driver: launch latency, copy bandwidth, GEMM TFLOP/s against peak (a few seconds)")
	f.Int("probe-device", 0, "--probe: the CUDA device ordinal")
	v := bindViper(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runDescribe(cmd, v) }
	return cmd
}

func runDescribe(cmd *cobra.Command, v *viper.Viper) error {
	asJSON := v.GetBool("json")
	addr := v.GetString("agent")
	for _, fl := range []string{"tls-ca", "tls-cert", "tls-key", "tls-server-name", "token-file", "insecure"} {
		if addr == "" && v.IsSet(fl) && v.GetString(fl) != "" && v.GetString(fl) != "false" {
			return usageErrorf("--%s needs --agent", fl)
		}
	}
	var fp gpu.Fingerprint
	var desc *gpuperfv1.DescribeResponse
	if addr == "" {
		n := gpu.Open(gpu.Options{Logger: slogDefault()})
		defer n.Close()
		fp = gpu.Collect(n, host.Options{}, gpuperfVersion())
		if v.GetBool("probe") {
			probeInto(cmd.Context(), &fp, v.GetInt("probe-device"))
		}
	} else {
		if v.GetBool("probe") {
			return usageErrorf("--probe describes this host; an agent probes its cuda backends itself (see Serving in its description)")
		}
		var err error
		if desc, err = describeAgent(cmd.Context(), v, addr); err != nil {
			return err
		}
		if err := json.Unmarshal(desc.FingerprintJson, &fp); err != nil {
			return fmt.Errorf("agent %s: fingerprint_json: %w", addr, err)
		}
	}
	out := cmd.OutOrStdout()
	if asJSON {
		if desc != nil {
			// The agent's own bytes: fields this gpuperf does not know stay.
			var raw json.RawMessage = desc.FingerprintJson
			b, err := json.MarshalIndent(raw, "", "  ")
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(out, "%s\n", b)
			return err
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(fp)
	}
	if err := printFingerprint(out, fp, desc); err != nil {
		return err
	}
	if v.GetBool("probe") {
		return printProbe(out, fp.Serving["cuda"])
	}
	return nil
}

// describeAgent asks the agent at addr for its description.
func describeAgent(ctx context.Context, v *viper.Viper, addr string) (*gpuperfv1.DescribeResponse, error) {
	timeout, err := time.ParseDuration(v.GetString("timeout"))
	if err != nil || timeout <= 0 {
		return nil, usageErrorf("--timeout: %q is not a positive duration", v.GetString("timeout"))
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, usageErrorf("--agent: %v", err)
	}
	opts := []grpc.DialOption{}
	secure := v.GetString("tls-ca") != "" || v.GetString("tls-cert") != "" || v.GetString("tls-server-name") != ""
	if secure {
		tc, err := describeTLS(v)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	} else {
		if !isLoopbackHost(host) && !v.GetBool("insecure") {
			return nil, usageErrorf("--agent %s is not a loopback address: plaintext there needs --insecure (or TLS with --tls-ca)", addr)
		}
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if path := v.GetString("token-file"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usageErrorf("--token-file: %v", err)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(agent.BearerToken(strings.TrimSpace(string(b)))))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d, err := gpuperfv1.NewAgentClient(conn).Describe(ctx, &gpuperfv1.DescribeRequest{})
	if err != nil {
		return nil, fmt.Errorf("agent %s: describe: %w", addr, rpcerr.Explain(addr, secure, err))
	}
	return d, nil
}

func describeTLS(v *viper.Viper) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: v.GetString("tls-server-name")}
	if ca := v.GetString("tls-ca"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, usageErrorf("--tls-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("--tls-ca: %s holds no PEM certificate", ca)
		}
		tc.RootCAs = pool
	}
	cert, key := v.GetString("tls-cert"), v.GetString("tls-key")
	if (cert == "") != (key == "") {
		return nil, usageErrorf("--tls-cert and --tls-key go together")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, usageErrorf("--tls-cert/--tls-key: %v", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// printFingerprint renders the fingerprint as a readable table.
func printFingerprint(out io.Writer, fp gpu.Fingerprint, desc *gpuperfv1.DescribeResponse) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(w, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	h := fp.Host
	row("Host", "%s (gpuperf %s)", fp.Hostname, fp.Version)
	row("OS", "%s/%s, kernel %s%s", fp.OS, fp.Arch, orDash(fp.Kernel), prefixed(", ", h.Distro))
	cpu := fmt.Sprintf("%s, %d online", orDash(h.CPUModel), h.CPUsOnline)
	if h.CPUsAllowed != "" {
		cpu += fmt.Sprintf(", this process may use %s (%d)", h.CPUsAllowed, h.CPUsAllowedCount)
	}
	row("CPU", "%s", cpu)
	row("CPU governor", "%s", orReason(h.Governor, h.Unavailable["cpu_governor"]))
	row("Memory", "%d MiB, %s NUMA node(s)", h.MemoryMiB, orReason(itoaNZ(h.NUMANodes), h.Unavailable["numa_nodes"]))
	vv := fp.Virtualization.Verdict
	row("Environment", "%s", vv.Summary)
	row("  kind", "%s", vv.Kind)
	for _, e := range vv.Evidence {
		row("  evidence", "%s", e)
	}
	for _, c := range vv.Conflicts {
		row("  conflict", "%s", c)
	}
	if fp.NVML.Available {
		row("NVML", "driver %s, CUDA %s, NVML %s, %d GPU(s)", fp.NVML.DriverVersion, orDash(fp.NVML.CUDADriverVersion), fp.NVML.NVMLVersion, fp.NVML.DeviceCount)
	} else {
		row("NVML", "unavailable: %s", fp.NVML.Unavailable)
	}
	if desc != nil {
		var names []string
		for _, b := range desc.Backends {
			names = append(names, b.Name+" ("+b.Kind+")")
		}
		row("Agent backends", "%s", strings.Join(names, ", "))
		if len(desc.Labels) > 0 {
			var kv []string
			for _, k := range slices.Sorted(maps.Keys(desc.Labels)) {
				kv = append(kv, k+"="+desc.Labels[k])
			}
			row("Agent labels", "%s", strings.Join(kv, ", "))
		}
		if desc.BusyRunId != "" {
			row("Agent busy", "run %s", desc.BusyRunId)
		}
	}
	for _, name := range sortedKeys(fp.Serving) {
		facts := fp.Serving[name]
		var kv []string
		for _, k := range sortedKeys(facts) {
			kv = append(kv, k+"="+facts[k])
		}
		row("Serving "+name, "%s", strings.Join(kv, " "))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(fp.GPUs) == 0 {
		return nil
	}
	fmt.Fprintln(out)
	w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "GPU\tNAME\tUUID\tSERIAL\tBUS ID\tVIRT\tMIG\tECC\tPOWER LIMIT\tMAX SM/MEM MHz\tPCIe NOW/MAX\tNUMA\tCPUs")
	for _, g := range fp.GPUs {
		numa := "-"
		if g.NUMANode != nil {
			numa = fmt.Sprint(*g.NUMANode)
		}
		virt := orDash(g.Virtualization)
		if l := g.VGPULicense; l != nil {
			virt += " (" + l.State + ")"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\tgen%d x%d / gen%d x%d\t%s\t%s\n",
			g.Index, g.Name, g.UUID, orDash(g.Serial), orDash(g.PCIBusID), virt, orDash(g.MIGMode), orDash(g.ECCMode),
			watts(g.PowerLimitW), g.MaxSMClockMHz, g.MaxMemClockMHz, g.PCIeCurrentGen, g.PCIeCurrentWidth, g.PCIeMaxGen, g.PCIeMaxWidth,
			numa, orDash(g.CPUAffinity))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// What each GPU cannot report, and why: a blank in a comparison must
	// never be read as a zero.
	for _, g := range fp.GPUs {
		var missing []string
		for _, k := range sortedKeys(g.Capabilities) {
			if c := g.Capabilities[k]; !c.OK() {
				missing = append(missing, k+": "+c.Reason())
			}
		}
		if len(missing) > 0 {
			fmt.Fprintf(out, "GPU %d cannot report %s\n", g.Index, strings.Join(missing, "; "))
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orReason(s, reason string) string {
	if s != "" {
		return s
	}
	if reason != "" {
		return "unavailable (" + reason + ")"
	}
	return "-"
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func itoaNZ(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

func watts(w float64) string {
	if w == 0 {
		return "-"
	}
	return fmt.Sprintf("%g W", w)
}
