package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// gpuperfBin is the binary the end-to-end tests run as a real process.
var gpuperfBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gpuperf-bin")
	if err != nil {
		panic(err)
	}
	gpuperfBin = filepath.Join(dir, "gpuperf")
	// GPUPERF_TEST_BIN runs the tests against a binary built elsewhere,
	// such as a plain build for memory figures (BENCHMARKS.md).
	if bin := os.Getenv("GPUPERF_TEST_BIN"); bin != "" {
		gpuperfBin = bin
	} else {
		build := exec.Command("go", "build", "-race", "-o", gpuperfBin, ".")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			panic("build gpuperf: " + err.Error())
		}
	}
	// Every gpuperf the tests start records its runs: into a history of
	// their own, never the user's.
	data, err := os.MkdirTemp("", "gpuperf-data")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_DATA_HOME", data)
	os.Unsetenv("GPUPERF_STORE")
	code := m.Run()
	os.RemoveAll(dir)
	os.RemoveAll(data)
	os.Exit(code)
}

// run starts gpuperf with args and returns stdout, stderr and the exit code.
func run(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(gpuperfBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestVersion(t *testing.T) {
	out, _, code := run(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "gpuperf ") {
		t.Fatalf("version: code %d, output %q", code, out)
	}
}

func TestBenchBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string // the flag the message must name
	}{
		{"unknown scenario", nil, []string{"--scenario", "batch"}, "--scenario"},
		{"unknown backend", nil, []string{"--backend", "tpu"}, "--backend"},
		{"unknown model", nil, []string{"--model", "gpt-9"}, "--model"},
		{"zero qps", nil, []string{"--scenario", "server", "--target-qps", "0"}, "--target-qps"},
		{"negative qps", nil, []string{"--scenario", "server", "--target-qps=-5"}, "--target-qps"},
		{"zero duration", nil, []string{"--min-duration", "0s"}, "--min-duration"},
		{"bad duration", nil, []string{"--min-duration", "soon"}, "--min-duration"},
		{"qps for offline", nil, []string{"--target-qps", "100"}, "--target-qps"},
		{"expected qps for server", nil, []string{"--scenario", "server", "--expected-qps", "100"}, "--expected-qps"},
		{"peak for offline", nil, []string{"--find-peak"}, "--find-peak"},
		{"precision without peak", nil, []string{"--scenario", "server", "--peak-precision", "5"}, "--peak-precision"},
		{"bad backend option", nil, []string{"--backend", "sim", "--backend-opt", "servers=many"}, "servers"},
		{"unknown backend option", nil, []string{"--backend", "sim", "--backend-opt", "colour=red"}, "colour"},
		{"malformed backend option", nil, []string{"--backend-opt", "servers"}, "--backend-opt"},
		{"bad format", nil, []string{"--format", "xml"}, "--format"},
		{"bad spin policy", nil, []string{"--scenario", "server", "--target-qps", "100", "--spin", "sometimes"}, "--spin"},
		{"bad profile", nil, []string{"--profile", "forever"}, "--profile"},
		{"scenario from the environment", []string{"GPUPERF_SCENARIO=batch"}, nil, "--scenario"},
		{"unknown flag", nil, []string{"--frobnicate"}, "frobnicate"},
		// Refused before anything is allocated, not "fatal error: out of memory".
		{"a run past half the host's memory", nil, []string{"--backend", "null", "--expected-qps", "1e9", "--min-duration", "600s", "--warmup", "0"}, "offline_expected_qps 1e+09 × min_duration_ms 600000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := run(t, tc.env, append([]string{"bench"}, tc.args...)...)
			if code != exitUsage {
				t.Fatalf("exit code %d, want %d; stderr %q", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Fatalf("stderr %q does not name %q", stderr, tc.want)
			}
		})
	}
}

func TestBenchWritesTheRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	stdout, stderr, code := run(t, nil, "bench", "--backend", "sim", "--backend-opt", "servers=4", "--backend-opt", "latency=1ms",
		"--scenario", "offline", "--min-duration", "500ms", "--warmup", "200ms", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	for _, want := range []string{"MLPerf Results Summary", "Scenario : Offline", "Result is : VALID", "Samples per second: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stderr, "\r") || strings.Contains(stderr, "\x1b[") {
		t.Errorf("progress drawn into a pipe: %q", stderr)
	}
	for _, f := range []string{"mlperf_log_summary.txt", "mlperf_log_detail.txt", "result.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Schema string `json:"schema"`
		Metric struct {
			Value float64 `json:"value"`
		} `json:"metric"`
		Warmup struct {
			DurationNs int64 `json:"duration_ns"`
		} `json:"warmup"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Schema != "gpuperf.result/v1" || res.Metric.Value < 3800 || res.Metric.Value > 4200 || res.Warmup.DurationNs <= 0 {
		t.Fatalf("result.json: %+v", res)
	}
}

func TestBenchInvalidRunExits3(t *testing.T) {
	stdout, stderr, code := run(t, nil, "bench", "--backend", "sim", "--backend-opt", "latency=1ms",
		"--scenario", "server", "--target-qps", "1500", "--target-latency", "10ms", "--min-duration", "500ms", "--warmup", "0",
		"--out", filepath.Join(t.TempDir(), "run"), "--format", "json")
	if code != exitInvalidRun {
		t.Fatalf("exit %d, want %d\nstderr %s", code, exitInvalidRun, stderr)
	}
	var res struct {
		Validity struct {
			Valid           bool     `json:"valid"`
			Recommendations []string `json:"recommendations"`
		} `json:"validity"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--format json output: %v\n%s", err, stdout)
	}
	if res.Validity.Valid || len(res.Validity.Recommendations) == 0 {
		t.Fatalf("validity %+v", res.Validity)
	}
}

func TestBenchEnvironmentSetsFlags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	_, stderr, code := run(t, []string{"GPUPERF_SCENARIO=single-stream", "GPUPERF_BACKEND=null", "GPUPERF_MIN_DURATION=300ms", "GPUPERF_OUT=" + out}, "bench")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "mlperf_log_summary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "Scenario : SingleStream") || !strings.Contains(string(b), "SUT name : null") {
		t.Fatalf("environment ignored:\n%s", b)
	}
}

// flat joins a report's wrapped lines: runs of spaces and line breaks
// become one space, so a phrase matches wherever the width wrapped it.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

// retainedRE matches the compact table's header, or a scenario's line in
// the two-line layout it takes when a row would not fit 100 columns.
var retainedRE = regexp.MustCompile(`RETAINED \[|: retained [0-9.]+%`)

// hasComparison reports whether stdout holds the comparison's per-scenario
// figures, in either layout of the compact table.
func hasComparison(stdout string) bool { return retainedRE.MatchString(stdout) }
