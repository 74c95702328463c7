package agent

import (
	"context"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

func TestLabelFileDownwardAPIFormat(t *testing.T) {
	// What the kubelet writes for fieldRef metadata.labels.
	path := filepath.Join(t.TempDir(), "labels")
	text := "app.kubernetes.io/name=\"gpuperf\"\n# a comment\n\npool=\"vks\"\nnote=\"a \\\"quoted\\\" word\"\nplain=unquoted\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	if err := ReadLabelFile(got, path); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"app.kubernetes.io/name": "gpuperf", "pool": "vks", "note": `a "quoted" word`, "plain": "unquoted"}
	if !maps.Equal(got, want) {
		t.Errorf("labels = %v, want %v", got, want)
	}
	// A flag that repeats the file's value is fine; one that contradicts it
	// is not.
	if err := ParseLabels(got, []string{"pool=vks", "zone=a"}, "--label"); err != nil || got["zone"] != "a" {
		t.Errorf("agreeing flag: %v, %v", err, got)
	}
	if err := ParseLabels(got, []string{"pool=metal"}, "--label"); err == nil || !strings.Contains(err.Error(), `pool is already "vks"`) {
		t.Errorf("contradicting flag: %v", err)
	}
}

func TestLabelErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	for text, want := range map[string]string{
		"a=\"x\"\nno equals sign\n": ":2: want KEY=",
		"a=\"unterminated\n":        ":1: the value of a is not a quoted string",
		"=\"v\"\n":                  ":1: empty key",
		"has space=\"v\"\n":         ":1: key \"has space\"",
	} {
		path := filepath.Join(dir, "labels")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		err := ReadLabelFile(map[string]string{}, path)
		if err == nil || !strings.Contains(err.Error(), "--label-file "+path+want) {
			t.Errorf("%q: error %v, want it to contain %q", text, err, want)
		}
	}
	if err := ParseLabels(map[string]string{}, []string{"novalue"}, "--label"); err == nil || !strings.Contains(err.Error(), `--label "novalue": want KEY=VALUE`) {
		t.Errorf("--label novalue: %v", err)
	}
	if err := ReadLabelFile(map[string]string{}, filepath.Join(dir, "absent")); err == nil || !strings.Contains(err.Error(), "--label-file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestDescribeReportsLabels(t *testing.T) {
	labels := map[string]string{"pool": "vks", "kubernetes.io/hostname": "node-7"}
	srv, err := NewServer(DefaultConfig(), "test-version", nil, WithLabels(labels))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	labels["pool"] = "changed after start" // the agent keeps its own copy
	c := gpuperfv1.NewAgentClient(dial(t, startAgent(t, srv, ListenOptions{})))
	d, err := c.Describe(context.Background(), &gpuperfv1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"pool": "vks", "kubernetes.io/hostname": "node-7"}; !maps.Equal(d.Labels, want) {
		t.Errorf("labels = %v, want %v", d.Labels, want)
	}
}

func TestHealthListenerIsLoopbackOnly(t *testing.T) {
	srv := newServer(t, DefaultConfig())
	defer srv.Close()
	err := srv.ServeHealth(context.Background(), "0.0.0.0:0", nil)
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("health on all interfaces: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() { served <- srv.ServeHealth(ctx, "127.0.0.1:0", func(a net.Addr) { addrc <- a }) }()
	addr := (<-addrc).String()
	if err := CheckHealth(context.Background(), addr, HealthService, 5*time.Second); err != nil {
		t.Errorf("serving agent: %v", err)
	}
	// The agent's own status: once it shuts down the probe fails.
	srv.health.Shutdown()
	if err := CheckHealth(context.Background(), addr, HealthService, 5*time.Second); err == nil || !strings.Contains(err.Error(), "NOT_SERVING") {
		t.Errorf("stopped agent: %v, want NOT_SERVING", err)
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("serve health: %v", err)
	}
	if err := CheckHealth(context.Background(), addr, HealthService, 2*time.Second); err == nil {
		t.Errorf("closed port answered")
	}
}
