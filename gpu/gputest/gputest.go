//go:build linux && cgo

// Package gputest builds go-nvml mock servers with telemetry, for tests
// of code that reads GPUs: go-nvml's pre-built DGX servers simulate
// identity and MIG only, and panic on every telemetry call until it is
// stubbed. NewRig stubs all of them from plain fields.
package gputest

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// FakeGPU is the telemetry a go-nvml mock device reports: the pre-built
// DGX servers simulate identity and MIG only, so every telemetry function
// the code calls is stubbed from these fields. Sequences return one value
// per call and then repeat their last.
type FakeGPU struct {
	sync.Mutex
	// NotSupported names methods that return ERROR_NOT_SUPPORTED.
	NotSupported map[string]bool
	// Forbidden names methods that must never be called (the symbol is
	// missing from the driver); calling one fails the test.
	Forbidden map[string]bool
	t         testing.TB

	Virt                         nvml.GpuVirtualizationMode
	SMClock, MemClock            []uint32
	Util                         nvml.Utilization
	GPUSamples                   []nvml.Sample // the driver's buffer
	MemSamples                   []nvml.Sample
	PowerMW                      []uint32
	Energy                       []uint64
	Temp                         uint32
	MemUsed                      uint64
	PCIeTX, PCIeRX               uint32
	LinkGen, LinkWidth           int
	Reasons                      []uint64
	ECCCorrected, ECCUncorrected uint64
	License                      *nvml.GridLicensableFeatures
	Procs                        []nvml.ProcessInfo
	Persistence                  nvml.EnableState
	PState                       nvml.Pstates
	AppSM, DefaultSM             uint32
	// PCIeBytes are the cumulative PCIe TX and RX byte counters (field
	// values 197 and 198); each GetFieldValues call advances them by
	// PCIeStep, which the defaults make PCIeTX/PCIeRX KB/s at 10 Hz.
	PCIeBytes, PCIeStep [2]uint64
	// GPMSupported is what GpmQueryDeviceSupport says: Hopper and newer.
	GPMSupported bool
	// GPM is what GpmMetricsGet returns per metric over any two samples;
	// a metric missing here comes back ERROR_NOT_SUPPORTED in its entry.
	// GPMFunc, if set, computes the value instead, from the two samples'
	// sequence numbers (the GpmSampleGet calls that filled them, from 1).
	GPM     map[nvml.GpmMetricId]float64
	GPMFunc func(id nvml.GpmMetricId, from, to int) float64
	// GPMRequests records each GpmMetricsGet call.
	GPMRequests []GPMRequest
	// Spin makes a method burn this much CPU per call, to look dear.
	Spin map[string]time.Duration
	// CallCount counts calls per method name.
	CallCount map[string]int
}

// NewFakeGPU returns bare-metal H100 telemetry.
func NewFakeGPU(t testing.TB) *FakeGPU {
	return &FakeGPU{
		t: t, NotSupported: map[string]bool{}, Forbidden: map[string]bool{}, CallCount: map[string]int{}, Spin: map[string]time.Duration{},
		PCIeStep: [2]uint64{100_000, 200_000},
		Virt:     nvml.GPU_VIRTUALIZATION_MODE_NONE, SMClock: []uint32{1980}, MemClock: []uint32{2619},
		Util: nvml.Utilization{Gpu: 87, Memory: 41}, PowerMW: []uint32{350_000}, Energy: []uint64{1_000_000},
		Temp: 55, MemUsed: 10 << 30, PCIeTX: 1000, PCIeRX: 2000, LinkGen: 5, LinkWidth: 16,
		Reasons: []uint64{0}, Persistence: nvml.FEATURE_ENABLED, PState: nvml.PSTATE_0, AppSM: 1755, DefaultSM: 1755,
		GPMSupported: true, GPM: DefaultGPM(),
	}
}

// DefaultGPM returns a busy inference GPU's GPM metrics: a distinct value
// for each metric gpuperf reads, so a test sees which went where.
func DefaultGPM() map[nvml.GpmMetricId]float64 {
	return map[nvml.GpmMetricId]float64{
		nvml.GPM_METRIC_GRAPHICS_UTIL: 81, nvml.GPM_METRIC_SM_UTIL: 72, nvml.GPM_METRIC_SM_OCCUPANCY: 43,
		nvml.GPM_METRIC_ANY_TENSOR_UTIL: 55, nvml.GPM_METRIC_DRAM_BW_UTIL: 36, nvml.GPM_METRIC_FP64_UTIL: 1,
		nvml.GPM_METRIC_FP32_UTIL: 12, nvml.GPM_METRIC_FP16_UTIL: 29, nvml.GPM_METRIC_PCIE_TX_PER_SEC: 900,
		nvml.GPM_METRIC_PCIE_RX_PER_SEC: 1800,
	}
}

// GPMRequest is one GpmMetricsGet call: the sequence numbers of its two
// samples and the metric IDs asked for, in order.
type GPMRequest struct {
	From, To int
	IDs      []nvml.GpmMetricId
}

// FakeGPMSample is a GPM sample buffer from the rig's GpmSampleAlloc.
type FakeGPMSample struct {
	mock.GpmSample
	// Seq is the device's GpmSampleGet call that last filled it (from 1);
	// 0 while empty.
	Seq   int
	gpu   *FakeGPU
	freed bool
}

// metricsGet answers GpmMetricsGet over samples a and b.
func (f *FakeGPU) metricsGet(mg *nvml.GpmMetricsGetType, a, b *FakeGPMSample) nvml.Return {
	if r := f.Enter("GpmMetricsGet"); r != nvml.SUCCESS {
		return r
	}
	f.Lock()
	defer f.Unlock()
	req := GPMRequest{From: a.Seq, To: b.Seq}
	for i := range int(min(mg.NumMetrics, uint32(len(mg.Metrics)))) {
		m := &mg.Metrics[i]
		id := nvml.GpmMetricId(m.MetricId)
		req.IDs = append(req.IDs, id)
		v, ok := f.GPM[id]
		if ok && f.GPMFunc != nil {
			v = f.GPMFunc(id, a.Seq, b.Seq)
		}
		if !ok {
			m.NvmlReturn = uint32(nvml.ERROR_NOT_SUPPORTED)
			continue
		}
		m.NvmlReturn, m.Value = uint32(nvml.SUCCESS), v
	}
	f.GPMRequests = append(f.GPMRequests, req)
	return nvml.SUCCESS
}

// Enter records a call and returns ERROR_NOT_SUPPORTED where configured.
func (f *FakeGPU) Enter(name string) nvml.Return {
	f.Lock()
	defer f.Unlock()
	f.CallCount[name]++
	if d := f.Spin[name]; d > 0 {
		for end := time.Now().Add(d); time.Now().Before(end); {
		}
	}
	if f.Forbidden[name] {
		f.t.Errorf("%s called, but the driver lacks it (the process would die)", name)
	}
	if f.NotSupported[name] {
		return nvml.ERROR_NOT_SUPPORTED
	}
	return nvml.SUCCESS
}

func next[T any](f *FakeGPU, name string, seq []T) T {
	f.Lock()
	defer f.Unlock()
	i := f.CallCount[name] - 1
	return seq[min(max(i, 0), len(seq)-1)]
}

// U32Sample is an NVML sample holding an unsigned int, as utilization
// samples do.
func U32Sample(ts uint64, v uint32) nvml.Sample {
	var s nvml.Sample
	s.TimeStamp = ts
	binary.LittleEndian.PutUint32(s.SampleValue[:], v)
	return s
}

// Install stubs every telemetry function of d from f; index is the
// device's position (bus id, NUMA node, CPU affinity derive from it).
func (f *FakeGPU) Install(d *server.Device, index int) {
	d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
		var p nvml.PciInfo
		p.PciDeviceId = d.Config.PciDeviceId
		for i, c := range []byte("00000000:1" + string(rune('8'+index)) + ":00.0") {
			p.BusId[i] = int8(c)
		}
		return p, nvml.SUCCESS
	}
	d.GetSerialFunc = func() (string, nvml.Return) { return "165482310" + string(rune('0'+index)), f.Enter("GetSerial") }
	d.GetVbiosVersionFunc = func() (string, nvml.Return) { return "96.00.74.00.01", f.Enter("GetVbiosVersion") }
	d.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) { return 700_000, f.Enter("GetEnforcedPowerLimit") }
	d.GetPowerManagementDefaultLimitFunc = func() (uint32, nvml.Return) {
		return 700_000, f.Enter("GetPowerManagementDefaultLimit")
	}
	d.GetMaxClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		if c == nvml.CLOCK_SM {
			return 1980, f.Enter("GetMaxClockInfo")
		}
		return 2619, f.Enter("GetMaxClockInfo")
	}
	d.GetEccModeFunc = func() (nvml.EnableState, nvml.EnableState, nvml.Return) {
		return nvml.FEATURE_ENABLED, nvml.FEATURE_ENABLED, f.Enter("GetEccMode")
	}
	d.GetGpuMaxPcieLinkGenerationFunc = func() (int, nvml.Return) { return 5, f.Enter("GetGpuMaxPcieLinkGeneration") }
	d.GetMaxPcieLinkGenerationFunc = func() (int, nvml.Return) { return 5, f.Enter("GetMaxPcieLinkGeneration") }
	d.GetMaxPcieLinkWidthFunc = func() (int, nvml.Return) { return 16, f.Enter("GetMaxPcieLinkWidth") }
	d.GetCurrPcieLinkGenerationFunc = func() (int, nvml.Return) { return f.LinkGen, f.Enter("GetCurrPcieLinkGeneration") }
	d.GetCurrPcieLinkWidthFunc = func() (int, nvml.Return) { return f.LinkWidth, f.Enter("GetCurrPcieLinkWidth") }
	d.GetNumaNodeIdFunc = func() (int, nvml.Return) { return index / 4, f.Enter("GetNumaNodeId") }
	d.GetCpuAffinityFunc = func(int) ([]uint, nvml.Return) {
		return []uint{0xFFFF << (16 * uint(index/4))}, f.Enter("GetCpuAffinity")
	}
	d.GetVirtualizationModeFunc = func() (nvml.GpuVirtualizationMode, nvml.Return) {
		return f.Virt, f.Enter("GetVirtualizationMode")
	}
	d.GetHostVgpuModeFunc = func() (nvml.HostVgpuMode, nvml.Return) {
		return nvml.HOST_VGPU_MODE_SRIOV, f.Enter("GetHostVgpuMode")
	}
	d.GetGridLicensableFeaturesFunc = func() (nvml.GridLicensableFeatures, nvml.Return) {
		r := f.Enter("GetGridLicensableFeatures")
		if f.License == nil {
			return nvml.GridLicensableFeatures{}, nvml.ERROR_NOT_SUPPORTED
		}
		return *f.License, r
	}
	d.GetClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		if c == nvml.CLOCK_SM {
			r := f.Enter("GetClockInfo(SM)")
			return next(f, "GetClockInfo(SM)", f.SMClock), r
		}
		r := f.Enter("GetClockInfo(MEM)")
		return next(f, "GetClockInfo(MEM)", f.MemClock), r
	}
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return f.Util, f.Enter("GetUtilizationRates") }
	d.GetSamplesFunc = func(t nvml.SamplingType, last uint64) (nvml.ValueType, []nvml.Sample, nvml.Return) {
		if r := f.Enter("GetSamples"); r != nvml.SUCCESS {
			return 0, nil, r
		}
		f.Lock()
		defer f.Unlock()
		buf := f.GPUSamples
		if t == nvml.MEMORY_UTILIZATION_SAMPLES {
			buf = f.MemSamples
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
		r := f.Enter("GetPowerUsage")
		return next(f, "GetPowerUsage", f.PowerMW), r
	}
	d.GetTotalEnergyConsumptionFunc = func() (uint64, nvml.Return) {
		r := f.Enter("GetTotalEnergyConsumption")
		return next(f, "GetTotalEnergyConsumption", f.Energy), r
	}
	d.GetFieldValuesFunc = func(vals []nvml.FieldValue) nvml.Return {
		if r := f.Enter("GetFieldValues"); r != nvml.SUCCESS {
			return r
		}
		f.Lock()
		defer f.Unlock()
		f.PCIeBytes[0] += f.PCIeStep[0]
		f.PCIeBytes[1] += f.PCIeStep[1]
		for i := range vals {
			v := &vals[i]
			switch v.FieldId {
			case nvml.FI_DEV_PCIE_COUNT_TX_BYTES, nvml.FI_DEV_PCIE_COUNT_RX_BYTES:
				v.ValueType = uint32(nvml.VALUE_TYPE_UNSIGNED_LONG_LONG)
				binary.LittleEndian.PutUint64(v.Value[:], f.PCIeBytes[v.FieldId-nvml.FI_DEV_PCIE_COUNT_TX_BYTES])
			default:
				v.NvmlReturn = uint32(nvml.ERROR_NOT_SUPPORTED)
			}
		}
		return nvml.SUCCESS
	}
	d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return f.Temp, f.Enter("GetTemperature") }
	d.GetTemperatureVFunc = func() nvml.TemperatureHandler {
		f.t.Errorf("GetTemperatureV called on a mock device")
		return nvml.TemperatureHandler{}
	}
	d.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) {
		return nvml.Memory_v2{Total: d.MemoryInfo.Total, Used: f.MemUsed}, f.Enter("GetMemoryInfo_v2")
	}
	d.GetPcieThroughputFunc = func(c nvml.PcieUtilCounter) (uint32, nvml.Return) {
		if c == nvml.PCIE_UTIL_TX_BYTES {
			return f.PCIeTX, f.Enter("GetPcieThroughput")
		}
		return f.PCIeRX, f.Enter("GetPcieThroughput")
	}
	d.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) {
		r := f.Enter("GetCurrentClocksEventReasons")
		return next(f, "GetCurrentClocksEventReasons", f.Reasons), r
	}
	d.GetCurrentClocksThrottleReasonsFunc = func() (uint64, nvml.Return) {
		r := f.Enter("GetCurrentClocksThrottleReasons")
		return next(f, "GetCurrentClocksThrottleReasons", f.Reasons), r
	}
	d.GetTotalEccErrorsFunc = func(t nvml.MemoryErrorType, _ nvml.EccCounterType) (uint64, nvml.Return) {
		r := f.Enter("GetTotalEccErrors")
		f.Lock()
		defer f.Unlock()
		if t == nvml.MEMORY_ERROR_TYPE_CORRECTED {
			return f.ECCCorrected, r
		}
		return f.ECCUncorrected, r
	}
	d.GetSupportedEventTypesFunc = func() (uint64, nvml.Return) {
		return nvml.EventTypeXidCriticalError | nvml.EventTypeSingleBitEccError, f.Enter("GetSupportedEventTypes")
	}
	d.RegisterEventsFunc = func(uint64, nvml.EventSet) nvml.Return { return f.Enter("RegisterEvents") }
	d.GpmQueryDeviceSupportFunc = func() (nvml.GpmSupport, nvml.Return) {
		sup := nvml.GpmSupport{Version: nvml.GPM_SUPPORT_VERSION}
		if f.GPMSupported {
			sup.IsSupportedDevice = 1
		}
		return sup, f.Enter("GpmQueryDeviceSupport")
	}
	d.GpmSampleGetFunc = func(s nvml.GpmSample) nvml.Return {
		r := f.Enter("GpmSampleGet")
		fs, ok := s.(*FakeGPMSample)
		switch {
		case !ok:
			f.t.Errorf("GpmSampleGet with a %T, not the rig's sample", s)
			return nvml.ERROR_INVALID_ARGUMENT
		case fs.freed:
			f.t.Errorf("GpmSampleGet into a freed sample")
			return nvml.ERROR_INVALID_ARGUMENT
		case r != nvml.SUCCESS:
			return r
		}
		f.Lock()
		defer f.Unlock()
		fs.Seq, fs.gpu = f.CallCount["GpmSampleGet"], f
		return nvml.SUCCESS
	}
	d.GetPersistenceModeFunc = func() (nvml.EnableState, nvml.Return) { return f.Persistence, f.Enter("GetPersistenceMode") }
	d.GetPerformanceStateFunc = func() (nvml.Pstates, nvml.Return) { return f.PState, f.Enter("GetPerformanceState") }
	d.GetApplicationsClockFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		if c == nvml.CLOCK_SM {
			return f.AppSM, f.Enter("GetApplicationsClock")
		}
		return 2619, f.Enter("GetApplicationsClock")
	}
	d.GetDefaultApplicationsClockFunc = func(nvml.ClockType) (uint32, nvml.Return) {
		return f.DefaultSM, f.Enter("GetDefaultApplicationsClock")
	}
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return f.Procs, f.Enter("GetComputeRunningProcesses")
	}
	d.GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return nil, f.Enter("GetGraphicsRunningProcesses")
	}
}

// FakeEvents is the events an NVML event set delivers, in order.
type FakeEvents struct {
	sync.Mutex
	queue []nvml.EventData
}

// Push queues an event.
func (e *FakeEvents) Push(ev nvml.EventData) {
	e.Lock()
	e.queue = append(e.queue, ev)
	e.Unlock()
}

// Rig is a mock DGX H100 with fake telemetry on every device.
type Rig struct {
	Server *server.Server
	GPUs   []*FakeGPU
	Events *FakeEvents
	// Missing lists symbols the driver lacks: LookupSymbol fails for them.
	Missing map[string]bool

	mu         sync.Mutex       // protects gpmSamples
	gpmSamples []*FakeGPMSample // every GpmSampleAlloc's
}

// NewRig builds a DGX H100 mock of n GPUs with bare-metal telemetry; an
// event set delivers Events.
func NewRig(t testing.TB, n int) *Rig { return NewRigOf(t, n, gpus.H100_SXM5_80GB) }

// NewRigOf builds a mock server of n GPUs of model cfg (gpus.A100_SXM4_80GB,
// ...) with bare-metal telemetry; GPM is supported from Hopper on.
func NewRigOf(t testing.TB, n int, cfg gpus.Config) *Rig {
	srv := dgxh100.NewWithGPUs(gpus.Multiple(n, cfg)...)
	r := &Rig{Server: srv, Events: &FakeEvents{}, Missing: map[string]bool{}}
	for i, d := range srv.Devices {
		f := NewFakeGPU(t)
		f.GPMSupported = cfg.Architecture >= nvml.DEVICE_ARCH_HOPPER && cfg.Architecture != nvml.DEVICE_ARCH_UNKNOWN
		f.Install(d.(*server.Device), i)
		r.GPUs = append(r.GPUs, f)
	}
	srv.GpmSampleAllocFunc = func() (nvml.GpmSample, nvml.Return) {
		s := &FakeGPMSample{}
		s.FreeFunc = func() nvml.Return {
			r.mu.Lock()
			defer r.mu.Unlock()
			if s.freed {
				t.Errorf("GPM sample freed twice")
				return nvml.ERROR_INVALID_ARGUMENT
			}
			s.freed = true
			return nvml.SUCCESS
		}
		r.mu.Lock()
		r.gpmSamples = append(r.gpmSamples, s)
		r.mu.Unlock()
		return s, nvml.SUCCESS
	}
	srv.GpmMetricsGetFunc = func(mg *nvml.GpmMetricsGetType) nvml.Return {
		a, ok1 := mg.Sample1.(*FakeGPMSample)
		b, ok2 := mg.Sample2.(*FakeGPMSample)
		switch {
		case !ok1 || !ok2:
			t.Errorf("GpmMetricsGet with %T and %T, not the rig's samples", mg.Sample1, mg.Sample2)
			return nvml.ERROR_INVALID_ARGUMENT
		case a.freed || b.freed || a.gpu == nil || b.gpu == nil:
			t.Errorf("GpmMetricsGet over a freed or empty sample")
			return nvml.ERROR_INVALID_ARGUMENT
		case a.gpu != b.gpu:
			t.Errorf("GpmMetricsGet over two devices' samples")
			return nvml.ERROR_INVALID_ARGUMENT
		}
		return a.gpu.metricsGet(mg, a, b)
	}
	srv.LookupSymbolFunc = func(name string) error {
		if r.Missing[name] {
			return &symbolError{name}
		}
		return nil
	}
	srv.EventSetCreateFunc = func() (nvml.EventSet, nvml.Return) {
		return &mock.EventSet{
			WaitFunc: func(uint32) (nvml.EventData, nvml.Return) {
				r.Events.Lock()
				defer r.Events.Unlock()
				if len(r.Events.queue) == 0 {
					return nvml.EventData{}, nvml.ERROR_TIMEOUT
				}
				ev := r.Events.queue[0]
				r.Events.queue = r.Events.queue[1:]
				return ev, nvml.SUCCESS
			},
			FreeFunc: func() nvml.Return { return nvml.SUCCESS },
		}, nvml.SUCCESS
	}
	return r
}

// LiveGPMSamples counts the GPM samples allocated and not yet freed.
func (r *Rig) LiveGPMSamples() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.gpmSamples {
		if !s.freed {
			n++
		}
	}
	return n
}

type symbolError struct{ name string }

func (e *symbolError) Error() string { return "symbol " + e.name + " not found" }
