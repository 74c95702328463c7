package main

import (
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// freeLoopbackPort returns a port that was free a moment ago.
func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestAgentLabelsAndHealthProbe is the agent as the Helm chart starts it:
// labels from flags, the environment and a downward API file reach
// Describe, and `gpuperf health` probes the loopback health port.
func TestAgentLabelsAndHealthProbe(t *testing.T) {
	labelFile := filepath.Join(t.TempDir(), "labels")
	if err := os.WriteFile(labelFile, []byte("app.kubernetes.io/name=\"gpuperf\"\npool=\"vks\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	health := freeLoopbackPort(t)
	t.Setenv("GPUPERF_LABEL", "zone=a, rack=r7")
	p := startAgentProcess(t, "--listen", "127.0.0.1:0", "--label-file", labelFile, "--label", "kubernetes.io/hostname=node-7",
		"--health-listen", health)
	conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	d, err := gpuperfv1.NewAgentClient(conn).Describe(t.Context(), &gpuperfv1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// A flag on the command line replaces the environment's value, as for
	// every flag.
	want := map[string]string{"app.kubernetes.io/name": "gpuperf", "pool": "vks", "kubernetes.io/hostname": "node-7"}
	if !maps.Equal(d.Labels, want) {
		t.Errorf("labels = %v, want %v", d.Labels, want)
	}
	out, stderr, code := run(t, nil, "health", health)
	if code != 0 || strings.TrimSpace(out) != "SERVING" {
		t.Errorf("health of a running agent: exit %d, %q %q", code, out, stderr)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "gpuperf agent health on "+health) {
		t.Errorf("no health line:\n%s", p.stderr.String())
	}
	_, stderr, code = run(t, nil, "health", "--timeout", "2s", health)
	if code != exitFailure || !strings.Contains(stderr, health) {
		t.Errorf("health of a stopped agent: exit %d, %q; want 1 naming the address", code, stderr)
	}
}

func TestAgentLabelsFromEnvironment(t *testing.T) {
	t.Setenv("GPUPERF_LABEL", "zone=a, rack=r7")
	p := startAgentProcess(t, "--listen", "127.0.0.1:0")
	conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	d, err := gpuperfv1.NewAgentClient(conn).Describe(t.Context(), &gpuperfv1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"zone": "a", "rack": "r7"}; !maps.Equal(d.Labels, want) {
		t.Errorf("labels = %v, want %v", d.Labels, want)
	}
	p.stop(t, syscall.SIGTERM)
}

func TestAgentFleetBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "labels")
	if err := os.WriteFile(bad, []byte("pool\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"agent", "--health-listen", "0.0.0.0:7071"}, "--health-listen"},
		{[]string{"agent", "--label", "pool"}, `--label "pool": want KEY=VALUE`},
		{[]string{"agent", "--label-file", bad}, bad + ":1"},
		{[]string{"health"}, "one address"},
		{[]string{"health", "nowhere"}, "nowhere"},
		{[]string{"health", "--timeout", "0s", "127.0.0.1:1"}, "--timeout"},
	} {
		_, stderr, code := run(t, nil, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, %q; want %d naming %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
}

// TestCompareDiscoverySelectorMatchesNobody: a discovery plan whose
// candidate selector matches no agent exits 2, naming the selector and
// listing the agent that was found with its labels.
func TestCompareDiscoverySelectorMatchesNobody(t *testing.T) {
	p := startAgentProcess(t, "--listen", "127.0.0.1:0", "--label", "pool=metal", "--label", "kubernetes.io/hostname=lab-7")
	_, port, _ := net.SplitHostPort(p.addr)
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(plan, []byte(`version: v1
agents:
  discover: dns:///localhost:`+port+`
  baseline: {labels: {pool: metal}}
  candidate: {labels: {pool: vks}}
workload: {backend: sim, model: resnet50}
scenarios: [offline]
repetitions: 2
output: `+filepath.Join(dir, "out")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := run(t, nil, "compare", "--plan", plan)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d\n%s", code, exitUsage, stderr)
	}
	for _, w := range []string{"agents.candidate: {labels: {pool: vks}} matches no agent", "127.0.0.1:" + port + " lab-7", "labels pool=metal"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr does not say %q:\n%s", w, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Errorf("a result folder was made for a plan that could not start")
	}
	p.stop(t, syscall.SIGTERM)
}
