//go:build linux && cgo

package gpu

import (
	"encoding/binary"
	"sync"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// fakeGPU is the telemetry a go-nvml mock device reports: the pre-built
// DGX servers simulate identity and MIG only, so every telemetry function
// the code calls is stubbed from these fields. Sequences return one value
// per call and then repeat their last.
type fakeGPU struct {
	mu sync.Mutex
	// notSupported names methods that return ERROR_NOT_SUPPORTED.
	notSupported map[string]bool
	// forbidden names methods that must never be called (the symbol is
	// missing from the driver); calling one fails the test.
	forbidden map[string]bool
	t         testing.TB

	virt             nvml.GpuVirtualizationMode
	smClock, memClk  []uint32
	util             nvml.Utilization
	gpuSamples       []nvml.Sample // the driver's buffer
	memSamples       []nvml.Sample
	powerMW          []uint32
	energy           []uint64
	temp             uint32
	memUsed          uint64
	pcieTX, pcieRX   uint32
	linkGen, linkWid int
	reasons          []uint64
	eccCorr, eccUnc  uint64
	license          *nvml.GridLicensableFeatures
	procs            []nvml.ProcessInfo
	persistence      nvml.EnableState
	pstate           nvml.Pstates
	appSM, defSM     uint32
	calls            map[string]int
}

func newFakeGPU(t testing.TB) *fakeGPU {
	return &fakeGPU{
		t: t, notSupported: map[string]bool{}, forbidden: map[string]bool{}, calls: map[string]int{},
		virt: nvml.GPU_VIRTUALIZATION_MODE_NONE, smClock: []uint32{1980}, memClk: []uint32{2619},
		util: nvml.Utilization{Gpu: 87, Memory: 41}, powerMW: []uint32{350_000}, energy: []uint64{1_000_000},
		temp: 55, memUsed: 10 << 30, pcieTX: 1000, pcieRX: 2000, linkGen: 5, linkWid: 16,
		reasons: []uint64{0}, persistence: nvml.FEATURE_ENABLED, pstate: nvml.PSTATE_0, appSM: 1755, defSM: 1755,
	}
}

// enter records a call and returns ERROR_NOT_SUPPORTED where configured.
func (f *fakeGPU) enter(name string) nvml.Return {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[name]++
	if f.forbidden[name] {
		f.t.Errorf("%s called, but the driver lacks it (the process would die)", name)
	}
	if f.notSupported[name] {
		return nvml.ERROR_NOT_SUPPORTED
	}
	return nvml.SUCCESS
}

func next[T any](f *fakeGPU, name string, seq []T) T {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.calls[name] - 1
	return seq[min(max(i, 0), len(seq)-1)]
}

func u32sample(ts uint64, v uint32) nvml.Sample {
	var s nvml.Sample
	s.TimeStamp = ts
	binary.LittleEndian.PutUint32(s.SampleValue[:], v)
	return s
}

func (f *fakeGPU) install(d *server.Device, index int) {
	d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
		var p nvml.PciInfo
		p.PciDeviceId = d.Config.PciDeviceId
		for i, c := range []byte("00000000:1" + string(rune('8'+index)) + ":00.0") {
			p.BusId[i] = int8(c)
		}
		return p, nvml.SUCCESS
	}
	d.GetSerialFunc = func() (string, nvml.Return) { return "165482310" + string(rune('0'+index)), f.enter("GetSerial") }
	d.GetVbiosVersionFunc = func() (string, nvml.Return) { return "96.00.74.00.01", f.enter("GetVbiosVersion") }
	d.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) { return 700_000, f.enter("GetEnforcedPowerLimit") }
	d.GetPowerManagementDefaultLimitFunc = func() (uint32, nvml.Return) {
		return 700_000, f.enter("GetPowerManagementDefaultLimit")
	}
	d.GetMaxClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		if c == nvml.CLOCK_SM {
			return 1980, f.enter("GetMaxClockInfo")
		}
		return 2619, f.enter("GetMaxClockInfo")
	}
	d.GetEccModeFunc = func() (nvml.EnableState, nvml.EnableState, nvml.Return) {
		return nvml.FEATURE_ENABLED, nvml.FEATURE_ENABLED, f.enter("GetEccMode")
	}
	d.GetGpuMaxPcieLinkGenerationFunc = func() (int, nvml.Return) { return 5, f.enter("GetGpuMaxPcieLinkGeneration") }
	d.GetMaxPcieLinkGenerationFunc = func() (int, nvml.Return) { return 5, f.enter("GetMaxPcieLinkGeneration") }
	d.GetMaxPcieLinkWidthFunc = func() (int, nvml.Return) { return 16, f.enter("GetMaxPcieLinkWidth") }
	d.GetCurrPcieLinkGenerationFunc = func() (int, nvml.Return) { return f.linkGen, f.enter("GetCurrPcieLinkGeneration") }
	d.GetCurrPcieLinkWidthFunc = func() (int, nvml.Return) { return f.linkWid, f.enter("GetCurrPcieLinkWidth") }
	d.GetNumaNodeIdFunc = func() (int, nvml.Return) { return index / 4, f.enter("GetNumaNodeId") }
	d.GetCpuAffinityFunc = func(int) ([]uint, nvml.Return) {
		return []uint{0xFFFF << (16 * uint(index/4))}, f.enter("GetCpuAffinity")
	}
	d.GetVirtualizationModeFunc = func() (nvml.GpuVirtualizationMode, nvml.Return) {
		return f.virt, f.enter("GetVirtualizationMode")
	}
	d.GetHostVgpuModeFunc = func() (nvml.HostVgpuMode, nvml.Return) {
		return nvml.HOST_VGPU_MODE_SRIOV, f.enter("GetHostVgpuMode")
	}
	d.GetGridLicensableFeaturesFunc = func() (nvml.GridLicensableFeatures, nvml.Return) {
		r := f.enter("GetGridLicensableFeatures")
		if f.license == nil {
			return nvml.GridLicensableFeatures{}, nvml.ERROR_NOT_SUPPORTED
		}
		return *f.license, r
	}
	d.GetClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		if c == nvml.CLOCK_SM {
			r := f.enter("GetClockInfo(SM)")
			return next(f, "GetClockInfo(SM)", f.smClock), r
		}
		r := f.enter("GetClockInfo(MEM)")
		return next(f, "GetClockInfo(MEM)", f.memClk), r
	}
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return f.util, f.enter("GetUtilizationRates") }
	d.GetSamplesFunc = func(t nvml.SamplingType, last uint64) (nvml.ValueType, []nvml.Sample, nvml.Return) {
		if r := f.enter("GetSamples"); r != nvml.SUCCESS {
			return 0, nil, r
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		buf := f.gpuSamples
		if t == nvml.MEMORY_UTILIZATION_SAMPLES {
			buf = f.memSamples
		}
		var out []nvml.Sample
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
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) {
		r := f.enter("GetPowerUsage")
		return next(f, "GetPowerUsage", f.powerMW), r
	}
	d.GetTotalEnergyConsumptionFunc = func() (uint64, nvml.Return) {
		r := f.enter("GetTotalEnergyConsumption")
		return next(f, "GetTotalEnergyConsumption", f.energy), r
	}
	d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return f.temp, f.enter("GetTemperature") }
	d.GetTemperatureVFunc = func() nvml.TemperatureHandler {
		f.t.Errorf("GetTemperatureV called on a mock device")
		return nvml.TemperatureHandler{}
	}
	d.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) {
		return nvml.Memory_v2{Total: d.MemoryInfo.Total, Used: f.memUsed}, f.enter("GetMemoryInfo_v2")
	}
	d.GetPcieThroughputFunc = func(c nvml.PcieUtilCounter) (uint32, nvml.Return) {
		if c == nvml.PCIE_UTIL_TX_BYTES {
			return f.pcieTX, f.enter("GetPcieThroughput")
		}
		return f.pcieRX, f.enter("GetPcieThroughput")
	}
	d.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) {
		r := f.enter("GetCurrentClocksEventReasons")
		return next(f, "GetCurrentClocksEventReasons", f.reasons), r
	}
	d.GetCurrentClocksThrottleReasonsFunc = func() (uint64, nvml.Return) {
		r := f.enter("GetCurrentClocksThrottleReasons")
		return next(f, "GetCurrentClocksThrottleReasons", f.reasons), r
	}
	d.GetTotalEccErrorsFunc = func(t nvml.MemoryErrorType, _ nvml.EccCounterType) (uint64, nvml.Return) {
		r := f.enter("GetTotalEccErrors")
		f.mu.Lock()
		defer f.mu.Unlock()
		if t == nvml.MEMORY_ERROR_TYPE_CORRECTED {
			return f.eccCorr, r
		}
		return f.eccUnc, r
	}
	d.GetSupportedEventTypesFunc = func() (uint64, nvml.Return) {
		return nvml.EventTypeXidCriticalError | nvml.EventTypeSingleBitEccError, f.enter("GetSupportedEventTypes")
	}
	d.RegisterEventsFunc = func(uint64, nvml.EventSet) nvml.Return { return f.enter("RegisterEvents") }
	d.GetPersistenceModeFunc = func() (nvml.EnableState, nvml.Return) { return f.persistence, f.enter("GetPersistenceMode") }
	d.GetPerformanceStateFunc = func() (nvml.Pstates, nvml.Return) { return f.pstate, f.enter("GetPerformanceState") }
	d.GetApplicationsClockFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		if c == nvml.CLOCK_SM {
			return f.appSM, f.enter("GetApplicationsClock")
		}
		return 2619, f.enter("GetApplicationsClock")
	}
	d.GetDefaultApplicationsClockFunc = func(nvml.ClockType) (uint32, nvml.Return) {
		return f.defSM, f.enter("GetDefaultApplicationsClock")
	}
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return f.procs, f.enter("GetComputeRunningProcesses")
	}
	d.GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return nil, f.enter("GetGraphicsRunningProcesses")
	}
}

// fakeEvents is an NVML event set holding queued events.
type fakeEvents struct {
	mu    sync.Mutex
	queue []nvml.EventData
}

func (e *fakeEvents) push(ev nvml.EventData) {
	e.mu.Lock()
	e.queue = append(e.queue, ev)
	e.mu.Unlock()
}

// rig is a mock server with fake telemetry on every device.
type rig struct {
	srv    *server.Server
	gpus   []*fakeGPU
	events *fakeEvents
	// missing lists symbols the driver lacks.
	missing map[string]bool
}

// newRig builds a DGX H100 mock of n GPUs with bare-metal telemetry.
func newRig(t testing.TB, n int) *rig {
	srv := dgxh100.NewWithGPUs(gpus.Multiple(n, gpus.H100_SXM5_80GB)...)
	r := &rig{srv: srv, events: &fakeEvents{}, missing: map[string]bool{}}
	for i, d := range srv.Devices {
		f := newFakeGPU(t)
		f.install(d.(*server.Device), i)
		r.gpus = append(r.gpus, f)
	}
	srv.LookupSymbolFunc = func(name string) error {
		if r.missing[name] {
			return &symbolError{name}
		}
		return nil
	}
	srv.EventSetCreateFunc = func() (nvml.EventSet, nvml.Return) {
		return &mock.EventSet{
			WaitFunc: func(uint32) (nvml.EventData, nvml.Return) {
				r.events.mu.Lock()
				defer r.events.mu.Unlock()
				if len(r.events.queue) == 0 {
					return nvml.EventData{}, nvml.ERROR_TIMEOUT
				}
				ev := r.events.queue[0]
				r.events.queue = r.events.queue[1:]
				return ev, nvml.SUCCESS
			},
			FreeFunc: func() nvml.Return { return nvml.SUCCESS },
		}, nvml.SUCCESS
	}
	return r
}

type symbolError struct{ name string }

func (e *symbolError) Error() string { return "symbol " + e.name + " not found" }

// open opens the rig through the production code path.
func (r *rig) open(t testing.TB) *NVML {
	n := OpenLibrary(r.srv, nil)
	t.Cleanup(func() { n.Close() })
	if !n.Available() {
		t.Fatalf("OpenLibrary: unavailable: %s", n.Unavailable())
	}
	return n
}
