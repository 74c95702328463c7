package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// gpuperf run exits 3 when a run is INVALID, as the README's table says,
// after storing every run.
func TestRunExitsThreeOnInvalidRuns(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.yaml")
	// A 1 ns latency bound: no Server run can meet it.
	if err := os.WriteFile(plan, []byte(`version: v1
agents:
  - {name: bm, address: embedded, role: baseline}
  - {name: vm, address: embedded, role: candidate}
workload:
  backend: sim
  model: resnet50
  settings: {min_duration_ms: 200, warmup_ms: 0, server_target_latency_ns: 1}
scenarios: [server]
profile: quick
repetitions: 2
server: {target_qps: 200}
output: `+filepath.Join(dir, "out")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, nil, "run", "--plan", plan, "--run-id", "bad")
	if code != exitInvalidRun {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitInvalidRun, stdout, stderr)
	}
	if !strings.Contains(stderr, "4 of 4 runs INVALID") {
		t.Fatalf("stderr does not say which runs are INVALID:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "bad", "run.json")); err != nil {
		t.Fatalf("the runs were not stored: %v", err)
	}
}

// bench's standard output is the MLPerf summary alone, so a redirect keeps
// only it; gpuperf's own lines go to standard error.
func TestBenchSummaryAloneOnStdout(t *testing.T) {
	stdout, stderr, code := run(t, nil, "bench", "--backend", "null", "--scenario", "single-stream", "--min-duration", "200ms",
		"--warmup", "0", "--expected-latency", "1us", "--min-query-count", "10", "--out", filepath.Join(t.TempDir(), "r"))
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "MLPerf Results Summary") || strings.Contains(stdout, "gpuperf:") {
		t.Errorf("standard output is not the summary alone:\n%s", stdout)
	}
	if !strings.Contains(stderr, "gpuperf: files in") {
		t.Errorf("standard error lacks gpuperf's lines:\n%s", stderr)
	}
}
