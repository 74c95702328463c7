package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/viper"

	"github.com/gpuperf/gpuperf/configs"
	"github.com/gpuperf/gpuperf/coordinator"
	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/internal/testpaths"
	"github.com/gpuperf/gpuperf/results"
)

// mlperfResults is the published MLPerf results, or skips.
func mlperfResults(t *testing.T) string { return testpaths.MLPerf(t) }

// copySystem copies a published system folder (and its systems/*.json)
// into a temporary results tree, applying edit to every summary.
func copySystem(t *testing.T, src string, edit func(path, text string) string) string {
	t.Helper()
	root := t.TempDir()
	sub := filepath.Join(root, "Sub")
	dst := filepath.Join(sub, filepath.Base(src))
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		text := string(b)
		if edit != nil {
			text = edit(rel, text)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), []byte(text), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	sys := filepath.Join(filepath.Dir(src), "systems", filepath.Base(src)+".json")
	if b, err := os.ReadFile(sys); err == nil {
		_ = os.MkdirAll(filepath.Join(sub, "systems"), 0o755)
		if err := os.WriteFile(filepath.Join(sub, "systems", filepath.Base(sys)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestComparePublishedExitCodes(t *testing.T) {
	d := mlperfResults(t)
	bm, vm := filepath.Join(d, "v4.0/Dell/R760_L40Sx2_TRT"), filepath.Join(d, "v4.0/Dell/vR760_L40S_48Cx2_TRT")
	invalidBase := copySystem(t, bm, func(_, text string) string {
		return strings.Replace(text, "Result is : VALID", "Result is : INVALID", 1)
	})
	invalidOne := copySystem(t, bm, func(rel, text string) string {
		if strings.HasPrefix(rel, "rnnt/Offline") {
			return strings.Replace(text, "Result is : VALID", "Result is : INVALID", 1)
		}
		return text
	})
	truncated := copySystem(t, vm, func(rel, text string) string {
		if strings.HasPrefix(rel, "rnnt/Server") {
			return text[:len(text)/2]
		}
		return text
	})
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"virtualized vs bare metal, --wide", []string{"--wide", bm, vm}, exitOK,
			[]string{"RETAINED", "95% CI", "REPS FOR ±3%", "bert-99", "Server", "92.1%", "89.5%", "chosen-target", "no interval possible",
				"Percentiles: latency percentiles are LoadGen's nearest rank, sorted[floor(n·p)]", "Gate: none (exit 0)", "stable-diffusion-xl Offline: only the candidate has it"}, nil},
		{"virtualized vs bare metal, compact", []string{bm, vm}, exitOK,
			[]string{"RETAINED [95% CI]", "bert-99\n", "  Server ", "92.1% (point)", "89.5%", "chosen-target", "Gate: none (exit 0)",
				"Percentiles: latency percentiles are LoadGen's nearest rank, sorted[floor(n·p)]", "stable-diffusion-xl Offline: only the candidate has it"}, nil},
		{"regression gate from --min-retained", []string{"--min-retained", "95", bm, vm}, 4,
			[]string{"Gate: regression at 95% retained (flag): regression (exit 4)", "bert-99 Offline: retained 92.1% is below 95%, judged on the point value"}, []string{"regression"}},
		// One published run per side: no interval, so the gate exits 0
		// but passes nothing it could not examine.
		{"regression gate exits 0, not a pass", []string{"--gate", "regression", "--min-retained", "85", bm, vm}, exitOK,
			[]string{"not shown to regress (some scenario could not be examined) (exit 0)", "3d-unet-99 Offline: not shown to regress (retained 98.2%, no interval: one repetition per side)"}, nil},
		{"qualify gate: one run per side cannot qualify", []string{"--gate", "qualify", "--min-retained", "85", bm, vm}, 5,
			[]string{"qualify at 85% retained (flag): inconclusive (exit 5)"}, []string{"cannot qualify"}},
		{"baseline INVALID: void", []string{invalidBase, vm}, 3, []string{"void"}, []string{"is INVALID"}},
		// rnnt Offline is void (3), the rest regress (4): 3 wins.
		{"void before regression", []string{"--min-retained", "99", invalidOne, vm}, 3,
			[]string{"void (exit 3)", "rnnt Offline: void", "bert-99 Offline: retained 92.1% is below 99%"}, []string{"void"}},
		{"per GPU, 4 against 2 L40S", []string{"--per-gpu", filepath.Join(d, "v4.0/Dell/R760xa_L40Sx4_TRT"), vm}, exitOK,
			[]string{"per-gpu", "96.1%", "R760xa_L40Sx4_TRT: 4 GPU(s), from systems/R760xa_L40Sx4_TRT.json accelerators_per_node"}, nil},
		{"two submitters, tokens/s", []string{filepath.Join(d, "v5.0/Cisco/C885A_H100_SXMx8_TRT"), filepath.Join(d, "v5.0/Dell/vXE9680_H100_SXM_80GBx8_TRT")}, exitOK,
			[]string{"Completed tokens/s", "tokens/s", "cross-submitter", "97.7%", "95.5%"}, nil},
		{"--baseline with one candidate", []string{"--baseline", bm, vm}, exitOK, []string{"92.1%"}, nil},
		{"mismatched scenarios", []string{filepath.Join(bm, "bert-99/Server"), filepath.Join(vm, "bert-99/Offline")}, 2, nil,
			[]string{"no benchmark and scenario in common", "[bert-99 Server]", "[bert-99 Offline]"}},
		{"missing side", []string{bm, filepath.Join(d, "v4.0/Dell/no-such-system")}, 2, nil, []string{"no-such-system", "no such file"}},
		{"empty folder", []string{bm, t.TempDir()}, 2, nil, []string{"no mlperf_log_summary.txt under this folder"}},
		{"truncated summary", []string{bm, truncated}, 2, nil, []string{filepath.Join("rnnt", "Server", "mlperf_log_summary.txt") + ":", "truncated"}},
		{"one published folder", []string{bm}, 2, nil, []string{"not a gpuperf result tree"}},
		{"three folders", []string{bm, vm, vm}, 2, nil, []string{"at most two folders"}},
		{"a plan flag with folders", []string{"--profile", "quick", bm, vm}, 2, nil, []string{"--profile runs a plan"}},
		{"bad gate", []string{"--gate", "strict", bm, vm}, 2, nil, []string{"--gate"}},
		{"bad interval", []string{"--interval", "magic", bm, vm}, 2, nil, []string{"--interval"}},
		{"bad margin", []string{"--margin", "0", bm, vm}, 2, nil, []string{"--margin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, nil, append([]string{"compare"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout, w) && !strings.Contains(flat(stdout), flat(w)) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// storedTree writes a gpuperf tree of interleaved Offline runs, the
// baseline at 1000 samples/s and the candidate at 960, give or take.
func storedTree(t *testing.T) string {
	t.Helper()
	tree, err := results.Create(t.TempDir(), "stored")
	if err != nil {
		t.Fatal(err)
	}
	m := &results.Manifest{Schema: results.ManifestSchema, RunID: "stored", Model: "resnet50", Backend: "sim", Profile: "quick", Order: "interleaved",
		Hosts: []results.Host{{Name: "bm", Role: results.RoleBaseline}, {Name: "vm", Role: results.RoleCandidate}}}
	for _, h := range m.Hosts {
		if err := tree.WriteHost(h.Name, []byte(`{"hostname":"`+h.Name+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	values := map[string][]float64{"bm": {1000, 1010, 990, 1005}, "vm": {960, 975, 950, 962}}
	for k := range 4 {
		order := []results.Host{m.Hosts[0], m.Hosts[1]}
		if k%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, h := range order {
			dir := results.RunDir(h.Name, "resnet50", inference.Offline, k)
			s := inference.DefaultTestSettings()
			s.Scenario = inference.Offline
			v := values[h.Name][k]
			res := inference.Result{Schema: inference.ResultSchema, Model: "resnet50", Requested: s, Effective: s.Effective(inference.QSL{TotalSampleCount: 1024, PerformanceSampleCount: 1024}),
				SamplesPerSecond: v, Validity: inference.Validity{Valid: true, MinDurationMet: true, MinQueriesMet: true, EarlyStoppingMet: true},
				Metric: inference.Metric{Name: "result_samples_per_second", Value: v, Unit: "samples/s", HigherIsBetter: true}}
			js, _ := json.Marshal(res)
			if err := tree.WriteRun(dir, results.RunFiles{Result: js}); err != nil {
				t.Fatal(err)
			}
			m.Runs = append(m.Runs, results.RunRecord{Host: h.Name, Role: h.Role, Scenario: "Offline", Repetition: k, Sequence: len(m.Runs), Status: results.StatusOK, Dir: dir, Valid: true})
		}
	}
	if err := tree.WriteManifest(m); err != nil {
		t.Fatal(err)
	}
	return tree.Root
}

func TestCompareStoredTree(t *testing.T) {
	root := storedTree(t)
	// Paired t on ln(c/b), as results' tests derive: 96.1% [95.5, 96.6].
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string
	}{
		{"one tree, paired", []string{root}, exitOK, []string{"96.1%", "[95.5, 96.6]", "lower"}},
		{"one tree, gated at 97", []string{"--min-retained", "97", root}, 4, []string{"lies wholly below 97%"}},
		{"one tree, qualify at 95", []string{"--gate", "qualify", "--min-retained", "95", root}, exitOK, []string{"pass (exit 0)"}},
		{"two hosts of it, unpaired", []string{filepath.Join(root, "bm"), filepath.Join(root, "vm")}, exitOK, []string{"96.1%", "[94.4, 97.7]"}},
		{"tree against a host", []string{root, filepath.Join(root, "vm")}, exitOK, []string{"96.1%"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, nil, append([]string{"compare"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout, w) && !strings.Contains(flat(stdout), flat(w)) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
}

// TestComparePlanAgainstStoredBaseline stores a plan's results, then runs
// a plan with only a candidate against them (--baseline): the stored
// baseline's runs are compared unpaired, and the table says so.
func TestComparePlanAgainstStoredBaseline(t *testing.T) {
	a, b := startAgent(t), startAgent(t)
	dir := t.TempDir()
	first := writePlan(t, dir, a.addr, b.addr, "scenarios: [offline]\nrepetitions: 2\n")
	if stdout, stderr, code := run(t, nil, "run", "--plan", first, "--run-id", "known-good"); code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	stored := filepath.Join(dir, "out", "known-good")

	plan := `version: v1
agents:
  - {name: nightly, address: "` + b.addr + `", role: candidate}
workload:
  backend: sim
  model: resnet50
  # A 100 ms Server bound: the tests run a race-detector build on a shared
  # 2-core host, where one scheduling stall past resnet50's 15 ms would
  # void a 1000-query run; these tests check the flow, not the bound.
  settings: {min_duration_ms: 400, warmup_ms: 100, min_query_count: 1000, server_target_latency_ns: 100000000}
scenarios: [offline]
profile: quick
repetitions: 2
output: ` + filepath.Join(dir, "nightly") + "\n"
	path := filepath.Join(dir, "nightly.yaml")
	if err := os.WriteFile(path, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, nil, "compare", "--plan", path, "--baseline", stored)
	if code != 0 {
		t.Fatalf("compare: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The compact table wraps its notes: compare words, not lines.
	words := strings.Join(strings.Fields(stdout), " ")
	for _, w := range []string{"candidate nightly", "baseline bm", "Offline", "the baseline is a stored tree (" + stored, "compared unpaired",
		"Gate: regression at 95% retained (plan)"} {
		if !strings.Contains(words, w) {
			t.Errorf("stdout lacks %q:\n%s", w, stdout)
		}
	}
	_, root := readManifest(t, filepath.Join(dir, "nightly"))
	b2, err := os.ReadFile(filepath.Join(root, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c results.Comparison
	if err := json.Unmarshal(b2, &c); err != nil {
		t.Fatal(err)
	}
	if c.Schema != results.ComparisonSchema || len(c.Scenarios) != 1 || c.Scenarios[0].Pairing != results.PairingUnpaired ||
		c.Baseline.StoredBaseline == "" || c.Scenarios[0].Interval == nil || c.Scenarios[0].Interval.Method != results.MethodWelchT {
		t.Errorf("report.json: %+v", c)
	}
}

// TestEmbeddedPlanWithStoredBaseline: --baseline on the embedded A/A plan
// drops its live baseline agent and runs the candidate sequentially.
func TestEmbeddedPlanWithStoredBaseline(t *testing.T) {
	p, err := coordinator.ParsePlan("default plan", configs.DefaultPlan())
	if err != nil {
		t.Fatal(err)
	}
	v := viper.New()
	stored := t.TempDir()
	v.Set("baseline", stored)
	applyPlanOverrides(p, v)
	if p.Baseline != stored || p.Order != coordinator.OrderSequential || len(p.Agents) != 1 || p.Agents[0].Role != coordinator.RoleCandidate {
		t.Fatalf("plan: baseline %q, order %s, agents %+v", p.Baseline, p.Order, p.Agents)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
