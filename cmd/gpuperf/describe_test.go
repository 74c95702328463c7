package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/gpu"
)

// describeJSON runs describe --json and decodes the fingerprint.
func describeJSON(t *testing.T, args ...string) gpu.Fingerprint {
	t.Helper()
	out, errb, code := run(t, nil, append([]string{"describe", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("describe --json %q: exit %d: %s", args, code, errb)
	}
	var fp gpu.Fingerprint
	if err := json.Unmarshal([]byte(out), &fp); err != nil {
		t.Fatalf("describe --json: %v\n%s", err, out)
	}
	return fp
}

func TestDescribeLocal(t *testing.T) {
	fp := describeJSON(t)
	if fp.Schema != gpu.FingerprintSchema || fp.Host.CPUsOnline < 1 || fp.Host.Kernel == "" || fp.Virtualization.Verdict.Kind == "" {
		t.Errorf("fingerprint: %+v", fp)
	}
	out, _, code := run(t, nil, "describe")
	if code != 0 || !strings.Contains(out, "Environment") || !strings.Contains(out, fp.Virtualization.Verdict.Summary) {
		t.Fatalf("describe: exit %d\n%s", code, out)
	}
	if fp.NVML.Available {
		return
	}
	// This development machine: no GPU, and it says so and what it is.
	if !strings.Contains(out, "NVML          unavailable: ") || !strings.Contains(out, "no NVIDIA GPU visible") {
		t.Errorf("describe without NVML:\n%s", out)
	}
	if _, err := os.Stat("/.dockerenv"); err == nil && fp.Virtualization.Verdict.Container != "docker" {
		t.Errorf("in Docker, verdict %+v", fp.Virtualization.Verdict)
	}
}

func TestDescribeAgent(t *testing.T) {
	a := startAgent(t)
	fp := describeJSON(t, "--agent", a.addr)
	if fp.Schema != gpu.FingerprintSchema || fp.Hostname == "" || fp.Virtualization.Verdict.Kind == "" {
		t.Errorf("agent fingerprint: %+v", fp)
	}
	out, _, code := run(t, nil, "describe", "--agent", a.addr)
	if code != 0 || !strings.Contains(out, "Agent backends") || !strings.Contains(out, "cpu (cpu)") {
		t.Errorf("describe --agent: exit %d\n%s", code, out)
	}
}

func TestDescribeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"describe", "--tls-ca", "ca.pem"},
		{"describe", "--agent", "10.1.2.3:7070"},
		{"describe", "--agent", "nonsense"},
		{"describe", "extra"},
	} {
		_, errb, code := run(t, nil, args...)
		if code != 2 {
			t.Errorf("%q: exit %d (%s); want 2", args, code, errb)
		}
	}
}
