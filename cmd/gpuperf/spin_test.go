package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchSpin: --spin reaches the Server generator, which records it in
// result.json with its margin and CPU, and the text output says how it
// waited beside the issue delay.
func TestBenchSpin(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	stdout, stderr, code := run(t, nil, "bench", "--backend", "null", "--scenario", "server", "--target-qps", "2000",
		"--target-latency", "50ms", "--min-duration", "300ms", "--warmup", "0", "--spin", "never", "--telemetry=false", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	// gpuperf's own lines go to stderr; stdout is the summary alone.
	if !strings.Contains(stderr, "gpuperf: generator wait: spin never, margin 0s") || !strings.Contains(stderr, "issuing thread CPU") {
		t.Errorf("no wait line on stderr:\n%s", stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Requested struct {
			Spin string `json:"generator_spin"`
		} `json:"requested"`
		Health struct {
			Wait *struct {
				Spin   string  `json:"spin"`
				Sleeps uint64  `json:"sleeps"`
				CPU    float64 `json:"issue_thread_cpu_percent"`
			} `json:"wait"`
		} `json:"generator_health"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if w := res.Health.Wait; res.Requested.Spin != "never" || w == nil || w.Spin != "never" || w.Sleeps == 0 {
		t.Fatalf("result.json: requested %q, wait %+v", res.Requested.Spin, w)
	}
}
