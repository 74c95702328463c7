package main

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/results"
)

// fairTree writes a gpuperf tree of two hosts, "bm" (baseline) and "vm"
// (candidate), with the given NVIDIA driver versions in their
// fingerprints, and three interleaved Offline pairs, the candidate about
// 4% slower.
func fairTree(t *testing.T, baseDriver, candDriver string) string {
	t.Helper()
	tree, err := results.Create(t.TempDir(), "fair")
	if err != nil {
		t.Fatal(err)
	}
	m := &results.Manifest{Schema: results.ManifestSchema, RunID: "fair", Model: "resnet50", Backend: "sim", Profile: "quick", Order: "interleaved"}
	for _, h := range []struct{ name, role, driver string }{{"bm", results.RoleBaseline, baseDriver}, {"vm", results.RoleCandidate, candDriver}} {
		fp := gpu.Fingerprint{Schema: gpu.FingerprintSchema, Hostname: h.name, OS: "linux", Arch: "amd64", Version: "test",
			NVML: gpu.NVMLInfo{Available: true, DriverVersion: h.driver, CUDADriverVersion: "12.4", DeviceCount: 1},
			GPUs: []gpu.DeviceInfo{{Name: "NVIDIA A100-SXM4-80GB", UUID: "GPU-" + h.name, MemoryMiB: 81920, ECCMode: "enabled", MIGMode: "disabled"}}}
		b, err := json.Marshal(fp)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := json.Marshal(map[string]any{"agentVersion": "test", "hostname": h.name, "fingerprintJson": base64.StdEncoding.EncodeToString(b)})
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.WriteHost(h.name, desc); err != nil {
			t.Fatal(err)
		}
		m.Hosts = append(m.Hosts, results.Host{Name: h.name, Role: h.role})
	}
	seq := 0
	for k, v := range [][2]float64{{1000, 960}, {1010, 968}, {995, 955}} {
		for i, host := range []string{"bm", "vm"} {
			s := inference.DefaultTestSettings()
			s.Scenario = inference.Offline
			res := &inference.Result{Schema: inference.ResultSchema, Version: "test", Model: "resnet50", Backend: "sim", Profile: "quick",
				Requested: s, Effective: s.Effective(inference.QSL{TotalSampleCount: 1024, PerformanceSampleCount: 1024}),
				SamplesPerSecond: v[i], QueriesIssued: 1,
				Metric: inference.Metric{Name: "result_samples_per_second", Value: v[i], Unit: "samples/s", HigherIsBetter: true}}
			res.Validity.Valid = true
			js, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			dir := results.RunDir(host, "resnet50", inference.Offline, k)
			if err := tree.WriteRun(dir, results.RunFiles{Result: js}); err != nil {
				t.Fatal(err)
			}
			m.Runs = append(m.Runs, results.RunRecord{Host: host, Role: map[string]string{"bm": results.RoleBaseline, "vm": results.RoleCandidate}[host],
				Scenario: "Offline", Repetition: k, Sequence: seq, Status: results.StatusOK, Dir: dir, Valid: true})
			seq++
		}
	}
	if err := tree.WriteManifest(m); err != nil {
		t.Fatal(err)
	}
	return tree.Root
}

func TestCompareStrict(t *testing.T) {
	drift := fairTree(t, "550.54.15", "535.161.08")
	same := fairTree(t, "550.54.15", "550.90.07")
	const driverLine = "NVIDIA driver (guest driver in a VM) (baseline 550.54.15, candidate 535.161.08: driver branch 550 vs 535)"

	// Without --strict the preflight comes first, then the numbers.
	out, errOut, code := run(t, nil, "compare", drift)
	if code != 0 {
		t.Fatalf("compare: exit %d\n%s%s", code, out, errOut)
	}
	pre, table := strings.Index(out, "Fairness preflight: 1 material difference"), strings.Index(out, "RETAINED")
	if pre < 0 || table < 0 || pre > table {
		t.Errorf("the preflight must precede the numbers:\n%s", out)
	}
	if !strings.Contains(out, "! NVIDIA driver (guest driver in a VM): baseline 550.54.15") {
		t.Errorf("the material difference is not marked:\n%s", out)
	}

	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"flag", nil, []string{"compare", "--strict", drift}},
		{"environment", []string{"GPUPERF_STRICT=true"}, []string{"compare", drift}},
		// Exit 2 wins over the regression the gate would find.
		{"before the gate", nil, []string{"compare", "--strict", "--gate", "regression", "--min-retained", "99", drift}},
		{"two folders", nil, []string{"compare", "--strict", filepath.Join(drift, "bm"), filepath.Join(drift, "vm")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, tc.env, tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s%s", code, out, errOut)
			}
			if !strings.Contains(errOut, "--strict: refusing to compare, the sides differ materially in 1 item(s): "+driverLine) {
				t.Errorf("stderr does not list the difference:\n%s", errOut)
			}
			if !strings.Contains(out, "Fairness preflight: 1 material difference") || strings.Contains(out, "BENCHMARK") || strings.Contains(out, "RETAINED") {
				t.Errorf("stdout must show the preflight and no numbers:\n%s", out)
			}
		})
	}

	// The same driver branch is no material difference: --strict compares.
	out, errOut, code = run(t, nil, "compare", "--strict", same)
	if code != 0 || !strings.Contains(out, "Fairness preflight: 0 material differences") || !strings.Contains(out, "RETAINED") {
		t.Errorf("compare --strict on a fair pair: exit %d\n%s%s", code, out, errOut)
	}
}

// A published pair whose drivers are of different branches (v3.0 Dell
// XE8545 A100, 525.85.12 bare metal, 515.65.01 under vSphere).
func TestCompareStrictPublished(t *testing.T) {
	d := mlperfResults(t)
	base, cand := filepath.Join(d, "v3.0/Dell/XE8545_A100_SXM4_80GBx4_TRT"), filepath.Join(d, "v3.0/Dell/vXE8545_A100_SXM_80GBx4_TRT")
	out, errOut, code := run(t, nil, "compare", "--strict", base, cand)
	if code != 2 || !strings.Contains(errOut, "(baseline 525.85.12, candidate 515.65.01: driver branch 525 vs 515)") {
		t.Errorf("exit %d, want 2 naming the drivers\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, nil, "compare", "--wide", base, cand)
	if code != 0 || !strings.Contains(out, "same GPU (A100 SXM); the candidate is vGPU profile 80C") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}
