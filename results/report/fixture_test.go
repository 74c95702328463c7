package report

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/results"
)

func f64(v float64) *float64 { return &v }
func intp(v int) *int        { return &v }

// reps builds one side's repetitions from values, the counted ones VALID.
func reps(host, scenario string, values []float64) results.SideValues {
	var sv results.SideValues
	logs := 0.0
	for i, v := range values {
		r := results.Repetition{
			Repetition: i + 1, Host: host, Dir: filepath.Join(host, "resnet50", scenario, "performance", fmt.Sprintf("run_%d", i+1)),
			RawValue: v, Value: v, GPUs: 1, Status: results.StatusOK, Valid: true, Counted: true,
		}
		r.File = filepath.Join(r.Dir, "result.json")
		sv.Runs = append(sv.Runs, r)
		sv.Counted++
		sv.Valid++
		logs += math.Log(v)
	}
	if sv.Counted > 0 {
		sv.Geomean = f64(math.Exp(logs / float64(sv.Counted)))
	}
	return sv
}

// fixedComparison is a comparison of two gpuperf hosts built by hand, so
// the golden files pin the reports, not the statistics: a paired Offline
// equivalent and passing, a Server peak search whose interval lies wholly
// below the gate (a regression), a SingleStream latency ratio that is
// inconclusive, a MultiStream voided by an INVALID baseline, and a
// benchmark only the candidate ran; with fairness differences (one
// material) and ranked findings.
func fixedComparison() *results.Comparison {
	c := &results.Comparison{
		Schema: results.ComparisonSchema, Version: "v1.2.3-test",
		CreatedAt: time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC),
		Baseline: results.Side{Role: results.RoleBaseline, Path: "out/20260314-150926", Format: results.FormatGpuperf, Name: "metal-a100", RunID: "20260314-150926",
			Hosts: []results.HostInfo{{Name: "metal-a100", Accelerator: "NVIDIA A100-SXM4-40GB", GPUs: 1, GPUsFrom: "host.json fingerprint gpus (1 listed)", FingerprintFile: "metal-a100/host.json"}}},
		Candidate: results.Side{Role: results.RoleCandidate, Path: "out/20260314-150926", Format: results.FormatGpuperf, Name: "vm-a100", RunID: "20260314-150926",
			Hosts: []results.HostInfo{{Name: "vm-a100", Accelerator: "NVIDIA A100-SXM4-40GB", GPUs: 1, GPUsFrom: "host.json fingerprint gpus (1 listed)", FingerprintFile: "vm-a100/host.json"}}},
		Settings: results.Settings{Confidence: 0.95, EquivalenceConfidence: 0.90, MarginPct: 3, MinRetainedPct: 95, MinRetainedFrom: "plan",
			Gate: results.GateRegression, IntervalMethod: results.IntervalAuto, BootstrapResamples: 10000, BootstrapSeed: 1},
		Definitions: results.Definitions{
			Retained:    "candidate / baseline × 100 of the geometric means; latencies inverted",
			Percentile:  "latency percentiles are LoadGen's nearest rank, sorted[floor(n·p)]",
			Interval:    "95% interval on the natural logs: paired t for interleaved pairs, else Welch",
			HalfWidth:   "(high − low) / 2, in percentage points",
			RepsNeeded:  "repetitions per side for a 90% half-width within the margin",
			Equivalence: "two one-sided tests at 5% against ±3%",
			Gate:        "regression at 95%: exit 4 when the 95% interval lies wholly below it",
			Server:      "Completed samples/s of the confirmation run at each side's peak VALID QPS",
		},
		Notes: []string{"the plan interleaved the sides ABBA"},
	}

	off := results.ScenarioComparison{
		Benchmark: "resnet50", Scenario: "Offline", Status: results.StatusCompared, Pairing: results.PairingPaired,
		Metric:      results.Metric{Name: "result_samples_per_second", Label: "samples/s", Unit: "samples/s", HigherIsBetter: true},
		Baseline:    reps("metal-a100", "Offline", []float64{2501, 2490, 2512, 2498, 2505}),
		Candidate:   reps("vm-a100", "Offline", []float64{2468, 2455, 2480, 2462, 2470}),
		RetainedPct: f64(98.6), RepsNeeded: intp(3), Verdict: results.VerdictEquivalent,
		Interval:            &results.Interval{Method: results.MethodPairedT, Confidence: 0.95, LowPct: 98.2, HighPct: 99.0, HalfWidthPct: 0.4, DF: 4, N: 5},
		EquivalenceInterval: &results.Interval{Method: results.MethodPairedT, Confidence: 0.90, LowPct: 98.3, HighPct: 98.9, HalfWidthPct: 0.3, DF: 4, N: 5},
	}
	srv := results.ScenarioComparison{
		Benchmark: "resnet50", Scenario: "Server", Status: results.StatusCompared, Pairing: results.PairingPaired,
		Metric:      results.Metric{Name: "result_completed_samples_per_sec", Label: "completed samples/s at the peak VALID QPS (confirmation run)", Unit: "samples/s", HigherIsBetter: true},
		Labels:      []string{results.LabelPeakSearch},
		Baseline:    reps("metal-a100", "Server", []float64{2100, 2080, 2110, 2095, 2090}),
		Candidate:   reps("vm-a100", "Server", []float64{1910, 1895, 1930, 1900, 1920}),
		RetainedPct: f64(91.3), RepsNeeded: intp(4), Verdict: results.VerdictLower,
		Interval:            &results.Interval{Method: results.MethodPairedT, Confidence: 0.95, LowPct: 90.2, HighPct: 92.4, HalfWidthPct: 1.1, DF: 4, N: 5},
		EquivalenceInterval: &results.Interval{Method: results.MethodPairedT, Confidence: 0.90, LowPct: 90.5, HighPct: 92.1, HalfWidthPct: 0.8, DF: 4, N: 5},
	}
	// The candidate's third run is left out: its peak search did not
	// confirm.
	srv.Candidate.Runs[2].Counted = false
	srv.Candidate.Runs[2].Excluded = "peak search not confirmed: its value is a probe's, and probes never count"
	srv.Candidate.Counted--
	ss := results.ScenarioComparison{
		Benchmark: "resnet50", Scenario: "SingleStream", Status: results.StatusCompared, Pairing: results.PairingPaired,
		Metric:      results.Metric{Name: "early_stopping_latency_ss", Label: "p90 early-stopping latency", Unit: "ns", HigherIsBetter: false},
		Labels:      []string{results.LabelLatencyInverted},
		Baseline:    reps("metal-a100", "SingleStream", []float64{1.21e6, 1.19e6, 1.24e6, 1.20e6, 1.22e6}),
		Candidate:   reps("vm-a100", "SingleStream", []float64{1.22e6, 1.18e6, 1.27e6, 1.21e6, 1.25e6}),
		RetainedPct: f64(99.1), RepsNeeded: intp(12), Verdict: results.VerdictInconclusive,
		Interval:            &results.Interval{Method: results.MethodPairedT, Confidence: 0.95, LowPct: 96.7, HighPct: 101.6, HalfWidthPct: 2.45, DF: 4, N: 5},
		EquivalenceInterval: &results.Interval{Method: results.MethodPairedT, Confidence: 0.90, LowPct: 97.3, HighPct: 100.9, HalfWidthPct: 1.8, DF: 4, N: 5},
		Notes:               []string{"both sides processed 1024 queries per run"},
	}
	ms := results.ScenarioComparison{
		Benchmark: "resnet50", Scenario: "MultiStream", Status: results.StatusVoid, Pairing: results.PairingPaired,
		Metric:    results.Metric{Name: "early_stopping_latency_ms", Label: "p99 early-stopping latency", Unit: "ns"},
		Labels:    []string{results.LabelLatencyInverted},
		Baseline:  reps("metal-a100", "MultiStream", []float64{8.1e6, 8.3e6}),
		Candidate: reps("vm-a100", "MultiStream", []float64{8.4e6, 8.2e6}),
		Verdict:   results.VerdictNone, Void: "the baseline's 2 runs are INVALID (min duration not met)",
	}
	for i := range ms.Baseline.Runs {
		ms.Baseline.Runs[i].Valid, ms.Baseline.Runs[i].Counted = false, false
		ms.Baseline.Runs[i].Excluded = "INVALID"
	}
	ms.Baseline.Counted, ms.Baseline.Valid, ms.Baseline.Invalid, ms.Baseline.Geomean = 0, 0, 2, nil
	// The server's own account: Triton's on both sides of SingleStream,
	// the candidate's server without statistics in Server.
	ss.Server = &results.ServerTimes{
		Baseline:  &results.ServerSide{Source: "triton-statistics", Runs: 4, ClientMeanMs: f64(0.92), RequestMs: f64(0.71), QueueMs: f64(0.02), InferMs: f64(0.64)},
		Candidate: &results.ServerSide{Source: "triton-statistics", Runs: 4, ClientMeanMs: f64(1.31), RequestMs: f64(0.73), QueueMs: f64(0.02), InferMs: f64(0.66)},
	}
	srv.Server = &results.ServerTimes{
		Baseline:  &results.ServerSide{Source: "vllm-metrics", Runs: 4, ClientMeanMs: f64(812.4), RequestMs: f64(806.1), QueueMs: f64(12.5), InferMs: f64(790.2), PrefillMs: f64(40.3), DecodeMs: f64(749.9)},
		Candidate: &results.ServerSide{Source: "vllm-metrics", Unavailable: "at the timed run's start: metrics at http://vm:8000/metrics are not reachable"},
	}
	c.Scenarios = []results.ScenarioComparison{off, srv, ss, ms}
	c.Unmatched = []results.Unmatched{{Benchmark: "bert-99", Scenario: "Offline", Side: results.RoleCandidate}}
	c.Fairness = &results.Fairness{
		Items: []results.FairnessItem{
			{Key: "gpu.model", Label: "GPU model", Baseline: "NVIDIA A100-SXM4-40GB", Candidate: "NVIDIA A100-SXM4-40GB", Same: true},
			{Key: "gpu.count", Label: "GPU count", Baseline: "1", Candidate: "1", Same: true},
			{Key: "driver.version", Label: "Driver", Baseline: "550.54.15", Candidate: "550.54.14", Note: "same major 550"},
			{Key: "gpu.power_limit_w", Label: "Power limit", Baseline: "400 W", Candidate: "300 W", Material: true, Note: "the candidate may draw 25% less power"},
			{Key: "vgpu.profile", Label: "vGPU profile", Baseline: "", Candidate: "GRID A100-40C", Note: "the candidate is a vGPU guest"},
			{Key: "cpu.governor", Label: "CPU governor", Baseline: "performance", Candidate: "", Note: "not reported by the candidate"},
		},
		MaterialDifferences: 1, SamePhysicalGPU: "yes",
	}
	c.Findings = []results.Finding{
		{Scenario: "resnet50/Server", Kind: "cpu-steal", Metric: "host_steal_pct", Baseline: f64(0.1), Candidate: f64(6.5), Unit: "%", Rank: 2,
			Text: "the candidate's host lost 6.5% of its CPU time to steal during the runs"},
		{Scenario: "resnet50/Server", Kind: "power-capping", Metric: "sm_clock_mhz", Baseline: f64(1410), Candidate: f64(1275), Unit: "MHz", DeltaPct: f64(-9.6), Rank: 1,
			Text: "the candidate's SM clock was 9.6% lower while power capping was active"},
		{Kind: "unavailable", Metric: "pcie_link_gen", Baseline: f64(4), Unit: "", Rank: 3,
			Text: "PCIe link generation is unavailable on the candidate (a vGPU guest cannot read it)"},
	}
	c.ApplyGate(results.Failures{})
	return c
}

// fakeRuns serves made-up but deterministic latency percentiles and
// telemetry (written and read back as a real telemetry.csv) for the fixed
// comparison; the candidate's MultiStream has no NVML.
type fakeRuns struct{}

func (fakeRuns) Latency(side results.Side, rep results.Repetition) ([]Distribution, error) {
	base := 1.0e6
	if side.Role == results.RoleCandidate {
		base = 1.04e6
	}
	base *= 1 + 0.01*float64(rep.Repetition)
	ps := []float64{0, 0.5, 0.9, 0.95, 0.97, 0.99, 0.999, 1}
	mult := []float64{0.6, 1, 1.35, 1.5, 1.62, 1.9, 2.6, 3.4}
	d := Distribution{Name: "latency", File: filepath.Join(rep.Dir, "mlperf_log_summary.txt")}
	for i, p := range ps {
		d.Points = append(d.Points, LatencyPoint{P: p, Ns: base * mult[i]})
	}
	return []Distribution{d}, nil
}

func (fakeRuns) Telemetry(side results.Side, rep results.Repetition) (*Telemetry, error) {
	if side.Role == results.RoleCandidate && filepath.Base(filepath.Dir(filepath.Dir(rep.Dir))) == "MultiStream" {
		return nil, errors.New("NVML unavailable: NVML library not found (no telemetry.csv in " + rep.Dir + ")")
	}
	cand := side.Role == results.RoleCandidate
	b := syntheticTelemetryCSV(2, 600, cand)
	t, err := ParseTelemetry(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	t.File = filepath.Join(rep.Dir, TelemetryFile)
	return t, nil
}

// syntheticTelemetryCSV writes a telemetry.csv as the agent's sampler
// does (gpu.CSVHeader, gpu.AppendCSVRow and the host columns): devices
// GPUs, ticks at 100 ms. The candidate runs power-capped: lower clocks,
// flat power, and CPU steal.
func syntheticTelemetryCSV(devices, ticks int, capped bool) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(gpu.CSVHeader())
	for k := range ticks {
		at := int64(k) * 100e6
		x := float64(k) / float64(ticks)
		for d := range devices {
			var r gpu.Reading
			clock, power := 1410-20*math.Sin(12*x+float64(d)), 380+15*math.Sin(7*x+float64(d))
			if capped {
				clock, power = 1275-35*math.Sin(9*x+float64(d)), 299+0.5*math.Sin(30*x)
			}
			r.Set(gpu.SMClock, math.Round(clock))
			r.Set(gpu.Power, math.Round(power*10)/10)
			r.Set(gpu.GPUUtil, math.Round(96+3*math.Sin(5*x)))
			r.Set(gpu.Temperature, math.Round(55+10*x+float64(d)))
			r.Set(gpu.MemUsed, 20480)
			row := gpu.AppendCSVRow(nil, at, gpu.DeviceInfo{Index: d, UUID: fmt.Sprintf("GPU-%08d", d)}, &r)
			steal := "0"
			if capped {
				steal = strconv.FormatFloat(math.Round((5+2*math.Sin(20*x))*100)/100, 'f', -1, 64)
			}
			_ = w.Write(append(row, steal, "0.2"))
		}
	}
	w.Flush()
	return b.Bytes()
}
