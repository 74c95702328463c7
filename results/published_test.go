package results

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/internal/testpaths"
)

// mlperfDir is the published MLPerf results, or skips.
func mlperfDir(t *testing.T) string { return testpaths.MLPerf(t) }

type wantScenario struct {
	benchmark, scenario string
	metric              string
	// retained is the expected ratio in percent, computed by hand from the
	// official numbers the summaries print (written out as a division).
	retained float64
	labels   []string
}

func comparePublished(t *testing.T, base, cand string, opts Options) *Comparison {
	t.Helper()
	b, err := ReadSource(base, RoleBaseline)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ReadSource(cand, RoleCandidate)
	if err != nil {
		t.Fatal(err)
	}
	cmp, err := CompareSources(b, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	return cmp
}

func checkScenarios(t *testing.T, c *Comparison, want []wantScenario) {
	t.Helper()
	if len(c.Scenarios) != len(want) {
		var got []string
		for _, s := range c.Scenarios {
			got = append(got, s.Benchmark+" "+s.Scenario)
		}
		t.Fatalf("scenarios %q, want %d", got, len(want))
	}
	for i, w := range want {
		s := c.Scenarios[i]
		name := w.benchmark + " " + w.scenario
		if s.Benchmark != w.benchmark || s.Scenario != w.scenario {
			t.Errorf("scenario %d is %s %s, want %s", i, s.Benchmark, s.Scenario, name)
			continue
		}
		if s.Metric.Name != w.metric {
			t.Errorf("%s: metric %s, want %s", name, s.Metric.Name, w.metric)
		}
		if s.RetainedPct == nil {
			t.Errorf("%s: no retained %% (%s: %s %s)", name, s.Status, s.Refusal, s.Void)
			continue
		}
		near(t, name+" retained", *s.RetainedPct, w.retained, 1e-9)
		if s.Status != StatusPoint || s.Interval != nil {
			t.Errorf("%s: status %s with interval %+v; one run per side gives the point only", name, s.Status, s.Interval)
		}
		for _, l := range w.labels {
			if !slices.Contains(s.Labels, l) {
				t.Errorf("%s: labels %q lack %q", name, s.Labels, l)
			}
		}
		if w.scenario == "Server" && !slices.Contains(s.Labels, LabelChosenTarget) {
			t.Errorf("%s: a published Server result is not labelled chosen-target: %q", name, s.Labels)
		}
	}
}

const (
	offline   = "result_samples_per_second"
	scheduled = "result_scheduled_samples_per_sec"
	tokens    = "result_tokens_per_second"
	ctokens   = "result_completed_tokens_per_second"
)

func TestComparePublishedV30(t *testing.T) {
	d := mlperfDir(t)
	c := comparePublished(t, filepath.Join(d, "v3.0/Dell/XE8545_A100_SXM4_80GBx4_TRT"), filepath.Join(d, "v3.0/Dell/vXE8545_A100_SXM_80GBx4_TRT"), Options{})
	// v3.0's official Server metric is Scheduled samples/s (LoadGen 3.0
	// leads its summary with it).
	checkScenarios(t, c, []wantScenario{
		{"3d-unet-99", "Offline", offline, 100 * 15.1043 / 14.4367, nil},
		{"bert-99", "Offline", offline, 100 * 14923.1 / 15090, nil},
		{"bert-99", "Server", scheduled, 100 * 13497.86 / 13597.46, []string{LabelScheduled}},
		{"bert-99.9", "Offline", offline, 100 * 7767.84 / 7880.67, nil},
		{"bert-99.9", "Server", scheduled, 100 * 7004.02 / 7004.02, nil},
		{"retinanet", "Offline", offline, 100 * 2876.56 / 2910.78, nil},
		{"retinanet", "Server", scheduled, 100 * 2798.93 / 2848.84, nil},
		{"rnnt", "Offline", offline, 100 * 56174 / 57084.4, nil},
		{"rnnt", "Server", scheduled, 100 * 51001.81 / 54000.38, nil},
	})
	if c.Baseline.Round != "v3.0" || c.Baseline.Submitter != "Dell" || c.Candidate.Hosts[0].GPUs != 4 {
		t.Errorf("sides %+v / %+v", c.Baseline, c.Candidate.Hosts)
	}
	if c.Baseline.Hosts[0].SystemName != "Dell PowerEdge XE8545 (4x A100-SXM-80GB, TensorRT)" || len(c.Baseline.Hosts[0].Fingerprint) == 0 {
		t.Errorf("baseline host %+v", c.Baseline.Hosts[0].SystemName)
	}

	c = comparePublished(t, filepath.Join(d, "v3.0/Dell/R750xa_H100_PCIe_80GBx2_TRT"), filepath.Join(d, "v3.0/Dell/vR750xa_H100_PCIe_80Cx2_TRT"), Options{})
	checkScenarios(t, c, []wantScenario{
		{"3d-unet-99.9", "Offline", offline, 100 * 8.75888 / 9.05815, nil},
		{"retinanet", "Offline", offline, 100 * 1800.6 / 1892.09, nil},
		{"retinanet", "Server", scheduled, 100 * 1772.81 / 1852.24, nil},
		{"rnnt", "Offline", offline, 100 * 32771.4 / 33741.5, nil},
		{"rnnt", "Server", scheduled, 100 * 31131.23 / 32004.51, nil},
	})
}

func TestComparePublishedV40(t *testing.T) {
	d := mlperfDir(t)
	c := comparePublished(t, filepath.Join(d, "v4.0/Dell/R760_L40Sx2_TRT"), filepath.Join(d, "v4.0/Dell/vR760_L40S_48Cx2_TRT"), Options{})
	checkScenarios(t, c, []wantScenario{
		{"3d-unet-99", "Offline", offline, 100 * 7.66646 / 7.81015, nil},
		{"bert-99", "Offline", offline, 100 * 6082.83 / 6603.3, nil},
		{"bert-99", "Server", scheduled, 100 * 5996.11 / 6696.44, nil},
		{"retinanet", "Offline", offline, 100 * 1584.83 / 1641.96, nil},
		{"retinanet", "Server", scheduled, 100 * 1473.57 / 1523.79, nil},
		{"rnnt", "Offline", offline, 100 * 22070.8 / 22848.1, nil},
		{"rnnt", "Server", scheduled, 100 * 20546.33 / 21746.70, nil},
	})
	// Stable Diffusion XL only ran virtualized.
	want := []Unmatched{{"stable-diffusion-xl", "Offline", RoleCandidate}, {"stable-diffusion-xl", "Server", RoleCandidate}}
	if !slices.Equal(c.Unmatched, want) {
		t.Errorf("unmatched %+v, want %+v", c.Unmatched, want)
	}
}

// TestComparePublishedV50TwoSubmitters compares LLM results in tokens/s:
// Dell's virtualized XE9680 against Cisco's bare-metal C885A, 8 H100 each.
func TestComparePublishedV50TwoSubmitters(t *testing.T) {
	d := mlperfDir(t)
	c := comparePublished(t, filepath.Join(d, "v5.0/Cisco/C885A_H100_SXMx8_TRT"), filepath.Join(d, "v5.0/Dell/vXE9680_H100_SXM_80GBx8_TRT"), Options{})
	checkScenarios(t, c, []wantScenario{
		{"mixtral-8x7b", "Offline", tokens, 100 * 51514.5 / 52724.4, []string{LabelTokens, LabelCrossSubmitter}},
		{"mixtral-8x7b", "Server", ctokens, 100 * 50895.98 / 53299.32, []string{LabelTokens, LabelCrossSubmitter}},
	})
	if c.Baseline.Submitter != "Cisco" || c.Candidate.Submitter != "Dell" {
		t.Errorf("submitters %s, %s", c.Baseline.Submitter, c.Candidate.Submitter)
	}
	// Across rounds: NVIDIA's v4.1 DGX H100 against the same Dell system.
	c = comparePublished(t, filepath.Join(d, "v4.1/NVIDIA/DGX-H100_H100-SXM-80GBx8_TRT"), filepath.Join(d, "v5.0/Dell/vXE9680_H100_SXM_80GBx8_TRT"), Options{})
	checkScenarios(t, c, []wantScenario{
		{"mixtral-8x7b", "Offline", tokens, 100 * 51514.5 / 52415.9, []string{LabelCrossRound, LabelCrossSubmitter}},
		{"mixtral-8x7b", "Server", ctokens, 100 * 50895.98 / 50795.57, []string{LabelCrossRound}},
	})
}

// TestComparePublishedPerGPU: Dell's virtualized R760 has 2 L40S, the
// bare-metal R760xa 4 (systems/*.json accelerators_per_node).
func TestComparePublishedPerGPU(t *testing.T) {
	d := mlperfDir(t)
	base, cand := filepath.Join(d, "v4.0/Dell/R760xa_L40Sx4_TRT"), filepath.Join(d, "v4.0/Dell/vR760_L40S_48Cx2_TRT")
	c := comparePublished(t, base, cand, Options{PerGPU: true})
	checkScenarios(t, c, []wantScenario{
		{"stable-diffusion-xl", "Offline", offline, 100 * (1.29077 / 2) / (2.68759 / 4), []string{LabelPerGPU}},
		{"stable-diffusion-xl", "Server", scheduled, 100 * (1.09 / 2) / (2.61 / 4), []string{LabelPerGPU}},
	})
	if c.Baseline.Hosts[0].GPUs != 4 || c.Candidate.Hosts[0].GPUs != 2 || !strings.Contains(c.Baseline.Hosts[0].GPUsFrom, "accelerators_per_node") {
		t.Errorf("GPUs %+v / %+v", c.Baseline.Hosts[0], c.Candidate.Hosts[0])
	}
	c = comparePublished(t, base, cand, Options{})
	checkScenarios(t, c, []wantScenario{
		{"stable-diffusion-xl", "Offline", offline, 100 * 1.29077 / 2.68759, nil},
		{"stable-diffusion-xl", "Server", scheduled, 100 * 1.09 / 2.61, nil},
	})
}

// TestReadPublishedEverySystem reads every published system and checks
// each run's official metric by round and benchmark (reference/loadgen.md
// §3.3, §7.3) and the GPU count of its systems/*.json.
func TestReadPublishedEverySystem(t *testing.T) {
	d := mlperfDir(t)
	gpus := map[string]int{
		"v3.0/Dell/XE8545_A100_SXM4_80GBx4_TRT": 4, "v3.0/Dell/vXE8545_A100_SXM_80GBx4_TRT": 4,
		"v3.0/Dell/R750xa_H100_PCIe_80GBx2_TRT": 2, "v3.0/Dell/vR750xa_H100_PCIe_80Cx2_TRT": 2,
		"v4.0/Dell/R760_L40Sx2_TRT": 2, "v4.0/Dell/vR760_L40S_48Cx2_TRT": 2, "v4.0/Dell/R760xa_L40Sx4_TRT": 4, "v4.0/Dell/R7615_L40Sx2_TRT": 2,
		"v4.1/NVIDIA/DGX-H100_H100-SXM-80GBx8_TRT": 8, "v5.0/Dell/vXE9680_H100_SXM_80GBx8_TRT": 8, "v5.0/Cisco/C885A_H100_SXMx8_TRT": 8,
	}
	seen := 0
	for sys, n := range gpus {
		s, err := ReadSource(filepath.Join(d, sys), RoleBaseline)
		if err != nil {
			t.Errorf("%s: %v", sys, err)
			continue
		}
		if s.Side.Hosts[0].GPUs != n {
			t.Errorf("%s: %d GPUs, want %d", sys, s.Side.Hosts[0].GPUs, n)
		}
		round := strings.SplitN(sys, "/", 2)[0]
		for _, r := range s.runs {
			seen++
			want := offline
			switch {
			case r.Benchmark == "mixtral-8x7b" && r.Scenario == "Offline":
				want = tokens
			case r.Benchmark == "mixtral-8x7b":
				want = ctokens
			case r.Scenario == "Server" && (round == "v3.0" || round == "v4.0"):
				want = scheduled
			case r.Scenario == "Server":
				want = "result_completed_samples_per_sec"
			}
			if r.Metric.Name != want || !r.ok || !r.Rep.Valid || r.Rep.LoadGenErrors != 0 || r.Rep.Line != 7 && r.Rep.Line != 8 {
				t.Errorf("%s %s %s: metric %s (want %s), ok %v, valid %v, errors %d, line %d",
					sys, r.Benchmark, r.Scenario, r.Metric.Name, want, r.ok, r.Rep.Valid, r.Rep.LoadGenErrors, r.Rep.Line)
			}
			if r.Scenario == "Server" && r.Benchmark != "mixtral-8x7b" {
				if _, ok := r.Alt["result_completed_samples_per_sec"]; !ok && want == scheduled {
					t.Errorf("%s %s: the completed samples/s of Additional Stats is not kept", sys, r.Benchmark)
				}
			}
		}
	}
	if seen != 54 {
		t.Errorf("read %d runs, want the 54 published summaries", seen)
	}
}

// writeRun writes a summary (and optionally a detail log) in the MLPerf
// layout under root/<system>/<benchmark>/<scenario>.
func writeRun(t *testing.T, root, system, benchmark, scenario, summary, detail string) string {
	t.Helper()
	dir := filepath.Join(root, system, benchmark, scenario, "performance", "run_1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mlperf_log_summary.txt"), []byte(summary), 0o644); err != nil {
		t.Fatal(err)
	}
	if detail != "" {
		if err := os.WriteFile(filepath.Join(dir, "mlperf_log_detail.txt"), []byte(detail), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(root, system)
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPublishedBadInput(t *testing.T) {
	d := mlperfDir(t)
	offlineText := readText(t, filepath.Join(d, "v4.0/Dell/R760_L40Sx2_TRT/bert-99/Offline/mlperf_log_summary.txt"))
	serverText := readText(t, filepath.Join(d, "v4.0/Dell/R760_L40Sx2_TRT/bert-99/Server/mlperf_log_summary.txt"))
	lines := strings.SplitAfter(offlineText, "\n")
	summaryRel := filepath.Join("bert-99", "Offline", "performance", "run_1", "mlperf_log_summary.txt")
	for _, tc := range []struct {
		name     string
		summary  string
		scenario string // folder
		file     string // relative to the system folder; "" is the folder itself
		line     int
		msg      string
	}{
		{"truncated", strings.Join(lines[:20], ""), "Offline", summaryRel, 20, "truncated"}, // line 20 is the last one read
		{"truncated before the result", strings.Join(lines[:7], ""), "Offline", summaryRel, 7, `no "Result is :" line`},
		{"malformed headline", strings.Replace(offlineText, "Samples per second: 6603.3", "Samples per second: 6603,3", 1), "Offline", summaryRel, 7, `"6603,3" is not a number`},
		{"malformed validity", strings.Replace(offlineText, "Result is : VALID", "Result is : OK", 1), "Offline", summaryRel, 8, `Result is "OK"`},
		{"malformed check", strings.Replace(offlineText, "  Min queries satisfied : Yes", "  Min queries satisfied : Maybe", 1), "Offline", summaryRel, 10, `"Maybe"`},
		{"no headline", strings.Replace(offlineText, "Samples per second: 6603.3\n", "", 1), "Offline", summaryRel, 7, "no Offline headline"},
		{"scenario does not match its folder", serverText, "Offline", summaryRel, 5, "Scenario Server does not match its folder Offline"},
		{"not a scenario folder", offlineText, "Batch", filepath.Join("bert-99", "Batch", "performance", "run_1", "mlperf_log_summary.txt"), 5, `folder "Batch" is not a scenario`},
		{"empty file", "", "Offline", summaryRel, 0, "empty file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			sys := writeRun(t, root, "sys", "bert-99", tc.scenario, tc.summary, "")
			_, err := ReadSource(sys, RoleCandidate)
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("ReadSource = %v, want an *InputError", err)
			}
			if want := filepath.Join(sys, tc.file); ie.File != want || ie.Line != tc.line {
				t.Errorf("error at %s:%d, want %s:%d (%v)", ie.File, ie.Line, want, tc.line, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", err, tc.msg)
			}
		})
	}

	t.Run("empty folder", func(t *testing.T) {
		dir := t.TempDir()
		_, err := ReadSource(dir, RoleBaseline)
		var ie *InputError
		if !errors.As(err, &ie) || ie.File != dir || !strings.Contains(err.Error(), "no mlperf_log_summary.txt") {
			t.Errorf("ReadSource(empty) = %v", err)
		}
	})
	t.Run("missing side", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nothing-here")
		_, err := ReadSource(missing, RoleCandidate)
		var ie *InputError
		if !errors.As(err, &ie) || ie.File != missing || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("ReadSource(missing) = %v", err)
		}
	})
	t.Run("several systems", func(t *testing.T) {
		_, err := ReadSource(filepath.Join(d, "v4.0", "Dell"), RoleBaseline)
		if err == nil || !strings.Contains(err.Error(), "several systems") {
			t.Errorf("ReadSource(submitter) = %v", err)
		}
	})
	t.Run("mismatched scenarios", func(t *testing.T) {
		b, err := ReadSource(filepath.Join(d, "v4.0/Dell/R760_L40Sx2_TRT/bert-99/Server"), RoleBaseline)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ReadSource(filepath.Join(d, "v4.0/Dell/vR760_L40S_48Cx2_TRT/bert-99/Offline"), RoleCandidate)
		if err != nil {
			t.Fatal(err)
		}
		_, err = CompareSources(b, c, Options{})
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), "no benchmark and scenario in common") ||
			!strings.Contains(err.Error(), "[bert-99 Server]") || !strings.Contains(err.Error(), "[bert-99 Offline]") {
			t.Errorf("CompareSources = %v", err)
		}
	})
}

// TestPublishedDetailPreferred: the detail log's result_* key is the
// official number, read in place of the summary line, with its line.
func TestPublishedDetailPreferred(t *testing.T) {
	d := mlperfDir(t)
	text := readText(t, filepath.Join(d, "v4.0/Dell/R760_L40Sx2_TRT/bert-99/Offline/mlperf_log_summary.txt"))
	detail := `:::MLLOG {"key": "result_validity", "value": "VALID", "time_ms": 0.000000, "namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", "metadata": {"is_error": false, "is_warning": false, "file": "x", "line_no": 0, "pid": 1, "tid": 1}}
:::MLLOG {"key": "result_samples_per_second", "value": 6603.29871, "time_ms": 0.000000, "namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", "metadata": {"is_error": false, "is_warning": false, "file": "x", "line_no": 0, "pid": 1, "tid": 1}}
:::MLLOG {"key": "num_errors", "value": 0, "time_ms": 0.000000, "namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", "metadata": {"is_error": false, "is_warning": false, "file": "x", "line_no": 0, "pid": 1, "tid": 1}}
`
	sys := writeRun(t, t.TempDir(), "sys", "bert-99", "Offline", text, detail)
	s, err := ReadSource(sys, RoleBaseline)
	if err != nil {
		t.Fatal(err)
	}
	r := s.runs[0]
	if r.Rep.RawValue != 6603.29871 || r.Rep.Line != 2 || filepath.Base(r.Rep.File) != "mlperf_log_detail.txt" {
		t.Errorf("headline %v from %s:%d, want 6603.29871 from the detail log's line 2", r.Rep.RawValue, r.Rep.File, r.Rep.Line)
	}
	// A detail log that says there were errors voids a baseline.
	bad := strings.Replace(detail, `"key": "num_errors", "value": 0`, `"key": "num_errors", "value": 2`, 1)
	base := writeRun(t, t.TempDir(), "base", "bert-99", "Offline", text, bad)
	b, err := ReadSource(base, RoleBaseline)
	if err != nil {
		t.Fatal(err)
	}
	c, err := CompareSources(b, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if only(t, c).Status != StatusVoid || c.Gate.ExitCode != ExitVoid {
		t.Errorf("status %s, gate %+v", only(t, c).Status, c.Gate)
	}
	// A malformed detail line is an error naming the file and line.
	broken := writeRun(t, t.TempDir(), "broken", "bert-99", "Offline", text, detail+":::MLLOG {\"key\": \n")
	_, err = ReadSource(broken, RoleBaseline)
	var ie *InputError
	if !errors.As(err, &ie) || ie.Line != 4 || filepath.Base(ie.File) != "mlperf_log_detail.txt" {
		t.Errorf("ReadSource(broken detail) = %v", err)
	}
}

// TestPublishedServerAcrossTheV41Change: a v4.0 Server summary leads with
// Scheduled samples/s, a v4.1 one with Completed; the comparison meets on
// Completed, which both print, and says so.
func TestPublishedServerAcrossTheV41Change(t *testing.T) {
	d := mlperfDir(t)
	old := readText(t, filepath.Join(d, "v4.0/Dell/R760_L40Sx2_TRT/bert-99/Server/mlperf_log_summary.txt"))
	// The v4.1 layout of the same numbers: Completed leads, Scheduled moves
	// to Additional Stats.
	newer := strings.Replace(old, "Scheduled samples per second : 6696.44\n", "Completed samples per second    : 6696.29\n", 1)
	newer = strings.Replace(newer, "Completed samples per second    : 6696.29\n\n", "Scheduled samples per second : 6696.44\n", 1)
	if newer == old {
		t.Fatal("the v4.1 rewrite changed nothing")
	}
	b := writeRun(t, t.TempDir(), "old", "bert-99", "Server", old, "")
	c := writeRun(t, t.TempDir(), "new", "bert-99", "Server", strings.Replace(newer, "6696.29", "6000", 1), "")
	cmp := comparePublished(t, b, c, Options{})
	s := only(t, cmp)
	if s.Metric.Name != "result_completed_samples_per_sec" || len(s.Notes) == 0 || !strings.Contains(s.Notes[0], "official metrics differ") {
		t.Errorf("metric %s, notes %q", s.Metric.Name, s.Notes)
	}
	near(t, "retained", *s.RetainedPct, 100*6000/6696.29, 1e-9)
}

// TestPublishedLatencyScenarios reads SingleStream and MultiStream in the
// published layout: the official number is the early-stopping estimate
// (the detail log's early_stopping_latency_ss/_ms, else the summary's
// estimate line), inverted; before early stopping (LoadGen 1.x) the
// printed percentile, and for the old MultiStream samples per query.
func TestPublishedLatencyScenarios(t *testing.T) {
	ss := readText(t, filepath.Join("mlperflog", "testdata", "single_stream.summary.txt"))
	ms := readText(t, filepath.Join("mlperflog", "testdata", "multi_stream.summary.txt"))
	root := t.TempDir()
	writeRun(t, root, "bm", "resnet50", "SingleStream", ss, "")
	writeRun(t, root, "bm", "resnet50", "MultiStream", ms, "")
	// The candidate: 10% slower estimates on the same query counts.
	writeRun(t, root, "vm", "resnet50", "SingleStream", strings.Replace(ss, "estimate: 1186004", "estimate: 1304604", 1), "")
	writeRun(t, root, "vm", "resnet50", "MultiStream", strings.Replace(ms, "estimate: 10650120", "estimate: 11715132", 1), "")
	c := comparePublished(t, filepath.Join(root, "bm"), filepath.Join(root, "vm"), Options{})
	if len(c.Scenarios) != 2 {
		t.Fatalf("%d scenarios", len(c.Scenarios))
	}
	for i, w := range []struct {
		metric   string
		retained float64
		line     int
	}{
		{"early_stopping_latency_ss", 100 * 1186004.0 / 1304604, 15},
		{"early_stopping_latency_ms", 100 * 10650120.0 / 11715132, 15},
	} {
		s := c.Scenarios[i]
		if s.Metric.Name != w.metric || s.Metric.HigherIsBetter || !slices.Contains(s.Labels, LabelLatencyInverted) {
			t.Errorf("%s: metric %+v, labels %q", s.Scenario, s.Metric, s.Labels)
		}
		if s.RetainedPct == nil {
			t.Fatalf("%s: %s %s", s.Scenario, s.Status, s.Refusal)
		}
		near(t, s.Scenario+" retained", *s.RetainedPct, w.retained, 1e-9)
		if r := s.Baseline.Runs[0]; r.Line != w.line || r.Queries == 0 {
			t.Errorf("%s: read from line %d with %d queries, want line %d", s.Scenario, r.Line, r.Queries, w.line)
		}
	}

	// Different query counts: the estimates are not comparable.
	other := t.TempDir()
	writeRun(t, other, "vm", "resnet50", "SingleStream", strings.Replace(ss, "(8828)", "(9000)", 1), "")
	c = comparePublished(t, filepath.Join(root, "bm"), filepath.Join(other, "vm"), Options{})
	if s := c.Scenarios[0]; s.Status != StatusRefused || !strings.Contains(s.Refusal, "baseline 8828, candidate 9000") {
		t.Errorf("status %s, refusal %q", s.Status, s.Refusal)
	}

	// LoadGen 1.x: no early stopping, MultiStream in samples per query.
	v1ss := strings.Replace(ss, "90.0th percentile latency (ns) : 1180342", "90th percentile latency (ns) : 1180342", 1)
	v1ss = strings.Replace(v1ss, "  Early stopping satisfied: Yes\n", "", 1)
	v1ss = v1ss[:strings.Index(v1ss, "Early Stopping Result:")] + v1ss[strings.Index(v1ss, "\n================================================\nAdditional"):]
	v1ms := strings.Replace(ms, "99.0th percentile latency (ns) : 10600004", "Samples per query : 1536", 1)
	v1ms = v1ms[:strings.Index(v1ms, "Early Stopping Result:")] + v1ms[strings.Index(v1ms, "\n================================================\nAdditional"):]
	old := t.TempDir()
	writeRun(t, old, "bm", "resnet50", "SingleStream", v1ss, "")
	writeRun(t, old, "bm", "resnet50", "MultiStream", v1ms, "")
	writeRun(t, old, "vm", "resnet50", "SingleStream", strings.Replace(v1ss, ": 1180342", ": 1298376", 1), "")
	writeRun(t, old, "vm", "resnet50", "MultiStream", strings.Replace(v1ms, "Samples per query : 1536", "Samples per query : 1280", 1), "")
	c = comparePublished(t, filepath.Join(old, "bm"), filepath.Join(old, "vm"), Options{})
	for i, w := range []struct {
		metric   string
		retained float64
	}{
		{"result_90.00_percentile_latency_ns", 100 * 1180342.0 / 1298376},
		{"samples_per_query", 100 * 1280.0 / 1536},
	} {
		s := c.Scenarios[i]
		if s.Metric.Name != w.metric || s.RetainedPct == nil {
			t.Fatalf("%s: metric %s, status %s %s", s.Scenario, s.Metric.Name, s.Status, s.Refusal)
		}
		near(t, s.Scenario+" retained", *s.RetainedPct, w.retained, 1e-9)
	}
}
