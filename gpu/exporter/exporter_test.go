package exporter

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gpuperf/gpuperf/gpu"
)

// fakeSource is one H100 on bare metal and one vGPU without power.
type fakeSource struct{}

func (fakeSource) Driver() string { return "550.54.15" }

func (fakeSource) Devices() []gpu.DeviceInfo {
	all := gpu.Capabilities{}
	vg := gpu.Capabilities{}
	for m := gpu.Metric(0); m < gpu.NumMetrics; m++ {
		all[m.Name()] = gpu.Capability{Status: gpu.Supported}
		vg[m.Name()] = gpu.Capability{Status: gpu.Supported}
	}
	vg["power_w"] = gpu.Capability{Status: gpu.NotSupported}
	return []gpu.DeviceInfo{
		{Index: 0, Minor: 0, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-aaaa", PCIBusID: "00000000:18:00.0", Virtualization: "none", MIGMode: "disabled", Capabilities: all},
		{Index: 1, Minor: 3, Name: "GRID A100-40C", UUID: "GPU-bbbb", PCIBusID: "00000000:02:00.0", Virtualization: "vgpu", Capabilities: vg,
			VGPULicense: &gpu.License{Supported: true, Licensed: true, State: "licensed"}},
	}
}

func (fakeSource) Read() []gpu.Reading {
	var a, b gpu.Reading
	a.Set(gpu.SMClock, 1980)
	a.Set(gpu.Power, 350.5)
	a.Set(gpu.Energy, 1e6)
	a.EnergyMJ = 123456789
	a.Set(gpu.MemUsed, 10240)
	a.Set(gpu.ClockEvents, 0x4)
	a.Reasons = 0x4
	b.Set(gpu.SMClock, 1410)
	b.Set(gpu.GPUUtil, 87)
	return []gpu.Reading{a, b}
}

func TestDCGMNames(t *testing.T) {
	host, _ := os.Hostname()
	c := New(fakeSource{}, "", nil)
	lbl := func(gpuIdx, uuid, bus, dev, model string) string {
		return `DCGM_FI_DRIVER_VERSION="550.54.15",Hostname="` + host + `",UUID="` + uuid + `",device="` + dev + `",gpu="` + gpuIdx + `",modelName="` + model + `",pci_bus_id="` + bus + `"`
	}
	h100 := lbl("0", "GPU-aaaa", "00000000:18:00.0", "nvidia0", "NVIDIA H100 80GB HBM3")
	vgpu := lbl("1", "GPU-bbbb", "00000000:02:00.0", "nvidia3", "GRID A100-40C")
	want := `
# HELP DCGM_FI_DEV_SM_CLOCK SM clock frequency (in MHz).
# TYPE DCGM_FI_DEV_SM_CLOCK gauge
DCGM_FI_DEV_SM_CLOCK{` + h100 + `} 1980
DCGM_FI_DEV_SM_CLOCK{` + vgpu + `} 1410
# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{` + h100 + `} 350.5
# HELP DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION Total energy consumption since boot (in mJ).
# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter
DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{` + h100 + `} 1.23456789e+08
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{` + vgpu + `} 87
# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{` + h100 + `} 10240
# HELP DCGM_FI_DEV_VGPU_LICENSE_STATUS vGPU license status (1 licensed).
# TYPE DCGM_FI_DEV_VGPU_LICENSE_STATUS gauge
DCGM_FI_DEV_VGPU_LICENSE_STATUS{` + vgpu + `} 1
`
	names := []string{"DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
		"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_VGPU_LICENSE_STATUS", "DCGM_FI_DEV_GPU_TEMP"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// The vGPU's missing power is no series at all, not a 0.
	if n := testutil.CollectAndCount(c, "DCGM_FI_DEV_POWER_USAGE"); n != 1 {
		t.Errorf("power series = %d; want 1", n)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP gpuperf_gpu_clock_event_reasons Clock event (throttle) reasons, NVML bitmask.
# TYPE gpuperf_gpu_clock_event_reasons gauge
gpuperf_gpu_clock_event_reasons{Hostname="`+host+`",UUID="GPU-aaaa",gpu="0",modelName="NVIDIA H100 80GB HBM3"} 4
`), "gpuperf_gpu_clock_event_reasons"); err != nil {
		t.Error(err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Errorf("pedantic gather: %v", err)
	}
}

func TestRunStateAndNoNVML(t *testing.T) {
	host, _ := os.Hostname()
	st := NewRunState()
	c := New(nil, "NVML library not found", st)
	st.Start("r1", "cpu", "resnet50", "Offline")
	st.Progress("run", 2.5, 1, 4096)
	want := `
# HELP gpuperf_nvml_available 1 when NVML is loaded, else 0 (reason in the label).
# TYPE gpuperf_nvml_available gauge
gpuperf_nvml_available{Hostname="` + host + `",reason="NVML library not found"} 0
# HELP gpuperf_run_active 1 while a run is in progress.
# TYPE gpuperf_run_active gauge
gpuperf_run_active 1
# HELP gpuperf_run_info The run in progress or the last one.
# TYPE gpuperf_run_info gauge
gpuperf_run_info{backend="cpu",model="resnet50",phase="run",run_id="r1",scenario="Offline"} 1
# HELP gpuperf_run_samples_completed Samples completed by the run in progress.
# TYPE gpuperf_run_samples_completed gauge
gpuperf_run_samples_completed 4096
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "gpuperf_nvml_available", "gpuperf_run_active", "gpuperf_run_info", "gpuperf_run_samples_completed"); err != nil {
		t.Error(err)
	}
	st.Finish("valid", "result_samples_per_second", "samples/s", 1234.5)
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP gpuperf_last_run_metric The last run's official metric.
# TYPE gpuperf_last_run_metric gauge
gpuperf_last_run_metric{metric="result_samples_per_second",unit="samples/s"} 1234.5
# HELP gpuperf_run_active 1 while a run is in progress.
# TYPE gpuperf_run_active gauge
gpuperf_run_active 0
`), "gpuperf_last_run_metric", "gpuperf_run_active"); err != nil {
		t.Error(err)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP gpuperf_runs_total Runs finished, by outcome (valid, invalid, failed, cancelled).
# TYPE gpuperf_runs_total counter
gpuperf_runs_total{outcome="cancelled"} 0
gpuperf_runs_total{outcome="failed"} 0
gpuperf_runs_total{outcome="invalid"} 0
gpuperf_runs_total{outcome="valid"} 1
`), "gpuperf_runs_total"); err != nil {
		t.Error(err)
	}
}

// profSource adds GPM profiling values to the H100 (the vGPU has none).
type profSource struct{ fakeSource }

func (p profSource) Read() []gpu.Reading {
	rs := p.fakeSource.Read()
	rs[0].Set(gpu.ProfSMActive, 72)
	rs[0].Set(gpu.ProfTensorActive, 55.5)
	rs[0].Set(gpu.ProfPCIeTX, 900)
	return rs
}

// The profiling metrics go out as dcgm-exporter reports them: ratios, and
// PCIe in bytes/s (GPM gives percent and MiB/s).
func TestProfilingInDCGMUnits(t *testing.T) {
	host, _ := os.Hostname()
	c := New(profSource{}, "", nil)
	h100 := `DCGM_FI_DRIVER_VERSION="550.54.15",Hostname="` + host + `",UUID="GPU-aaaa",device="nvidia0",gpu="0",modelName="NVIDIA H100 80GB HBM3",pci_bus_id="00000000:18:00.0"`
	want := `
# HELP DCGM_FI_PROF_SM_ACTIVE The ratio of cycles an SM has at least 1 warp assigned.
# TYPE DCGM_FI_PROF_SM_ACTIVE gauge
DCGM_FI_PROF_SM_ACTIVE{` + h100 + `} 0.72
# HELP DCGM_FI_PROF_PIPE_TENSOR_ACTIVE Ratio of cycles any tensor pipe is active.
# TYPE DCGM_FI_PROF_PIPE_TENSOR_ACTIVE gauge
DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{` + h100 + `} 0.555
# HELP DCGM_FI_PROF_PCIE_TX_BYTES The rate of data transmitted over the PCIe bus - including both protocol headers and data payloads - in bytes per second.
# TYPE DCGM_FI_PROF_PCIE_TX_BYTES gauge
DCGM_FI_PROF_PCIE_TX_BYTES{` + h100 + `} 9.437184e+08
`
	names := []string{"DCGM_FI_PROF_SM_ACTIVE", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "DCGM_FI_PROF_PCIE_TX_BYTES", "DCGM_FI_PROF_DRAM_ACTIVE"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Errorf("pedantic gather: %v", err)
	}
}
