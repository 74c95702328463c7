package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/gpu"
)

func TestTelemetryWithoutGPU(t *testing.T) {
	if describeJSON(t).NVML.Available {
		t.Skip("this host has NVML")
	}
	for _, args := range [][]string{{"telemetry"}, {"telemetry", "--csv", "--count", "3", "--interval", "10ms"}} {
		// Nothing on standard output (a redirected CSV stays empty), the
		// reason on standard error, and exit 1: the readings failed.
		out, errb, code := run(t, nil, args...)
		if code != 1 || out != "" || errb != "gpuperf: telemetry unavailable: NVML library not found\n" {
			t.Errorf("%q: exit %d, out %q, err %q", args, code, out, errb)
		}
	}
}

func TestTelemetryUsage(t *testing.T) {
	for _, args := range [][]string{
		{"telemetry", "--interval", "1ms"},
		{"telemetry", "--interval", "soon"},
		{"telemetry", "--count", "-1"},
		{"bench", "--telemetry-interval", "1ms"},
	} {
		if _, errb, code := run(t, nil, args...); code != 2 {
			t.Errorf("%q: exit %d (%s); want 2", args, code, errb)
		}
	}
}

// bench samples telemetry in its timed run unless told not to.
func TestBenchTelemetry(t *testing.T) {
	dir := t.TempDir()
	on, off := filepath.Join(dir, "on"), filepath.Join(dir, "off")
	common := []string{"bench", "--backend", "null", "--scenario", "single-stream", "--min-duration", "300ms", "--warmup", "0",
		"--expected-latency", "1us", "--min-query-count", "10"}
	if _, errb, code := run(t, nil, append(common, "--out", on, "--telemetry-interval", "20ms")...); code != 0 {
		t.Fatalf("bench: exit %d: %s", code, errb)
	}
	var res struct {
		Telemetry *gpu.Summary `json:"telemetry"`
	}
	b, err := os.ReadFile(filepath.Join(on, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil || res.Telemetry == nil {
		t.Fatalf("result.json telemetry: %v", err)
	}
	f, err := os.Open(filepath.Join(on, "telemetry.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if res.Telemetry.Ticks < 3 || res.Telemetry.IntervalNs != 20e6 || len(rows) < 1+res.Telemetry.Ticks || strings.Join(rows[0], ",") != strings.Join(gpu.CSVHeader(), ",") {
		t.Errorf("telemetry: %d ticks, %d csv rows, header %q", res.Telemetry.Ticks, len(rows), rows[0])
	}
	if _, errb, code := run(t, nil, append(common, "--out", off, "--telemetry=false")...); code != 0 {
		t.Fatalf("bench --telemetry=false: exit %d: %s", code, errb)
	}
	if _, err := os.Stat(filepath.Join(off, "telemetry.csv")); !os.IsNotExist(err) {
		t.Errorf("telemetry.csv written with --telemetry=false: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(off, "result.json")); strings.Contains(string(b), `"telemetry"`) {
		t.Error("result.json has telemetry with --telemetry=false")
	}
}
