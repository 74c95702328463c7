package results

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/internal/testpaths"
)

// fxHost is one host of a fixture tree: its role and fingerprint (a file
// under testdata/fairness, edited by edit when set).
type fxHost struct {
	name, role, fingerprint string
	edit                    func(*gpu.Fingerprint)
	// hostDriver, when set, gives the host a hypervisor agent (a bare
	// metal fingerprint) whose driver is the vGPU manager's version.
	hostDriver string
}

// fxRun is one run of a fixture tree. value is the headline (samples/s for
// Offline, the early-stopping latency in ns for SingleStream); mod edits
// the result before it is written; csv is telemetry.csv.
type fxRun struct {
	host  string
	sc    inference.Scenario
	rep   int
	value float64
	mod   func(*inference.Result)
	csv   string
}

// fxFingerprint reads a fixture fingerprint.
func fxFingerprint(t *testing.T, name string, edit func(*gpu.Fingerprint)) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fairness", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var fp gpu.Fingerprint
	if err := json.Unmarshal(b, &fp); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if edit != nil {
		edit(&fp)
	}
	if b, err = json.Marshal(fp); err != nil {
		t.Fatal(err)
	}
	return b
}

// fxTree writes a gpuperf tree as the coordinator does (host.json as the
// agent's Describe in protojson, its fingerprint_json bytes in base64;
// result.json per run) and compares it.
func fxTree(t *testing.T, hosts []fxHost, runs []fxRun, opts Options) *Comparison {
	t.Helper()
	tree, err := Create(t.TempDir(), "fx")
	if err != nil {
		t.Fatal(err)
	}
	m := &Manifest{Schema: ManifestSchema, RunID: "fx", Model: "resnet50", Backend: "sim", Profile: "quick", Order: "interleaved"}
	roles := map[string]string{}
	for _, h := range hosts {
		roles[h.name] = h.role
		m.Hosts = append(m.Hosts, Host{Name: h.name, Role: h.role})
		desc, err := json.Marshal(map[string]any{
			"agentVersion": "0.9.0", "hostname": h.name,
			"fingerprintJson": base64.StdEncoding.EncodeToString(fxFingerprint(t, h.fingerprint, h.edit)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.WriteHost(h.name, desc); err != nil {
			t.Fatal(err)
		}
		if h.hostDriver != "" {
			fp := fxFingerprint(t, "baremetal", func(fp *gpu.Fingerprint) { fp.NVML.DriverVersion = h.hostDriver })
			desc, err := json.Marshal(map[string]any{"agentVersion": "0.9.0", "fingerprintJson": base64.StdEncoding.EncodeToString(fp)})
			if err != nil {
				t.Fatal(err)
			}
			if err := tree.WriteHypervisor(h.name, desc); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, r := range runs {
		dir := RunDir(r.host, "resnet50", r.sc, r.rep)
		s := inference.DefaultTestSettings()
		s.Scenario = r.sc
		s.QSLRNGSeed, s.SampleIndexRNGSeed, s.ScheduleRNGSeed = inference.OfficialQSLSeed, inference.OfficialSampleIndexSeed, inference.OfficialScheduleSeed
		res := &inference.Result{
			Schema: inference.ResultSchema, Version: "0.9.0", Model: "resnet50", Backend: "sim", Profile: "quick",
			BackendOpts: map[string]string{"servers": "4", "batch": "8"},
			Requested:   s, Effective: s.Effective(inference.QSL{TotalSampleCount: 1024, PerformanceSampleCount: 1024}),
			QueriesIssued: 1000, TargetPercentile: 0.9,
		}
		res.Validity.Valid = true
		res.Health.HostStealPct = -1
		res.Health.HostStealNote = "not measured"
		switch r.sc {
		case inference.Offline:
			res.SamplesPerSecond = r.value
			res.Metric = inference.Metric{Name: "result_samples_per_second", Value: r.value, Unit: "samples/s", HigherIsBetter: true}
		case inference.SingleStream:
			res.EarlyStopping.EstimateNs = int64(r.value)
			res.TargetLatencyNs = int64(r.value)
			res.Metric = inference.Metric{Name: "early_stopping_latency_ss", Value: r.value, Unit: "ns"}
		case inference.Server:
			res.CompletedSamplesPerSecond = r.value
			res.Metric = inference.Metric{Name: "result_completed_samples_per_second", Value: r.value, Unit: "samples/s", HigherIsBetter: true}
		default:
			t.Fatalf("fixture scenario %v", r.sc)
		}
		if r.mod != nil {
			r.mod(res)
		}
		js, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		files := RunFiles{Result: js}
		if r.csv != "" {
			files.Telemetry = []byte(r.csv)
		}
		if err := tree.WriteRun(dir, files); err != nil {
			t.Fatal(err)
		}
		m.Runs = append(m.Runs, RunRecord{Host: r.host, Role: roles[r.host], Scenario: r.sc.String(), Repetition: r.rep, Sequence: i,
			Status: StatusOK, Dir: dir, Valid: true})
	}
	if err := tree.WriteManifest(m); err != nil {
		t.Fatal(err)
	}
	c, err := Compare(tree, m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fxPairs lays out reps interleaved Offline pairs, baseline "bm" and
// candidate "vm", with the given edits.
func fxPairs(reps int, base, cand func(k int, r *inference.Result)) []fxRun {
	var out []fxRun
	for k := range reps {
		b := fxRun{host: "bm", sc: inference.Offline, rep: k, value: 1000 + float64(k%2)*5}
		c := fxRun{host: "vm", sc: inference.Offline, rep: k, value: 950 + float64(k%2)*5}
		if base != nil {
			b.mod = func(r *inference.Result) { base(k, r) }
		}
		if cand != nil {
			c.mod = func(r *inference.Result) { cand(k, r) }
		}
		out = append(out, b, c)
	}
	return out
}

func item(f *Fairness, key string) (FairnessItem, bool) {
	i := slices.IndexFunc(f.Items, func(it FairnessItem) bool { return it.Key == key })
	if i < 0 {
		return FairnessItem{}, false
	}
	return f.Items[i], true
}

func materialKeys(f *Fairness) []string {
	var k []string
	for _, it := range f.Material() {
		k = append(k, it.Key)
	}
	return k
}

// TestFairnessGpuperf diffs fixture fingerprints (and what the runs
// recorded) pair by pair; each case names the material items it expects,
// the items that must differ without being material, and notes.
func TestFairnessGpuperf(t *testing.T) {
	unlicensed := func(fp *gpu.Fingerprint) {
		fp.GPUs[0].VGPULicense = &gpu.License{Supported: true, Licensed: false, State: "unlicensed_restricted"}
	}
	twoGPUs := func(fp *gpu.Fingerprint) {
		g := fp.GPUs[0]
		g.Index, g.Serial, g.UUID = 1, "1322021000002", "GPU-second"
		fp.GPUs = append(fp.GPUs, g)
		fp.NVML.DeviceCount = 2
	}
	seeds := func(_ int, r *inference.Result) { r.Requested.ScheduleRNGSeed, r.Effective.ScheduleRNGSeed = 42, 42 }
	batch := func(_ int, r *inference.Result) {
		r.BackendOpts = map[string]string{"servers": "4", "batch": "16", "endpoint": "10.0.0.9:8001"}
	}
	shared := func(_ int, r *inference.Result) {
		on := true
		r.GPUState = mustJSON(gpu.Preflight{Devices: []gpu.DeviceState{{Index: 0, PersistenceMode: &on, Processes: []gpu.Process{{PID: 77, Name: "python3", UsedMiB: 2048}}}}})
	}
	for _, tc := range []struct {
		name         string
		base, cand   fxHost
		candMod      func(int, *inference.Result)
		perGPU       bool
		material     []string
		immaterial   []string // must differ, and not be material
		notes        map[string]string
		samePhysical string
	}{
		{
			name: "bare metal vs vGPU guest with another driver",
			base: fxHost{name: "bm", role: RoleBaseline, fingerprint: "baremetal"},
			cand: fxHost{name: "vm", role: RoleCandidate, fingerprint: "vgpu-guest"},
			// 535 vs 550 is another driver branch; the vGPU's own name and
			// attachment differ as the comparison intends.
			material:   []string{"driver.version"},
			immaterial: []string{"platform", "gpu.model", "gpu.attachment", "gpu.license", "gpu.power_limit", "driver.cuda", "cpu.count", "host.memory", "numa", "cpu.governor"},
			notes: map[string]string{
				"driver.version":  "driver branch 550 vs 535",
				"gpu.model":       "the candidate is vGPU profile 80C",
				"gpu.power_limit": "not reported by the candidate",
			},
			samePhysical: SameGPUUnknown, // the guest reports no serial
		},
		{
			name:         "passthrough VM on the same physical GPU",
			base:         fxHost{name: "bm", role: RoleBaseline, fingerprint: "baremetal"},
			cand:         fxHost{name: "vm", role: RoleCandidate, fingerprint: "passthrough"},
			immaterial:   []string{"platform", "gpu.attachment", "gpu.pcie", "cpu.count"},
			samePhysical: SameGPUYes,
		},
		{
			name:         "MIG on one side",
			base:         fxHost{name: "bm", role: RoleBaseline, fingerprint: "baremetal"},
			cand:         fxHost{name: "vm", role: RoleCandidate, fingerprint: "mig"},
			material:     []string{"gpu.mig"},
			immaterial:   []string{"gpu.serial"},
			notes:        map[string]string{"gpu.mig": "slice of the GPU"},
			samePhysical: SameGPUNo,
		},
		{
			name:         "unlicensed vGPU",
			base:         fxHost{name: "bm", role: RoleBaseline, fingerprint: "baremetal"},
			cand:         fxHost{name: "vm", role: RoleCandidate, fingerprint: "vgpu-guest", edit: unlicensed},
			material:     []string{"gpu.license", "driver.version"},
			notes:        map[string]string{"gpu.license": "candidate's vGPU is unlicensed"},
			samePhysical: SameGPUUnknown,
		},
		{
			name:         "other seeds",
			base:         fxHost{name: "bm", role: RoleBaseline, fingerprint: "baremetal"},
			cand:         fxHost{name: "vm", role: RoleCandidate, fingerprint: "passthrough"},
			candMod:      seeds,
			material:     []string{"loadgen.resnet50 Offline"},
			notes:        map[string]string{"loadgen.resnet50 Offline": "differs in effective_seeds, schedule_rng_seed"},
			samePhysical: SameGPUYes,
		},
		{
			name:    "another batch size; another endpoint is no difference that matters",
			base:    fxHost{name: "bm", role: RoleBaseline, fingerprint: "baremetal"},
			cand:    fxHost{name: "vm", role: RoleCandidate, fingerprint: "passthrough"},
			candMod: batch,
			// "endpoint" exists on one side only.
			material:     []string{"backend.batch"},
			immaterial:   []string{"backend.option.endpoint"},
			samePhysical: SameGPUYes,
		},
		{
			name:         "GPU shared with another process",
			base:         fxHost{name: "bm", role: RoleBaseline, fingerprint: "baremetal"},
			cand:         fxHost{name: "vm", role: RoleCandidate, fingerprint: "passthrough"},
			candMod:      shared,
			material:     []string{"gpu.processes"},
			notes:        map[string]string{"gpu.processes": "candidate's GPU was shared"},
			samePhysical: SameGPUYes,
		},
		{
			name:         "two GPUs against one",
			base:         fxHost{name: "bm", role: RoleBaseline, fingerprint: "baremetal", edit: twoGPUs},
			cand:         fxHost{name: "vm", role: RoleCandidate, fingerprint: "passthrough"},
			material:     []string{"gpu.count"},
			samePhysical: SameGPUNo,
		},
		{
			name:         "two GPUs against one, per GPU",
			base:         fxHost{name: "bm", role: RoleBaseline, fingerprint: "baremetal", edit: twoGPUs},
			cand:         fxHost{name: "vm", role: RoleCandidate, fingerprint: "passthrough"},
			perGPU:       true,
			immaterial:   []string{"gpu.count"},
			notes:        map[string]string{"gpu.count": "normalised by --per-gpu"},
			samePhysical: SameGPUNo,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fxTree(t, []fxHost{tc.base, tc.cand}, fxPairs(2, nil, tc.candMod), Options{PerGPU: tc.perGPU})
			f := CheckFairness(c)
			got := materialKeys(f)
			if !slices.Equal(got, tc.material) {
				t.Errorf("material = %v, want %v\n%s", got, tc.material, dumpFairness(f))
			}
			if f.MaterialDifferences != len(tc.material) {
				t.Errorf("material_differences = %d, want %d", f.MaterialDifferences, len(tc.material))
			}
			for _, k := range tc.immaterial {
				it, ok := item(f, k)
				if !ok || it.Same || it.Material {
					t.Errorf("%s = %+v (present %v); want a difference that is not material", k, it, ok)
				}
			}
			for k, want := range tc.notes {
				if it, _ := item(f, k); !strings.Contains(it.Note, want) {
					t.Errorf("%s note = %q; want it to contain %q", k, it.Note, want)
				}
			}
			if f.SamePhysicalGPU != tc.samePhysical {
				t.Errorf("same physical GPU = %s, want %s", f.SamePhysicalGPU, tc.samePhysical)
			}
			// Identical facts are items too, marked same.
			for _, k := range []string{"gpu.ecc", "backend", "gpuperf.version"} {
				if it, ok := item(f, k); !ok || !it.Same {
					t.Errorf("%s = %+v (present %v); want it reported as the same", k, it, ok)
				}
			}
		})
	}
}

// TestFairnessValues checks the printed values of the bare-metal vs vGPU
// fixture, read from the fixture files by hand.
func TestFairnessValues(t *testing.T) {
	c := fxTree(t, []fxHost{{name: "bm", role: RoleBaseline, fingerprint: "baremetal"}, {name: "vm", role: RoleCandidate, fingerprint: "vgpu-guest"}},
		fxPairs(2, nil, nil), Options{})
	f := CheckFairness(c)
	for key, want := range map[string][2]string{
		"gpu.model":       {"NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-80C"},
		"gpu.count":       {"1", "1"},
		"gpu.memory":      {"80 GiB", "80 GiB"},
		"gpu.attachment":  {"none", "vGPU NVIDIA A100-SXM4-80C"},
		"gpu.license":     {"n/a (not a vGPU guest)", "licensed NVIDIA Virtual Compute Server"},
		"driver.version":  {"550.54.15", "535.161.08"},
		"driver.cuda":     {"12.4", "12.2"},
		"gpu.power_limit": {"400 W", ""},
		"gpu.ecc":         {"enabled", "enabled"},
		"gpu.mig":         {"disabled", "disabled"},
		"cpu.model":       {"AMD EPYC 7763 64-Core Processor", "AMD EPYC 7763 64-Core Processor"},
		"cpu.count":       {"128", "16"},
		"host.memory":     {"1008 GiB", "126 GiB"},
		"cpu.governor":    {"performance", "none: no cpufreq driver (usual in a VM)"},
		"numa":            {"unpinned (agent may run on CPUs 0-127; GPU on node 0, local CPUs 0-63)", "one NUMA node"},
		"platform":        {"bare metal", "VM with NVIDIA vGPU on VMware"},
		"os":              {"Ubuntu 24.04.1 LTS, kernel 6.8.0-45-generic", "Ubuntu 22.04.4 LTS, kernel 5.15.0-105-generic"},
		"backend":         {"sim", "sim"},
		"backend.batch":   {"8", "8"},
		"gpuperf.version": {"0.9.0", "0.9.0"},
		"gpu.pcie":        {"Gen4 x16", ""},
	} {
		it, ok := item(f, key)
		if !ok {
			t.Errorf("%s: missing", key)
			continue
		}
		if it.Baseline != want[0] || it.Candidate != want[1] {
			t.Errorf("%s = %q | %q, want %q | %q", key, it.Baseline, it.Candidate, want[0], want[1])
		}
	}
	it, _ := item(f, "loadgen.resnet50 Offline")
	if !it.Same || !strings.Contains(it.Baseline, "profile quick") || !strings.Contains(it.Baseline, "2085463073848966840") {
		t.Errorf("settings item = %+v; want identical, with the profile and the official QSL seed", it)
	}
	if _, ok := item(f, "gpu.serial"); !ok {
		t.Error("the baseline's serial is not reported")
	}
}

func TestFairnessGPUModel(t *testing.T) {
	for _, tc := range []struct {
		b, c     string
		material bool
		note     string
	}{
		{"NVIDIA A100-SXM-80GB CTS", "NVIDIA A100-SXM-80C", false, "the candidate is vGPU profile 80C"},
		{"NVIDIA H100-PCIe-80GB", "NVIDIA H100-80C", false, "same GPU (H100)"},
		{"NVIDIA L40S", "Virtualized NVIDIA L40S", false, "named differently"},
		{"NVIDIA A100-SXM4-80GB", "GRID A100-SXM4-40C", false, "vGPU profile 40C"},
		{"NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe", true, "different GPUs"},
		{"NVIDIA A100-SXM4-80GB", "NVIDIA H100-SXM-80GB", true, "different GPUs"},
	} {
		m, note := ruleGPUModel(tc.b, tc.c, &fairCtx{})
		if m != tc.material || !strings.Contains(note, tc.note) {
			t.Errorf("%q vs %q: material %v note %q; want %v, %q", tc.b, tc.c, m, note, tc.material, tc.note)
		}
	}
}

// fxSharedMLPerf is the published MLPerf results, or skips.
func fxSharedMLPerf(t *testing.T) string { return testpaths.MLPerf(t) }

// TestFairnessPublished diffs real MLPerf system descriptions; the
// expected values are read off the systems/*.json files by hand.
func TestFairnessPublished(t *testing.T) {
	d := fxSharedMLPerf(t)
	for _, tc := range []struct {
		name, base, cand string
		perGPU           bool
		material         []string
		values           map[string][2]string
		notes            map[string]string
	}{
		{
			name: "v3.0 A100 bare metal vs vSphere vGPU", base: "v3.0/Dell/XE8545_A100_SXM4_80GBx4_TRT", cand: "v3.0/Dell/vXE8545_A100_SXM_80GBx4_TRT",
			material: []string{"driver.version"},
			values: map[string][2]string{
				"gpu.model":      {"NVIDIA A100-SXM-80GB CTS", "NVIDIA A100-SXM-80C"},
				"gpu.count":      {"4", "4"},
				"gpu.memory":     {"80 GB", "80 GB"},
				"driver.version": {"525.85.12", "515.65.01"},
				"driver.cuda":    {"12.0", "12.0"},
				"cpu.model":      {"AMD EPYC 7763", "AMD EPYC 7543"},
				"host.memory":    {"2 TB", "1 TB"},
				"gpu.attachment": {"none stated", "vGPU profile 80C"},
				"platform":       {"bare metal (no hypervisor named)", "virtualized (VMware vSphere 8.0.1)"},
			},
			notes: map[string]string{"gpu.model": "vGPU profile 80C", "driver.version": "525 vs 515"},
		},
		{
			name: "v4.0 L40S bare metal vs ESXi", base: "v4.0/Dell/R760_L40Sx2_TRT", cand: "v4.0/Dell/vR760_L40S_48Cx2_TRT",
			material: []string{"driver.version"},
			values: map[string][2]string{
				"gpu.model":        {"NVIDIA L40S", "Virtualized NVIDIA L40S"},
				"gpu.attachment":   {"none stated", "vGPU profile 48C"},
				"driver.version":   {"545.23.08", "535.129.03"},
				"driver.cuda":      {"12.3", "12.2"},
				"mlperf.framework": {"TensorRT 9.3.0, CUDA 12.3", "TensorRT 9.3.0, CUDA 12.2"},
				"gpu.interconnect": {"PCIe 5.0 x16", "PCIe Gen4 x16"},
				"platform":         {"bare metal (no hypervisor named)", "virtualized (VMware ESXi 8.0.2 22380479)"},
			},
			notes: map[string]string{"mlperf.framework": "same framework"},
		},
		{
			name: "v4.0 four GPUs against two", base: "v4.0/Dell/R760xa_L40Sx4_TRT", cand: "v4.0/Dell/vR760_L40S_48Cx2_TRT",
			material: []string{"gpu.count", "driver.version"},
			values:   map[string][2]string{"gpu.count": {"4", "2"}, "driver.version": {"525.105.17", "535.129.03"}},
		},
		{
			name: "v4.0 four GPUs against two, per GPU", base: "v4.0/Dell/R760xa_L40Sx4_TRT", cand: "v4.0/Dell/vR760_L40S_48Cx2_TRT", perGPU: true,
			material: []string{"driver.version"},
			notes:    map[string]string{"gpu.count": "normalised by --per-gpu"},
		},
		{
			name: "v5.0 two submitters", base: "v5.0/Cisco/C885A_H100_SXMx8_TRT", cand: "v5.0/Dell/vXE9680_H100_SXM_80GBx8_TRT",
			material: []string{"driver.version"},
			values: map[string][2]string{
				"gpu.model":      {"NVIDIA H100-SXM-80GB", "Virtualized NVIDIA H100-SXM-80GB"},
				"driver.version": {"570.86.10", "550.127.06"},
				"driver.cuda":    {"12.8", "12.4"},
				"gpu.attachment": {"none stated", "virtualized (profile not stated)"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, err := ReadSource(filepath.Join(d, tc.base), RoleBaseline)
			if err != nil {
				t.Fatal(err)
			}
			cand, err := ReadSource(filepath.Join(d, tc.cand), RoleCandidate)
			if err != nil {
				t.Fatal(err)
			}
			c, err := CompareSources(base, cand, Options{PerGPU: tc.perGPU})
			if err != nil {
				t.Fatal(err)
			}
			f := CheckFairness(c)
			if got := materialKeys(f); !slices.Equal(got, tc.material) {
				t.Errorf("material = %v, want %v\n%s", got, tc.material, dumpFairness(f))
			}
			for k, want := range tc.values {
				it, ok := item(f, k)
				if !ok || it.Baseline != want[0] || it.Candidate != want[1] {
					t.Errorf("%s = %q | %q (present %v), want %q | %q", k, it.Baseline, it.Candidate, ok, want[0], want[1])
				}
			}
			for k, want := range tc.notes {
				if it, _ := item(f, k); !strings.Contains(it.Note, want) {
					t.Errorf("%s note = %q; want it to contain %q", k, it.Note, want)
				}
			}
			if f.SamePhysicalGPU != SameGPUUnknown {
				t.Errorf("same physical GPU = %s; published results carry no serials", f.SamePhysicalGPU)
			}
			if c.Findings != nil {
				t.Errorf("published results carry no telemetry, yet findings %+v", c.Findings)
			}
		})
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// dumpFairness shows the items in a failure message.
func dumpFairness(f *Fairness) string {
	b, err := json.MarshalIndent(f.Items, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// Two candidate hosts: their values join, their GPU counts add up, and a
// MIG host among them is a material difference.
func TestFairnessSeveralHosts(t *testing.T) {
	serving := func(model string) func(*gpu.Fingerprint) {
		return func(fp *gpu.Fingerprint) {
			fp.Serving = map[string]map[string]string{"triton": {"server_version": "2.50.0", "model_name": model}}
		}
	}
	hosts := []fxHost{
		{name: "bm", role: RoleBaseline, fingerprint: "baremetal", edit: serving("resnet50")},
		{name: "vm", role: RoleCandidate, fingerprint: "passthrough", edit: serving("resnet50")},
		{name: "vm2", role: RoleCandidate, fingerprint: "mig", edit: serving("resnet50-int8")},
	}
	var runs []fxRun
	for k := range 2 {
		for _, h := range []string{"bm", "vm", "vm2"} {
			runs = append(runs, fxRun{host: h, sc: inference.Offline, rep: k, value: 1000 - float64(k)})
		}
	}
	c := fxTree(t, hosts, runs, Options{})
	f := c.Fairness
	if f == nil {
		t.Fatal("Compare left the fairness preflight out")
	}
	for key, want := range map[string][2]string{
		"gpu.count":                     {"1", "2"},
		"gpu.mig":                       {"disabled", "disabled | enabled"},
		"gpu.serial":                    {"1322021000001", "1322021000001 | 1322021000777"},
		"serving.triton.model_name":     {"resnet50", "resnet50 | resnet50-int8"},
		"serving.triton.server_version": {"2.50.0", "2.50.0"},
	} {
		if it, ok := item(f, key); !ok || it.Baseline != want[0] || it.Candidate != want[1] {
			t.Errorf("%s = %q | %q (present %v), want %q | %q", key, it.Baseline, it.Candidate, ok, want[0], want[1])
		}
	}
	if got, want := materialKeys(f), []string{"gpu.count", "gpu.mig", "serving.triton.model_name"}; !slices.Equal(got, want) {
		t.Errorf("material = %v, want %v\n%s", got, want, dumpFairness(f))
	}
	if f.SamePhysicalGPU != SameGPUNo {
		t.Errorf("same physical GPU = %s", f.SamePhysicalGPU)
	}
}

// TestFairnessVGPUHostDriver: the vGPU manager's branch, read from the
// hypervisor agents' descriptions, is material when two vGPU hosts differ
// in it, and only a note when one side has no vGPU host.
func TestFairnessVGPUHostDriver(t *testing.T) {
	for _, tc := range []struct {
		name               string
		base, cand         string
		baseFP             string
		material           bool
		note, baseV, candV string
	}{
		{"other branch", "535.183.01", "550.90.05", "vgpu-guest", true, "driver branch 535 vs 550", "535.183.01", "550.90.05"},
		{"same branch", "550.54.16", "550.90.05", "vgpu-guest", false, "same driver branch 550", "550.54.16", "550.90.05"},
		{"bare-metal baseline", "", "550.90.05", "baremetal", false, "not reported by the baseline", "", "550.90.05"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hosts := []fxHost{
				{name: "a", role: RoleBaseline, fingerprint: tc.baseFP, hostDriver: tc.base},
				{name: "b", role: RoleCandidate, fingerprint: "vgpu-guest", hostDriver: tc.cand},
			}
			var runs []fxRun
			for k := range 2 {
				runs = append(runs, fxRun{host: "a", sc: inference.Offline, rep: k, value: 1000}, fxRun{host: "b", sc: inference.Offline, rep: k, value: 990})
			}
			c := fxTree(t, hosts, runs, Options{})
			var it *FairnessItem
			for i := range c.Fairness.Items {
				if c.Fairness.Items[i].Key == "vgpu.host_driver" {
					it = &c.Fairness.Items[i]
				}
			}
			if it == nil {
				t.Fatalf("no vgpu.host_driver item:\n%s", dumpFairness(c.Fairness))
			}
			if it.Material != tc.material || it.Note != tc.note || it.Baseline != tc.baseV || it.Candidate != tc.candV {
				t.Errorf("item = %+v; want material %v, note %q, values %q / %q", *it, tc.material, tc.note, tc.baseV, tc.candV)
			}
			if c.Baseline.Hosts[0].HypervisorFile == "" && tc.base != "" {
				t.Errorf("baseline host: no hypervisor_file")
			}
		})
	}
}

// Triton's model configuration, from the kserve backend's Describe: two
// instances against one is material, the same configuration is not.
func TestFairnessServingConfig(t *testing.T) {
	config := func(instances string) func(*gpu.Fingerprint) {
		return func(fp *gpu.Fingerprint) {
			fp.Serving = map[string]map[string]string{"triton": {
				"model": "resnet50", "config_instances": instances, "config_dynamic_batching": "off", "config_error": "",
			}}
		}
	}
	hosts := []fxHost{
		{name: "bm", role: RoleBaseline, fingerprint: "baremetal", edit: config("1 per GPU on every GPU")},
		{name: "vm", role: RoleCandidate, fingerprint: "passthrough", edit: config("2 per GPU on every GPU")},
	}
	runs := []fxRun{{host: "bm", sc: inference.Offline, value: 1000}, {host: "vm", sc: inference.Offline, value: 990}}
	f := fxTree(t, hosts, runs, Options{}).Fairness
	it, ok := item(f, "serving.triton.config_instances")
	if !ok || !it.Material || !strings.Contains(it.Note, "runs the model another way") {
		t.Errorf("config_instances item = %+v, %v; want material", it, ok)
	}
	if it, ok := item(f, "serving.triton.config_dynamic_batching"); !ok || !it.Same || it.Material {
		t.Errorf("config_dynamic_batching item = %+v, %v; want the same on both sides", it, ok)
	}
}
