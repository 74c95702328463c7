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
