package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference/backend/kserve/kservetest"
)

// writeKServeAgentConfig writes an agent.yaml offering one backend,
// "triton", of kind kserve with the given options.
func writeKServeAgentConfig(t *testing.T, dir string, opts map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("backends:\n  - name: triton\n    kind: kserve\n    options:\n")
	for k, v := range opts {
		b.WriteString("      " + k + ": \"" + v + "\"\n")
	}
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeKServePlan writes writePlan's plan with the workload on "triton".
func writeKServePlan(t *testing.T, dir, base, cand, extra string) string {
	t.Helper()
	path := writePlan(t, dir, base, cand, extra)
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text = []byte(strings.Replace(string(text), "backend: sim", "backend: triton", 1))
	if err := os.WriteFile(path, text, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKServeEndToEnd: a coordinator, two real agent processes offering a
// kserve backend, and an Open Inference Protocol test server.
//
// The server's latency bounds the throughput (4 requests of 2 samples in
// flight, 4 ms each: 2000 samples/s), well below what this host can
// drive, so each Offline run meets the duration its calibration planned
// and is VALID.
func TestKServeEndToEnd(t *testing.T) {
	srv := kservetest.New(t, kservetest.Options{Behavior: kservetest.Behavior{Latency: 4 * time.Millisecond}})
	dir := t.TempDir()
	cfg := writeKServeAgentConfig(t, dir, map[string]string{
		"endpoint": srv.Addr(), "model": "simple", "batch": "2", "max_inflight": "4", "connections": "2", "stream": "true",
	})
	a, b := startAgent(t, "--config", cfg), startAgent(t, "--config", cfg)
	plan := writeKServePlan(t, dir, a.addr, b.addr, "scenarios: [offline]\nrepetitions: 2\n")
	stdout, stderr, code := run(t, nil, "compare", "--plan", plan)
	if code != 0 {
		t.Errorf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !hasComparison(stdout) {
		t.Errorf("report lacks the retained figures:\n%s", stdout)
	}
	m, root := readManifest(t, filepath.Join(dir, "out"))
	if len(m.Runs) != 4 {
		t.Fatalf("%d runs; want 2 repetitions × 2 agents", len(m.Runs))
	}
	for i, r := range m.Runs {
		if r.Status != "ok" || !r.Valid {
			t.Errorf("run %d %+v: %s", i, r, invalidReason(t, root, r.Host, r.Scenario))
		}
	}
	var res struct {
		Backend         string            `json:"backend"`
		BackendOpts     map[string]string `json:"backend_options"`
		SamplesComplete uint64            `json:"samples_completed"`
		SamplesFailed   uint64            `json:"samples_failed"`
		ServerStats     *struct {
			Source   string `json:"source"`
			Requests uint64 `json:"requests"`
		} `json:"server_stats"`
	}
	b2, err := os.ReadFile(filepath.Join(root, "bm/resnet50/Offline/performance/run_1/result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b2, &res); err != nil {
		t.Fatal(err)
	}
	if res.Backend != "kserve" || res.BackendOpts["model"] != "simple" || res.SamplesComplete == 0 || res.SamplesFailed != 0 {
		t.Errorf("result: backend %q, %d samples complete, %d failed; want kserve, all ok", res.Backend, res.SamplesComplete, res.SamplesFailed)
	}
	if st := res.ServerStats; st == nil || st.Source != "triton-statistics" || st.Requests == 0 {
		t.Errorf("result: server_stats %+v; want the test server's statistics", st)
	}
	// Every sample the agents completed went through the server (which
	// also saw warm-ups and each run's test request).
	if st := srv.Stats(); st.Samples < int64(res.SamplesComplete) || st.Failed != 0 || st.Streamed != st.Requests {
		t.Errorf("server stats %+v; want at least %d samples, all streamed, none failed", st, res.SamplesComplete)
	}
}

// invalidReason returns the invalid reasons in the host's result.json
// files of a scenario, for a failure message.
func invalidReason(t *testing.T, root, host, scenario string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, host, "*", scenario, "performance", "run_*", "result.json"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var res struct {
			Validity struct {
				InvalidReason string `json:"invalid_reason"`
			} `json:"validity"`
		}
		if json.Unmarshal(b, &res) == nil && res.Validity.InvalidReason != "" {
			out = append(out, filepath.Base(filepath.Dir(f))+": "+res.Validity.InvalidReason)
		}
	}
	return strings.Join(out, "; ")
}

// TestKServeEndToEndServerKilled: the inference server dies while the
// agents run; the plan ends (no hang) with the failure reported and the
// runs that saw it not VALID.
func TestKServeEndToEndServerKilled(t *testing.T) {
	srv := kservetest.New(t, kservetest.Options{Behavior: kservetest.Behavior{Latency: time.Millisecond}})
	dir := t.TempDir()
	cfg := writeKServeAgentConfig(t, dir, map[string]string{"endpoint": srv.Addr(), "model": "simple", "max_inflight": "4", "timeout": "2s"})
	a, b := startAgent(t, "--config", cfg), startAgent(t, "--config", cfg)
	plan := writeKServePlan(t, dir, a.addr, b.addr, "scenarios: [offline]\nrepetitions: 2\nretries: 0\n")
	cmd := exec.Command(gpuperfBin, "compare", "--plan", plan)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Kill the server once the first timed run is well under way: after the
	// calibration (run.json then lists the planned runs), 300 samples on.
	waitForPlannedRuns(t, filepath.Join(dir, "out"), time.Minute)
	from := srv.Stats().Samples
	for deadline := time.Now().Add(30 * time.Second); srv.Stats().Samples < from+300; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			t.Fatalf("the server saw %d samples in 30 s:\n%s", srv.Stats().Samples, stderr.String())
		}
	}
	srv.Close()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("compare still running 2 minutes after the server died:\n%s", stderr.String())
	}
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("compare ended with %v; want a failure exit:\n%s", err, stderr.String())
	}
	m, _ := readManifest(t, filepath.Join(dir, "out"))
	if len(m.Runs) == 0 {
		t.Fatal("no runs recorded")
	}
	for _, r := range m.Runs {
		if r.Status == "ok" && r.Valid {
			t.Errorf("run %+v is VALID, though the server died during the first run", r)
		}
	}
	if !strings.Contains(stderr.String(), "not reachable") && !strings.Contains(stderr.String(), "max_error_pct") {
		t.Errorf("stderr does not say what happened:\n%s", stderr.String())
	}
}

// TestKServeEndToEndBadConfig: a wrong model name fails the runs with a
// message naming it; options the backend refuses stop the agent at start.
func TestKServeEndToEndBadConfig(t *testing.T) {
	srv := kservetest.New(t, kservetest.Options{})
	dir := t.TempDir()
	cfg := writeKServeAgentConfig(t, dir, map[string]string{"endpoint": srv.Addr(), "model": "resnet51"})
	a, b := startAgent(t, "--config", cfg), startAgent(t, "--config", cfg)
	plan := writeKServePlan(t, dir, a.addr, b.addr, "scenarios: [offline]\nrepetitions: 2\nretries: 0\n")
	_, stderr, code := run(t, nil, "compare", "--plan", plan)
	if code != exitFailure || !strings.Contains(stderr, `model "resnet51" is not ready`) {
		t.Errorf("exit %d, stderr %q; want exit %d naming the model", code, stderr, exitFailure)
	}

	bad := writeKServeAgentConfig(t, t.TempDir(), map[string]string{"endpoint": srv.Addr(), "batch": "0"})
	_, stderr, code = run(t, nil, "agent", "--listen", "127.0.0.1:0", "--config", bad)
	if code != exitUsage || !strings.Contains(stderr, "backends[0].options") || !strings.Contains(stderr, "model: missing") || !strings.Contains(stderr, "batch=0") {
		t.Errorf("agent with a bad kserve config: exit %d, stderr %q; want exit %d naming the options", code, stderr, exitUsage)
	}
}

// TestBenchKServeServerStats: gpuperf bench against an Open Inference
// Protocol server prints the server's own account of the timed run next
// to the client's.
func TestBenchKServeServerStats(t *testing.T) {
	srv := kservetest.New(t, kservetest.Options{Behavior: kservetest.Behavior{Queue: time.Millisecond, Latency: 2 * time.Millisecond}})
	out := filepath.Join(t.TempDir(), "run")
	// 4 requests in flight of 3 ms each: at most 1333 samples/s, so a
	// hint of 3000 plans more than 300 ms of work and the run is VALID.
	stdout, stderr, code := run(t, nil, "bench", "--backend", "kserve",
		"--backend-opt", "endpoint="+srv.Addr(), "--backend-opt", "model=simple", "--backend-opt", "max_inflight=4",
		"--scenario", "offline", "--expected-qps", "3000", "--min-duration", "300ms", "--warmup", "50ms", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	// gpuperf's own lines are on standard error; standard output is the
	// MLPerf summary alone.
	if !strings.Contains(stderr, "gpuperf: server (triton-statistics) ") || !strings.Contains(stderr, "per request") {
		t.Errorf("standard error lacks the server's statistics:\n%s", stderr)
	}
	if strings.Contains(stdout, "gpuperf:") {
		t.Errorf("standard output has gpuperf's own lines:\n%s", stdout)
	}
}

// TestKServeEndToEndServerCompute: the candidate's inference server takes
// longer to execute the model (12 ms against 4 ms); the comparison,
// reading the servers' own statistics that the agents stored, says the
// gap is in the model's execution.
func TestKServeEndToEndServerCompute(t *testing.T) {
	fast := kservetest.New(t, kservetest.Options{Behavior: kservetest.Behavior{Latency: 4 * time.Millisecond}})
	// Three times as long, over four repetitions: a loaded host (the race
	// build, other tests) stretches every timer, but not by that much.
	slow := kservetest.New(t, kservetest.Options{Behavior: kservetest.Behavior{Latency: 12 * time.Millisecond}})
	dir := t.TempDir()
	agent := func(srv *kservetest.Server, name string) string {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg := writeKServeAgentConfig(t, d, map[string]string{"endpoint": srv.Addr(), "model": "simple", "batch": "2", "max_inflight": "4"})
		return startAgent(t, "--config", cfg).addr
	}
	// The candidate keeps about a third: a gate at 10% passes however wide
	// the interval, so the exit code is fixed.
	plan := writeKServePlan(t, dir, agent(fast, "bm"), agent(slow, "vm"), "scenarios: [offline]\nrepetitions: 4\nthresholds: {min_retained_pct: 10}\n")
	stdout, stderr, code := run(t, nil, "compare", "--plan", plan)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The table wraps the findings' text.
	text := strings.Join(strings.Fields(stdout), " ")
	want := "the model's execution on the server (compute_infer) took"
	if !strings.Contains(text, want) || !strings.Contains(text, "the model itself ran slower on the candidate") {
		t.Errorf("report lacks the server-compute finding (%q):\n%s", want, stdout)
	}
}
