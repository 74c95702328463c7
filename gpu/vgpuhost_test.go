//go:build linux && cgo

package gpu

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/gpuperf/gpuperf/gpu/gputest"
)

// fakeVgpu is a vGPU instance; NVML's samples name it by ID.
type fakeVgpu struct {
	mock.VgpuInstance
	ID uint32
}

func newFakeVgpu(id uint32, uuid, vm, typ string) *fakeVgpu {
	v := &fakeVgpu{ID: id}
	v.GetUUIDFunc = func() (string, nvml.Return) { return uuid, nvml.SUCCESS }
	v.GetVmIDFunc = func() (string, nvml.VgpuVmIdType, nvml.Return) { return vm, nvml.VGPU_VM_ID_UUID, nvml.SUCCESS }
	v.GetTypeFunc = func() (nvml.VgpuTypeId, nvml.Return) {
		return &mock.VgpuTypeId{GetNameFunc: func() (string, nvml.Return) { return typ, nvml.SUCCESS }}, nvml.SUCCESS
	}
	return v
}

func vgpuSample(id uint32, ts uint64, sm, mem uint32) nvml.VgpuInstanceUtilizationSample {
	s := nvml.VgpuInstanceUtilizationSample{VgpuInstance: id, TimeStamp: ts}
	binary.LittleEndian.PutUint32(s.SmUtil[:], sm)
	binary.LittleEndian.PutUint32(s.MemUtil[:], mem)
	return s
}

func TestVGPUHostSampler(t *testing.T) {
	t.Parallel()
	r := gputest.NewRig(t, 1)
	r.GPUs[0].Virt = nvml.GPU_VIRTUALIZATION_MODE_HOST_VGPU
	d := r.Server.Devices[0].(*server.Device)
	var mu sync.Mutex
	buf := []nvml.VgpuInstanceUtilizationSample{vgpuSample(7, 100, 99, 99)} // before the window
	d.GetActiveVgpusFunc = func() ([]nvml.VgpuInstance, nvml.Return) {
		return []nvml.VgpuInstance{newFakeVgpu(7, "vgpu-7", "vm-a", "GRID H100-40C"), newFakeVgpu(9, "vgpu-9", "vm-b", "GRID H100-40C")}, nvml.SUCCESS
	}
	d.GetVgpuUtilizationFunc = func(last uint64) (nvml.ValueType, []nvml.VgpuInstanceUtilizationSample, nvml.Return) {
		mu.Lock()
		defer mu.Unlock()
		var out []nvml.VgpuInstanceUtilizationSample
		for _, s := range buf {
			if s.TimeStamp > last {
				out = append(out, s)
			}
		}
		if len(out) == 0 {
			return nvml.VALUE_TYPE_UNSIGNED_INT, nil, nvml.ERROR_NOT_FOUND
		}
		return nvml.VALUE_TYPE_UNSIGNED_INT, out, nvml.SUCCESS
	}
	timeslice := uint32(2000)
	d.GetVgpuSchedulerState_v2Func = func(nvml.VgpuSchedulerStateInfo_v2) (nvml.VgpuSchedulerStateInfo_v2, nvml.Return) {
		mu.Lock()
		defer mu.Unlock()
		return nvml.VgpuSchedulerStateInfo_v2{SchedulerPolicy: 2, Timeslice: timeslice}, nvml.SUCCESS
	}
	n := OpenLibrary(r.Server, Options{CallBudget: -1})
	defer n.Close()
	if n.Devices()[0].Virtualization != "host_vgpu" || n.Devices()[0].HostVGPUMode != "sriov" {
		t.Fatalf("device = %+v", n.Devices()[0])
	}
	s, err := n.NewVGPUHostSampler(SamplerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s.Window(true, 0)
	mu.Lock()
	buf = append(buf, vgpuSample(7, 200, 60, 30), vgpuSample(9, 210, 20, 10), vgpuSample(7, 300, 80, 50))
	timeslice = 1000 // someone changed the scheduler during the run
	mu.Unlock()
	s.Window(false, 1_000_000)
	sum := s.Summary()
	if sum == nil || len(sum.Devices) != 1 || len(sum.Devices[0].Instances) != 2 {
		t.Fatalf("summary = %+v", sum)
	}
	hd := sum.Devices[0]
	if hd.SchedulerStart == nil || hd.SchedulerStart.Policy != "equal_share" || hd.SchedulerStart.TimesliceUs != 2000 || hd.SchedulerEnd.TimesliceUs != 1000 {
		t.Errorf("scheduler %+v → %+v", hd.SchedulerStart, hd.SchedulerEnd)
	}
	v7, v9 := hd.Instances[0], hd.Instances[1]
	if v7.ID != 7 || v7.VMID != "vm-a" || v7.Type != "GRID H100-40C" || v7.SM == nil || v7.SM.N != 2 || v7.SM.Mean != 70 || v7.Mem.Max != 50 {
		t.Errorf("vGPU 7 = %+v sm %+v", v7, v7.SM)
	}
	if v9.ID != 9 || v9.SM == nil || v9.SM.Mean != 20 || v9.UUID != "vgpu-9" {
		t.Errorf("vGPU 9 = %+v", v9)
	}
}

func TestVGPUHostSamplerOnlyOnHosts(t *testing.T) {
	t.Parallel()
	n := OpenLibrary(gputest.NewRig(t, 1).Server, Options{CallBudget: -1})
	defer n.Close()
	if _, err := n.NewVGPUHostSampler(SamplerConfig{}); !errors.Is(err, ErrNotVGPUHost) {
		t.Errorf("NewVGPUHostSampler on bare metal: %v; want ErrNotVGPUHost", err)
	}
}
