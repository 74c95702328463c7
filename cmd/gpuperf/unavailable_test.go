package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCudaWithoutDriver: on a machine without the NVIDIA driver (CI),
// `bench --backend cuda` and an agent offering cuda fail with exit 1 and
// the one line that says why; a bad cuda option stays a usage error.
func TestCudaWithoutDriver(t *testing.T) {
	if _, err := os.Stat("/dev/nvidiactl"); err == nil {
		t.Skip("an NVIDIA driver is installed here")
	}
	const line = "cuda: libcuda.so.1 not found: the NVIDIA driver is not installed in this guest"
	cfg := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(cfg, []byte("backends:\n  - name: gpu\n    kind: cuda\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bench", "--backend", "cuda", "--scenario", "offline", "--out", t.TempDir()}, exitFailure, line},
		{[]string{"agent", "--config", cfg, "--listen", "127.0.0.1:0"}, exitFailure, cfg + ": backends[0].options: " + line},
		{[]string{"bench", "--backend", "cuda", "--backend-opt", "dtype=fp8", "--out", t.TempDir()}, exitUsage, `option dtype="fp8": want fp16 or fp32`},
	} {
		cmd := newRootCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(c.args)
		err := cmd.Execute()
		if code := exitCode(err, false); code != c.code || err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("gpuperf %s: exit %d, %v; want exit %d and one line with %q", strings.Join(c.args, " "), code, err, c.code, c.want)
		}
	}
}

func TestPrintProbe(t *testing.T) {
	var out bytes.Buffer
	facts := map[string]string{"device": "NVIDIA H200", "compute_capability": "9.0", "sms": "132", "clock_mhz": "1980",
		"clock_source": "nvml", "pci_bus_id": "00000000:1B:00.0", "cuda_version": "12.4", "launch_latency_p50_us": "4.1",
		"launch_latency_p99_us": "6.3", "h2d_pinned_gbps": "51.2", "h2d_pageable_gbps": "19.9", "d2h_pinned_gbps": "50.8",
		"d2h_pageable_gbps": "17.0", "gemm_fp16_tflops": "301.5", "gemm_size": "4096", "peak_fp16_tflops": "1070",
		"gemm_fp16_pct_of_peak": "28.18", "gemm_fp32_tflops": "21.7"}
	if err := printProbe(&out, facts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NVIDIA H200 (sm_90, 132 SMs at 1980 MHz from nvml", "p50 4.1 µs, p99 6.3 µs", "pinned 51.2 GB/s, pageable 19.9 GB/s",
		"301.5 TFLOP/s (4096³ GEMM), 28.18% of the 1070 TFLOP/s peak", "fp32 compute    21.7 TFLOP/s (4096³ GEMM)\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := printProbe(&out, map[string]string{"error": "no driver"}); err != nil || out.Len() != 0 {
		t.Errorf("an error printed %q, %v; want nothing (the Serving row says it)", out.String(), err)
	}
}
