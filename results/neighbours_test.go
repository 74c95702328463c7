package results

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/gpu"
)

func writeVGPUHost(t *testing.T, sum gpu.VGPUHostSummary) string {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(sum)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, VGPUHostFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func vgpu(uuid string, sm float64) gpu.VGPUInstance {
	return gpu.VGPUInstance{UUID: uuid, SM: &gpu.Stats{N: 10, Mean: sm}}
}

func TestNeighbourFindings(t *testing.T) {
	host := func(ins ...gpu.VGPUInstance) gpu.VGPUHostSummary {
		return gpu.VGPUHostSummary{Schema: gpu.VGPUHostSchema, Devices: []gpu.VGPUHostDevice{{
			UUID: "GPU-phys", SchedulerStart: &gpu.VGPUScheduler{Policy: "best_effort", TimesliceUs: 2000}, Instances: ins,
		}}}
	}
	c := &Comparison{}
	sc := "resnet50 Offline"
	// The candidate (busiest, 80%) shares the GPU with two neighbours at
	// 25% and 15% in one run and 30% and 10% in the other: 40% on average.
	runs := []runFile{
		{Scenario: sc, Dir: writeVGPUHost(t, host(vgpu("a", 80), vgpu("b", 25), vgpu("c", 15)))},
		{Scenario: sc, Dir: writeVGPUHost(t, host(vgpu("a", 70), vgpu("b", 30), vgpu("c", 10)))},
		// A quiet neighbourhood in another scenario: no finding.
		{Scenario: "resnet50 Server", Dir: writeVGPUHost(t, host(vgpu("a", 90), vgpu("b", 3)))},
		// A run without the file is skipped.
		{Scenario: sc, Dir: t.TempDir()},
	}
	got := neighbourFindings(c, runs)
	if len(got) != 1 {
		t.Fatalf("%d findings: %+v", len(got), got)
	}
	f := got[0].f
	if f.Scenario != sc || f.Kind != FindingNeighbours || f.Candidate == nil || *f.Candidate != 40 {
		t.Errorf("finding %+v", f)
	}
	if want := 0.36; math.Abs(got[0].score-want) > 1e-12 {
		t.Errorf("score %v; want %v", got[0].score, want)
	}
	for _, s := range []string{"40% of its SM", "mean of 2", "best-effort, time slice 2000 µs"} {
		if !strings.Contains(f.Text, s) {
			t.Errorf("text %q lacks %q", f.Text, s)
		}
	}
}

func TestNeighbourShareByUUID(t *testing.T) {
	// The candidate's vGPU is the idle one: the busy instance is a
	// neighbour, found by UUID, not taken for the candidate.
	sum := gpu.VGPUHostSummary{Devices: []gpu.VGPUHostDevice{
		{UUID: "GPU-0", Instances: []gpu.VGPUInstance{vgpu("other", 60)}},
		{UUID: "GPU-1", Instances: []gpu.VGPUInstance{vgpu("mine", 20), vgpu("noisy", 70)}},
	}}
	share, _, ok := neighbourShare(sum, map[string]bool{"mine": true})
	if !ok || share != 70 {
		t.Errorf("share %v ok %v; want 70 from the candidate's GPU only", share, ok)
	}
}

func TestVGPUSchedulersFact(t *testing.T) {
	sched := func(policy string, ts uint32) gpu.VGPUHostSummary {
		return gpu.VGPUHostSummary{Devices: []gpu.VGPUHostDevice{{SchedulerStart: &gpu.VGPUScheduler{Policy: policy, TimesliceUs: ts}}}}
	}
	runs := []runFile{
		{Dir: writeVGPUHost(t, sched("best_effort", 0))},
		{Dir: writeVGPUHost(t, sched("best_effort", 0))},
		{Dir: writeVGPUHost(t, sched("fixed_share", 1000))},
		{Dir: t.TempDir()},
	}
	if got, want := vgpuSchedulers(runs), "best-effort, fixed-share, time slice 1000 µs"; got != want {
		t.Errorf("vgpuSchedulers = %q; want %q", got, want)
	}
	if got := vgpuSchedulers(runs[3:]); got != "" {
		t.Errorf("without vgpu_host.json: %q", got)
	}
}
