//go:build linux && cgo

package coordinator

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/gpuperf/gpuperf/agent"
	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/gpu/gputest"
	"github.com/gpuperf/gpuperf/results"
)

// TestHypervisorWatchesTheCandidatesRuns attaches an agent on a (mock)
// vGPU hypervisor host to the candidate: each of the candidate's timed runs
// stores what the host saw, and the baseline's runs store nothing.
func TestHypervisorWatchesTheCandidatesRuns(t *testing.T) {
	rig := gputest.NewRig(t, 1)
	rig.GPUs[0].Virt = nvml.GPU_VIRTUALIZATION_MODE_HOST_VGPU
	d := rig.Server.Devices[0].(*server.Device)
	d.GetActiveVgpusFunc = func() ([]nvml.VgpuInstance, nvml.Return) { return nil, nvml.SUCCESS }
	d.GetVgpuUtilizationFunc = func(uint64) (nvml.ValueType, []nvml.VgpuInstanceUtilizationSample, nvml.Return) {
		return nvml.VALUE_TYPE_UNSIGNED_INT, nil, nvml.ERROR_NOT_FOUND
	}
	d.GetVgpuSchedulerState_v2Func = func(nvml.VgpuSchedulerStateInfo_v2) (nvml.VgpuSchedulerStateInfo_v2, nvml.Return) {
		return nvml.VgpuSchedulerStateInfo_v2{SchedulerPolicy: 2, Timeslice: 2000}, nvml.SUCCESS
	}
	n := gpu.OpenLibrary(rig.Server, gpu.Options{})
	t.Cleanup(func() { n.Close() })
	hyper := startAgents(t, 1, agent.WithNVML(n))[0]
	addrs := startAgents(t, 2)

	tree, m, err := execute(t, nullPlan(t.TempDir(), fmt.Sprintf(`
  - {name: bm, address: %q, role: baseline}
  - {name: vm, address: %q, role: candidate, hypervisor: {address: %q}}`, addrs[0], addrs[1], hyper), ""))
	if err != nil {
		t.Fatal(err)
	}
	// The hypervisor's description is stored beside the candidate's, and
	// the fairness preflight shows its driver as the vGPU manager's.
	if _, err := os.Stat(filepath.Join(tree.Root, "vm", results.HypervisorFile)); err != nil {
		t.Errorf("candidate host: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tree.Root, "bm", results.HypervisorFile)); err == nil {
		t.Errorf("baseline host has %s", results.HypervisorFile)
	}
	c, err := results.Compare(tree, m, results.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var hostDriver *results.FairnessItem
	for i, it := range c.Fairness.Items {
		if it.Key == "vgpu.host_driver" {
			hostDriver = &c.Fairness.Items[i]
		}
	}
	if hostDriver == nil || hostDriver.Candidate == "" || hostDriver.Baseline != "" || hostDriver.Material {
		t.Errorf("vgpu.host_driver item = %+v; want the candidate's vGPU manager, not material", hostDriver)
	}
	for _, r := range m.Runs {
		b, err := os.ReadFile(filepath.Join(tree.Root, r.Dir, results.VGPUHostFile))
		if r.Role == results.RoleBaseline {
			if err == nil {
				t.Errorf("baseline run %s has %s", r.Dir, results.VGPUHostFile)
			}
			continue
		}
		if err != nil {
			t.Fatalf("candidate run %s: %v", r.Dir, err)
		}
		var sum gpu.VGPUHostSummary
		if err := json.Unmarshal(b, &sum); err != nil {
			t.Fatal(err)
		}
		if sum.Schema != gpu.VGPUHostSchema || len(sum.Devices) != 1 || sum.WindowNs <= 0 ||
			sum.Devices[0].SchedulerStart == nil || sum.Devices[0].SchedulerStart.TimesliceUs != 2000 {
			t.Errorf("candidate run %s: summary %s", r.Dir, b)
		}
	}
}

// TestHypervisorWithoutVGPUIsRefused: a hypervisor agent that cannot watch
// vGPUs (here: no NVML at all) fails the plan before any run, naming it.
func TestHypervisorWithoutVGPUIsRefused(t *testing.T) {
	addrs := startAgents(t, 3)
	_, _, err := execute(t, nullPlan(t.TempDir(), fmt.Sprintf(`
  - {name: bm, address: %q, role: baseline}
  - {name: vm, address: %q, role: candidate, hypervisor: {address: %q}}`, addrs[0], addrs[1], addrs[2]), ""))
	if err == nil || !strings.Contains(err.Error(), "agent vm: hypervisor "+addrs[2]) || !strings.Contains(err.Error(), "cannot watch vGPUs") {
		t.Fatalf("err = %v", err)
	}
}
