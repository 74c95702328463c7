package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gpuperf/gpuperf/inference"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
	"github.com/gpuperf/gpuperf/results"
)

// procStatus reads a field of /proc/<pid>/status in kB.
func procStatus(t *testing.T, pid int, field string) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// hostile is one RunRequest of the battery: settings JSON (raw, so it may
// hold what encoding/json would refuse to write), and what must happen.
type hostile struct {
	name     string
	sc       inference.Scenario
	raw      map[string]string // settings keys set to raw JSON values
	qsl      string
	findPeak bool
	peak     float64
	refused  bool // InvalidArgument; otherwise the run must end with a result
}

// settingsWith renders resnet50's quick settings for sc with raw values
// spliced in.
func settingsWith(t *testing.T, sc inference.Scenario, raw map[string]string) []byte {
	t.Helper()
	s, _, err := inference.Settings("resnet50", sc, inference.ProfileQuick)
	if err != nil {
		t.Fatal(err)
	}
	s.MinDurationMs, s.WarmupMs, s.DrainTimeoutMs = 100, 0, 5000
	b, _ := json.Marshal(s)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range raw {
		m[k] = json.RawMessage(v)
	}
	var out bytes.Buffer
	out.WriteString("{")
	first := true
	for k, v := range m {
		if !first {
			out.WriteString(",")
		}
		first = false
		fmt.Fprintf(&out, "%q:%s", k, v)
	}
	out.WriteString("}")
	return out.Bytes()
}

// TestAgentSurvivesHostileRunRequests sends a real agent, held to a 96 MiB
// run limit, requests at and beyond every limit: each is refused with
// InvalidArgument or run, the agent's memory stays bounded, a normal run
// then succeeds, and SIGTERM during a long run ends the agent within its
// grace period.
func TestAgentSurvivesHostileRunRequests(t *testing.T) {
	const limit = 96 << 20
	p := startAgentProcess(t, "--listen", "127.0.0.1:0", "--max-run-memory", "96MiB", "--max-run-duration", "2m", "--shutdown-grace", "1s")
	pid := p.cmd.Process.Pid
	idle := procStatus(t, pid, "VmRSS")
	conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := gpuperfv1.NewAgentClient(conn)

	// An Offline query of the null backend sized to fill 90% of the limit.
	s, qsl, _ := inference.Settings("resnet50", inference.Offline, inference.ProfileQuick)
	s.MinDurationMs = 100
	lo, hi := 1.0, float64(inference.MaxRate)
	for range 60 {
		mid := (lo + hi) / 2
		s.OfflineExpectedQPS = mid
		if inference.EstimateFootprint(s, qsl).Bytes < limit*9/10 {
			lo = mid
		} else {
			hi = mid
		}
	}
	atLimitQPS := strconv.FormatFloat(lo, 'g', -1, 64)
	maxU := strconv.FormatUint(math.MaxUint64, 10)
	battery := []hostile{
		// Durations.
		{name: "min_duration max uint64", sc: inference.SingleStream, raw: map[string]string{"min_duration_ms": maxU}, refused: true},
		{name: "min_duration 2^63", sc: inference.SingleStream, raw: map[string]string{"min_duration_ms": "9223372036854775808"}, refused: true},
		{name: "min_duration past max_run_duration", sc: inference.Offline, raw: map[string]string{"min_duration_ms": "180000"}, refused: true},
		{name: "min_duration negative", sc: inference.Offline, raw: map[string]string{"min_duration_ms": "-1"}, refused: true},
		{name: "warm-up max uint64", sc: inference.Offline, raw: map[string]string{"warmup_ms": maxU}, refused: true},
		{name: "drain max uint64", sc: inference.Server, raw: map[string]string{"drain_timeout_ms": maxU}, refused: true},
		// Counts.
		{name: "min_query_count max uint64", sc: inference.SingleStream, raw: map[string]string{"min_query_count": maxU}, refused: true},
		{name: "min_query_count 2^40", sc: inference.SingleStream, raw: map[string]string{"min_query_count": "1099511627776"}, refused: true},
		{name: "performance samples max uint64", sc: inference.Offline, raw: map[string]string{"performance_sample_count_override": maxU}, refused: true},
		{name: "performance samples 2^32 past the data set", sc: inference.Offline, qsl: `{"name":"x","total_sample_count":4294967296,"performance_sample_count":4294967296}`,
			raw: map[string]string{"performance_sample_count_override": "4294967296"}, refused: true},
		{name: "data set past 2^32", sc: inference.Offline, qsl: `{"name":"x","total_sample_count":` + maxU + `,"performance_sample_count":1}`, refused: true},
		{name: "samples per query max uint64", sc: inference.MultiStream, raw: map[string]string{"multi_stream_samples_per_query": maxU}, refused: true},
		{name: "samples per query at its bound", sc: inference.MultiStream, raw: map[string]string{"multi_stream_samples_per_query": "1048576"}, refused: true},
		// Rates and hints.
		{name: "offline QPS NaN", sc: inference.Offline, raw: map[string]string{"offline_expected_qps": "NaN"}, refused: true},
		{name: "offline QPS negative", sc: inference.Offline, raw: map[string]string{"offline_expected_qps": "-1"}, refused: true},
		{name: "offline QPS 1e308", sc: inference.Offline, raw: map[string]string{"offline_expected_qps": "1e308"}, refused: true},
		{name: "offline QPS at the rate bound", sc: inference.Offline, raw: map[string]string{"offline_expected_qps": "1e9"}, refused: true},
		{name: "server QPS x duration past memory", sc: inference.Server, raw: map[string]string{"server_target_qps": "1e8", "min_duration_ms": "60000"}, refused: true},
		{name: "server QPS 0", sc: inference.Server, raw: map[string]string{"server_target_qps": "0"}, refused: true},
		{name: "latency hint below a nanosecond", sc: inference.SingleStream, raw: map[string]string{"single_stream_expected_latency_ns": "1e-300"}, refused: true},
		{name: "latency hint of 1 ns", sc: inference.SingleStream, raw: map[string]string{"single_stream_expected_latency_ns": "1", "min_duration_ms": "60000"}, refused: true},
		{name: "latency bound max uint64", sc: inference.Server, raw: map[string]string{"server_target_latency_ns": maxU}, refused: true},
		{name: "peak precision NaN", sc: inference.Server, findPeak: true, peak: math.NaN(), refused: true},
		{name: "peak precision +Inf", sc: inference.Server, findPeak: true, peak: math.Inf(1), refused: true},
		{name: "peak step size 1e308", sc: inference.Server, findPeak: true, raw: map[string]string{"server_find_peak_qps_boundary_step_size": "1e308"}, refused: true},
		// At the limits: these run.
		{name: "offline at 90% of the memory limit", sc: inference.Offline, raw: map[string]string{"offline_expected_qps": atLimitQPS}},
		{name: "performance samples 2^32 clamped to the data set", sc: inference.Offline, raw: map[string]string{"performance_sample_count_override": "4294967296"}},
		{name: "single-stream at its bounds, stopped by max_duration", sc: inference.SingleStream,
			raw: map[string]string{"min_query_count": "2000000", "max_duration_ms": "300", "single_stream_expected_latency_ns": "1000000"}},
		{name: "peak search widening past the memory limit", sc: inference.Server, findPeak: true, peak: 2e6,
			raw: map[string]string{"server_target_qps": "2000", "server_find_peak_qps_boundary_step_size": "1000", "server_target_latency_ns": "1000000000"}},
	}
	for i, h := range battery {
		req := &gpuperfv1.RunRequest{RunId: fmt.Sprintf("hostile-%d", i), Backend: "null", Model: "resnet50", Profile: "quick",
			SettingsJson: settingsWith(t, h.sc, h.raw), QslJson: []byte(h.qsl), FindPeak: h.findPeak, PeakPrecision: h.peak}
		if h.findPeak {
			req.SettingsJson = settingsWith(t, h.sc, mergeRaw(h.raw, map[string]string{"mode": `"PerformanceOnly"`}))
		}
		ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
		start := time.Now()
		stream, err := c.Run(ctx, req)
		var res *gpuperfv1.RunResult
		for err == nil && res == nil {
			var ev *gpuperfv1.RunEvent
			if ev, err = stream.Recv(); err == nil {
				res = ev.GetResult()
			}
		}
		cancel()
		switch {
		case h.refused && status.Code(err) != codes.InvalidArgument:
			t.Errorf("%s: %v (%s); want InvalidArgument\n%s", h.name, err, time.Since(start), p.stderr.String())
		case !h.refused && (err != nil || res == nil):
			t.Errorf("%s: %v (%s); want a result", h.name, err, time.Since(start))
		}
	}
	peak := procStatus(t, pid, "VmHWM")
	// TestMain's agent is a race-detector build, whose shadow memory
	// multiplies what a run allocates by up to ten; a plain build
	// (GPUPERF_TEST_BIN) stays within twice the limit. Without limits the
	// battery asks for terabytes.
	bound := idle + 10*limit
	if os.Getenv("GPUPERF_TEST_BIN") != "" {
		bound = idle + 2*limit
	}
	t.Logf("agent RSS: %d MiB idle, %d MiB peak over %d requests (limit %d MiB, bound %d MiB)", idle>>20, peak>>20, len(battery), limit>>20, bound>>20)
	if peak > bound {
		t.Errorf("peak RSS %d MiB; want at most %d MiB", peak>>20, bound>>20)
	}

	// A normal run still succeeds.
	normal := &gpuperfv1.RunRequest{RunId: "normal", Backend: "sim", Model: "resnet50", Profile: "quick",
		SettingsJson: settingsWith(t, inference.Offline, map[string]string{"offline_expected_qps": "2000", "min_duration_ms": "300"})}
	stream, err := c.Run(t.Context(), normal)
	for err == nil {
		var ev *gpuperfv1.RunEvent
		if ev, err = stream.Recv(); err == nil && ev.GetResult() != nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("a normal run after the battery: %v", err)
	}

	// SIGTERM during a long run ends the agent within its grace (1 s),
	// plus the second it gives a cancelled run.
	long := &gpuperfv1.RunRequest{RunId: "long", Backend: "sim", Model: "resnet50", Profile: "quick",
		SettingsJson: settingsWith(t, inference.SingleStream, map[string]string{"min_duration_ms": "60000", "drain_timeout_ms": "60000"})}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	longStream, err := c.Run(ctx, long)
	if err != nil {
		t.Fatal(err)
	}
	// The run's first event says it started; an error says why it did not.
	started := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		_, err := longStream.Recv()
		started <- err
	})
	why := ""
	select {
	case err := <-started:
		if err != nil {
			why = fmt.Sprintf("the long run did not start: %v", err)
		}
	case <-time.After(time.Minute):
		why = "the long run sent no event within a minute"
	}
	if why != "" {
		cancel()
		p.stop(t, syscall.SIGTERM) // its stderr is complete once it has stopped
		t.Fatalf("%s; the agent's stderr:\n%s", why, p.stderr.String())
	}
	waitBusy(t, p.addr)
	start := time.Now()
	code := p.stop(t, syscall.SIGTERM)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("SIGTERM took %s to end the agent; want its 1 s grace and a second more", d)
	}
	if code != 0 {
		t.Errorf("exit %d after SIGTERM; want 0\n%s", code, p.stderr.String())
	}
}

func mergeRaw(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// TestFrozenAgentFailsItsRunWithinTheWatchdog SIGSTOPs a real candidate
// agent in the middle of its run. With retries: 0 the coordinator fails
// the run within the 2 s watchdog, naming the agent, and stops measuring
// the baseline; with retries: 1 and the agent resumed, the retry
// succeeds and the plan goes on.
func TestFrozenAgentFailsItsRunWithinTheWatchdog(t *testing.T) {
	for _, tc := range []struct {
		name    string
		retries int
		resume  bool
	}{
		{"frozen for good, no retries", 0, false},
		{"resumed, retried", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, cand := startAgentProcess(t, "--listen", "127.0.0.1:0"), startAgentProcess(t, "--listen", "127.0.0.1:0")
			dir := t.TempDir()
			plan := writePlan(t, dir, base.addr, cand.addr, fmt.Sprintf("scenarios: [offline]\nrepetitions: 2\nwatchdog: 2s\nretries: %d\n", tc.retries))
			// Runs of 1.5 s, so the stop lands inside one.
			if err := rewrite(plan, "min_duration_ms: 400", "min_duration_ms: 1500"); err != nil {
				t.Fatal(err)
			}
			coord := exec.Command(gpuperfBin, "run", "--plan", plan, "--run-id", "frozen")
			var out bytes.Buffer
			coord.Stdout, coord.Stderr = &out, &out
			if err := coord.Start(); err != nil {
				t.Fatal(err)
			}
			var waitErr error
			exited := make(chan struct{})
			go func() { waitErr = coord.Wait(); close(exited) }()
			t.Cleanup(func() {
				_ = cand.cmd.Process.Signal(syscall.SIGCONT)
				_ = coord.Process.Kill()
				<-exited
			})

			busy := waitBusy(t, cand.addr)
			if err := cand.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			stopped := time.Now()
			if tc.resume {
				time.Sleep(3 * time.Second) // past the watchdog: the attempt fails
				if err := cand.cmd.Process.Signal(syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-exited:
			case <-time.After(40 * time.Second):
				t.Fatalf("the coordinator still runs 40 s after its agent froze (run %s)\n%s", busy, out.String())
			}
			code := 0
			var ee *exec.ExitError
			if errors.As(waitErr, &ee) {
				code = ee.ExitCode()
			}
			t.Logf("exit %d, %s after SIGSTOP", code, time.Since(stopped).Round(time.Millisecond))
			m, _ := readManifest(t, filepath.Join(dir, "out"))
			var candRun, later string
			for i, r := range m.Runs {
				if r.Role == "candidate" && candRun == "" {
					candRun = r.Status + ": " + r.Error
					if i+1 < len(m.Runs) {
						later = m.Runs[i+1].Status + ": " + m.Runs[i+1].Error
					}
				}
			}
			if !tc.resume {
				// The watchdog (2 s) after the last event, then the plan's
				// remaining runs are skipped: well within 15 s.
				if d := time.Since(stopped); d > 15*time.Second {
					t.Errorf("the coordinator ended %s after the agent froze; want within the 2 s watchdog and slack", d)
				}
				if code != exitFailure || !strings.HasPrefix(candRun, "failed: agent vm sent nothing for 2s") {
					t.Fatalf("exit %d, candidate run %q; want 1 and a failed run naming the agent and the watchdog\n%s", code, candRun, out.String())
				}
				if !strings.HasPrefix(later, "skipped:") {
					t.Errorf("the run after the frozen one: %q; want skipped", later)
				}
				return
			}
			if code != 0 || !strings.HasPrefix(candRun, "ok") {
				t.Fatalf("exit %d, candidate run %q; want the retry to succeed and the plan to finish\n%s", code, candRun, out.String())
			}
			for _, r := range m.Runs {
				if r.Status != "ok" {
					t.Errorf("run %+v; want every run ok", r)
				}
			}
		})
	}
}

// bigTree writes a gpuperf tree of n interleaved Offline runs of two hosts.
func bigTree(t *testing.T, n int) string {
	t.Helper()
	tree, err := results.Create(t.TempDir(), "big")
	if err != nil {
		t.Fatal(err)
	}
	m := &results.Manifest{Schema: results.ManifestSchema, RunID: "big", Model: "resnet50", Backend: "sim", Profile: "quick", Order: "interleaved",
		Hosts: []results.Host{{Name: "bm", Address: "a:1", Role: results.RoleBaseline}, {Name: "vm", Address: "b:1", Role: results.RoleCandidate}}}
	s, qsl, _ := inference.Settings("resnet50", inference.Offline, inference.ProfileQuick)
	for i := range n {
		host, role := "bm", results.RoleBaseline
		if i%2 == 1 {
			host, role = "vm", results.RoleCandidate
		}
		v := 1000 + float64(i%7)
		res := inference.Result{Schema: inference.ResultSchema, Model: "resnet50", Backend: "sim", Requested: s, Effective: s.Effective(qsl),
			SamplesIssued: 10, SamplesComplete: 10, SamplesPerSecond: v, Metric: inference.Metric{Name: "result_samples_per_second", Value: v, Unit: "samples/s", HigherIsBetter: true}}
		res.Validity.Valid = true
		js, _ := json.Marshal(res)
		dir := results.RunDir(host, "resnet50", inference.Offline, i/2)
		if err := tree.WriteRun(dir, results.RunFiles{Result: js}); err != nil {
			t.Fatal(err)
		}
		m.Runs = append(m.Runs, results.RunRecord{Host: host, Role: role, Scenario: "Offline", Repetition: i / 2, Sequence: i, Status: results.StatusOK, Attempts: 1, Dir: dir, Valid: true})
	}
	if err := tree.WriteManifest(m); err != nil {
		t.Fatal(err)
	}
	return tree.Root
}

// TestStoredCompareStopsOnSIGTERM: comparing a large stored tree ends on
// SIGTERM with exit 130, instead of reading on.
func TestStoredCompareStopsOnSIGTERM(t *testing.T) {
	root := bigTree(t, 2000)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(gpuperfBin, "compare", root)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Signal once compare is reading the tree (it holds the tree's
		// folder open), not while the process is still starting.
		waitOpen(t, cmd.Process.Pid, root)
		sent := time.Now()
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
			t.Fatalf("%s: %v; want exit %d\n%s", sig, err, exitInterrupted, out.String())
		}
		if d := time.Since(sent); d > 5*time.Second {
			t.Errorf("%s: exit %s after the signal", sig, d)
		}
	}
}

// waitOpen waits until process pid has a file under dir open.
func waitOpen(t *testing.T, pid int, dir string) {
	t.Helper()
	fds := fmt.Sprintf("/proc/%d/fd", pid)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		entries, err := os.ReadDir(fds)
		if err != nil && !os.IsNotExist(err) {
			t.Skipf("no /proc here: %v", err)
		}
		for _, e := range entries {
			if target, err := os.Readlink(filepath.Join(fds, e.Name())); err == nil && strings.HasPrefix(target, dir) {
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("process %d never opened anything under %s", pid, dir)
}

// TestInternalCrashExitsOne: a panic is a runtime failure (1), not the
// Go runtime's 2, which gpuperf means for bad usage.
func TestInternalCrashExitsOne(t *testing.T) {
	root := newRootCommand()
	root.AddCommand(&cobra.Command{Use: "boom", RunE: func(*cobra.Command, []string) error {
		panic("boom: an invariant broke")
	}})
	root.SetArgs([]string{"boom"})
	var stderr bytes.Buffer
	if code := execute(t.Context(), root, &stderr); code != exitFailure {
		t.Fatalf("exit %d; want %d", code, exitFailure)
	}
	if !strings.Contains(stderr.String(), "gpuperf: internal error: boom: an invariant broke") || !strings.Contains(stderr.String(), "harden_test.go") {
		t.Errorf("stderr %q; want the panic and its stack", stderr.String())
	}
}

func TestAgentExposureAndLimitFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"plaintext to every interface, anonymous", nil, []string{"--listen", "0.0.0.0:0", "--insecure"}, []string{"--token-file", "--tls-client-ca", "--allow-anonymous"}},
		{"server TLS alone", []string{"GPUPERF_LISTEN=0.0.0.0:0"}, []string{"--tls-cert", filepath.Join(dir, "x"), "--tls-key", filepath.Join(dir, "x")}, []string{"--allow-anonymous"}},
		{"memory limit not a size", nil, []string{"--max-run-memory", "lots"}, []string{"--max-run-memory"}},
		{"memory limit past 100%", []string{"GPUPERF_MAX_RUN_MEMORY=150%"}, nil, []string{"--max-run-memory"}},
		{"duration limit not a duration", nil, []string{"--max-run-duration", "forever"}, []string{"--max-run-duration"}},
		{"grace not a duration", nil, []string{"--shutdown-grace", "soon"}, []string{"--shutdown-grace"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := run(t, tc.env, append([]string{"agent"}, tc.args...)...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", code, exitUsage, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not name %q", stderr, w)
				}
			}
		})
	}
	// A token file others can read starts the agent, with a warning.
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("t0k3n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(token, 0o644); err != nil {
		t.Fatal(err)
	}
	p := startAgentProcess(t, "--listen", "127.0.0.1:0", "--token-file", token)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(p.stderr.String(), "readable by others (mode 0644)") {
		t.Errorf("no warning about the token file:\n%s", p.stderr.String())
	}
}
