package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// TestSecondPlanOnABusyAgentIsRefused starts one coordinator on two real
// agents, and while its run is in flight a second coordinator on the same
// agents: the agent refuses the second with FailedPrecondition naming the
// run in progress, the second exits 1, and the first finishes unharmed.
func TestSecondPlanOnABusyAgentIsRefused(t *testing.T) {
	a, b := startAgent(t), startAgent(t)
	dir1, dir2 := t.TempDir(), t.TempDir()
	long := writePlan(t, dir1, a.addr, b.addr, "scenarios: [offline]\nrepetitions: 2\n")
	// The first plan's Offline runs take about 3 s each.
	if err := rewrite(long, "min_duration_ms: 400", "min_duration_ms: 3000"); err != nil {
		t.Fatal(err)
	}
	first := exec.Command(gpuperfBin, "run", "--plan", long, "--run-id", "first")
	var out1 bytes.Buffer
	first.Stdout, first.Stderr = &out1, &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	var firstErr error
	done := make(chan struct{})
	go func() { firstErr = first.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = first.Process.Kill()
		<-done
	})

	busy := waitBusy(t, a.addr)
	second := writePlan(t, dir2, a.addr, b.addr, "scenarios: [offline]\nretries: 0\n")
	stdout, stderr, code := run(t, nil, "run", "--plan", second)
	if code != 1 {
		t.Fatalf("second plan exit %d; want 1\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, busy) || !strings.Contains(stderr, "in progress") {
		t.Errorf("second plan's error does not name the run in progress %q:\n%s", busy, stderr)
	}

	select {
	case <-done:
		if firstErr != nil {
			t.Fatalf("first plan: %v\n%s", firstErr, out1.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("first plan did not finish")
	}
	m, _ := readManifest(t, filepath.Join(dir1, "out"))
	for _, r := range m.Runs {
		if r.Status != "ok" {
			t.Errorf("first plan's run %+v", r)
		}
	}
}

// waitBusy polls an agent until it reports a run in progress, and returns
// that run's id.
func waitBusy(t *testing.T, addr string) string {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := gpuperfv1.NewAgentClient(conn)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		d, err := c.Describe(ctx, &gpuperfv1.DescribeRequest{})
		cancel()
		if err == nil && d.BusyRunId != "" {
			return d.BusyRunId
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the agent never reported a run in progress")
	return ""
}

func rewrite(path, old, new string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644)
}
