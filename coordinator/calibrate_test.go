package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/agent"
	"github.com/gpuperf/gpuperf/inference"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
	"github.com/gpuperf/gpuperf/results"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{4970, 32511, 7976}, 7976}, {[]float64{1, 9, 2, 8}, 5}, {[]float64{5, 1, 4, 2, 100}, 4}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestCalibrationSettingsAreShortAndTimed(t *testing.T) {
	s, _, err := inference.Settings("resnet50", inference.Offline, inference.ProfileMLPerf)
	if err != nil {
		t.Fatal(err)
	}
	first, later := calibrationSettings(s, true), calibrationSettings(s, false)
	if first.MinDuration() != calibrationMaxDuration || first.MinQueryCount != 1 || first.WarmupMs != s.WarmupMs {
		t.Fatalf("first measurement of an mlperf run: %s, %d queries, warm-up %d ms", first.MinDuration(), first.MinQueryCount, first.WarmupMs)
	}
	if later.WarmupMs != uint64(calibrationRewarm/time.Millisecond) {
		t.Fatalf("a later measurement warms up for %d ms", later.WarmupMs)
	}
	s.MinDurationMs = 200
	if got := calibrationSettings(s, true).MinDuration(); got != 200*time.Millisecond {
		t.Fatalf("a 200 ms run calibrates for %s", got)
	}
}

// recordingDisplay keeps what the runner showed.
type recordingDisplay struct {
	mu      sync.Mutex
	started []results.RunRecord
}

func (d *recordingDisplay) RunStarted(r results.RunRecord) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.started = append(d.started, r)
}
func (d *recordingDisplay) RunProgress(results.RunRecord, *gpuperfv1.Progress) {}
func (d *recordingDisplay) RunFinished(results.RunRecord)                      {}

// The calibration takes several measurements on the baseline and sizes
// every run by their median, which the manifest records with each one.
func TestCalibrationTakesTheMedian(t *testing.T) {
	addrs := startAgents(t, 2)
	yaml := nullPlan(t.TempDir(), fmt.Sprintf(`
  - {name: base, address: %q, role: baseline}
  - {name: cand, address: %q, role: candidate}`, addrs[0], addrs[1]), "")
	disp := &recordingDisplay{}
	r := runnerFor(t, yaml)
	r.Display = disp
	_, m, err := r.Execute(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var cal []string
	for _, rec := range disp.started {
		if rec.Role == "calibration" {
			if rec.Host != "base" {
				t.Errorf("calibration ran on %s", rec.Host)
			}
			cal = append(cal, rec.Scenario)
		}
	}
	want := slices.Concat(slices.Repeat([]string{"Offline"}, CalibrationRuns), slices.Repeat([]string{"SingleStream"}, CalibrationRuns))
	if !slices.Equal(cal, want) {
		t.Fatalf("calibration runs %v; want %v", cal, want)
	}
	for _, key := range []string{"offline_measured_qps", "single-stream_measured_latency_ns"} {
		var got []float64
		for k := 1; k <= CalibrationRuns; k++ {
			v, ok := m.Calibration[fmt.Sprintf("%s_%d", key, k)]
			if !ok || !(v > 0) {
				t.Fatalf("manifest calibration %v lacks %s_%d", m.Calibration, key, k)
			}
			got = append(got, v)
		}
		if med := m.Calibration[key]; med != median(got) || m.Calibration[key+"_min"] != slices.Min(got) || m.Calibration[key+"_max"] != slices.Max(got) {
			t.Fatalf("%s: median %v min %v max %v of %v", key, med, m.Calibration[key+"_min"], m.Calibration[key+"_max"], got)
		}
	}
	if got, want := m.Calibration["offline_expected_qps"], m.Calibration["offline_measured_qps"]*offlineHeadroom; math.Abs(got-want) > 1e-9*want {
		t.Fatalf("offline_expected_qps %v; want %v", got, want)
	}
	// A stream's count is sized by its fastest measurement (the lowest
	// latency), so no run runs out of queries before min_duration.
	if got := m.Calibration["single-stream_expected_latency_ns"]; got != m.Calibration["single-stream_measured_latency_ns_min"] {
		t.Fatalf("single-stream expected latency %v is not the fastest measurement", got)
	}
}

// runnerFor loads yaml as a plan file and returns its runner.
func runnerFor(t *testing.T, yaml string) *Runner {
	t.Helper()
	return &Runner{Plan: loadPlan(t, yaml), PlanYAML: []byte(yaml), Version: "test", RunID: "r1"}
}

// A peak search with no target_qps starts at the baseline's calibrated
// Offline throughput, on both sides, not at LoadGen's default of 1 QPS.
func TestFindPeakStartsAtCalibratedOffline(t *testing.T) {
	addrs := startAgents(t, 2)
	yaml := fmt.Sprintf(`version: v1
agents:
  - {name: base, address: %q, role: baseline}
  - {name: cand, address: %q, role: candidate}
workload:
  backend: sim
  model: resnet50
  # A 1 ns bound: every probe fails, so each search halves until its 1 s
  # budget ends it, with no confirmation to run; only its start matters.
  settings: {min_duration_ms: 200, warmup_ms: 0, server_target_latency_ns: 1}
scenarios: [server]
profile: quick
repetitions: 1
order: sequential
server: {find_peak: true, peak_budget_s: 1}
output: %s
`, addrs[0], addrs[1], t.TempDir())
	tree, m, err := runnerFor(t, yaml).Execute(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	offline := m.Calibration["offline_measured_qps"]
	if !(offline > 1) || m.Calibration["server_target_qps"] != offline {
		t.Fatalf("calibration %v: want server_target_qps = offline_measured_qps", m.Calibration)
	}
	for _, rec := range m.Runs {
		b, err := os.ReadFile(filepath.Join(tree.Root, rec.Dir, "result.json"))
		if err != nil {
			t.Fatal(err)
		}
		var res inference.Result
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		if res.Peak == nil || len(res.Peak.Probes) == 0 || res.Peak.Probes[0].TargetQPS != offline {
			t.Fatalf("%s: peak search %+v; want its first probe at %v", rec.Host, res.Peak, offline)
		}
	}
}

// A stream is sized by its median latency: a few stalled queries raise the
// mean many times over.
func TestMedianLatency(t *testing.T) {
	l := inference.LatencyStats{MeanNs: 900, Percentiles: []inference.Percentile{{P: 0.5, Ns: 100}, {P: 0.9, Ns: 150}}}
	if got := medianLatency(l); got != 100 {
		t.Fatalf("median latency %v, want the p50 100", got)
	}
	if got := medianLatency(inference.LatencyStats{MeanNs: 900}); got != 900 {
		t.Fatalf("without percentiles %v, want the mean", got)
	}
}

// slowFinish is a log handler that holds the agent's run handler for a
// while after it sent the result (at its "run finished" record), as a busy
// host's scheduler may.
type slowFinish struct{ slog.Handler }

func (h slowFinish) Enabled(context.Context, slog.Level) bool { return true }
func (h slowFinish) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "run finished" {
		time.Sleep(300 * time.Millisecond)
	}
	return nil
}
func (h slowFinish) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h slowFinish) WithGroup(string) slog.Handler      { return h }

// Back-to-back runs on one agent (the calibration's measurements) wait for
// the previous run's stream to end, so the agent has freed itself: a busy
// host that delays the agent after it sent the result must not get the
// next run refused as "in progress".
func TestBackToBackRunsWaitForTheAgent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var addrs []string
	for range 2 {
		srv, err := agent.NewServer(agent.DefaultConfig(), "test", slog.New(slowFinish{}))
		if err != nil {
			t.Fatal(err)
		}
		ready := make(chan net.Addr, 1)
		wg.Go(func() {
			_ = agent.Serve(ctx, srv, agent.ListenOptions{Addr: "127.0.0.1:0"}, func(a net.Addr) { ready <- a })
		})
		addrs = append(addrs, (<-ready).String())
	}
	yaml := fmt.Sprintf(`version: v1
agents:
  - {name: base, address: %q, role: baseline}
  - {name: cand, address: %q, role: candidate}
workload:
  backend: sim
  model: resnet50
  settings: {min_duration_ms: 100, warmup_ms: 0}
scenarios: [offline]
profile: quick
repetitions: 2
retries: 0
output: %s
`, addrs[0], addrs[1], t.TempDir())
	_, m, err := runnerFor(t, yaml).Execute(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Runs {
		if r.Status != results.StatusOK {
			t.Fatalf("run %+v", r)
		}
	}
}
