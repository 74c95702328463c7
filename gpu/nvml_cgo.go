//go:build linux && cgo

package gpu

import (
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Open loads NVML and probes every device. It never fails: without NVML
// the result says why (Unavailable) and has no devices.
func Open(opts Options) *NVML {
	var lib nvml.Interface
	if opts.LibraryPath != "" {
		lib = nvml.New(nvml.WithLibraryPath(opts.LibraryPath))
	} else {
		lib = nvml.New()
	}
	return OpenLibrary(lib, opts)
}

// OpenLibrary initialises lib (go-nvml's library, or one of its mocks) and
// probes its devices; opts.LibraryPath is not used.
func OpenLibrary(lib nvml.Interface, opts Options) *NVML {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if ret := lib.Init(); ret != nvml.SUCCESS {
		// Not one more NVML call: after a failed Init any call kills the
		// process (the symbols are unresolved).
		return unavailable(initReason(ret), log)
	}
	n := &NVML{log: log, info: NVMLInfo{Available: true}}
	syms := &symbols{ext: lib.Extensions(), seen: map[string]bool{}}
	var events nvml.EventSet
	n.shutdown = func() error {
		for _, d := range n.devs {
			if nd, ok := d.(*nvDevice); ok {
				nd.freeAllGPM()
			}
		}
		if events != nil {
			events.Free()
		}
		if ret := lib.Shutdown(); ret != nvml.SUCCESS {
			return fmt.Errorf("nvml shutdown: %w", ret)
		}
		return nil
	}
	if v, ret := lib.SystemGetDriverVersion(); ret == nvml.SUCCESS {
		n.info.DriverVersion = v
	}
	if v, ret := lib.SystemGetNVMLVersion(); ret == nvml.SUCCESS {
		n.info.NVMLVersion = v
	}
	if syms.has("nvmlSystemGetCudaDriverVersion_v2", "nvmlSystemGetCudaDriverVersion") {
		if v, ret := lib.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS {
			n.info.CUDADriverVersion = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
		}
	}
	count, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		n.info.Unavailable = "device count: " + returnName(ret)
		log.Warn("nvml: no device count", "err", returnName(ret))
		return n
	}
	var handles []nvml.Device
	for i := range count {
		h, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			log.Warn("nvml: device handle", "index", i, "err", returnName(ret))
			continue
		}
		handles = append(handles, h)
		n.devs = append(n.devs, probe(i, lib, h, syms, opts.CallBudget))
	}
	n.info.DeviceCount = len(n.devs)
	if len(handles) > 0 {
		events = n.setupXID(lib, syms, handles)
	}
	return n
}

// initReason says why Init failed, in words, without asking NVML (whose
// error strings need the library).
func initReason(ret nvml.Return) string {
	switch ret {
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return "NVML library not found"
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return "NVIDIA driver not loaded"
	case nvml.ERROR_NO_PERMISSION:
		return "no permission to use the NVIDIA driver"
	case nvml.ERROR_LIB_RM_VERSION_MISMATCH:
		return "NVML and kernel driver versions differ (reload the driver or reboot)"
	}
	return "NVML init failed: " + returnName(ret)
}

// returnName names an NVML return code without calling into NVML.
func returnName(ret nvml.Return) string {
	switch ret {
	case nvml.SUCCESS:
		return "success"
	case nvml.ERROR_UNINITIALIZED:
		return "uninitialized"
	case nvml.ERROR_INVALID_ARGUMENT:
		return "invalid argument"
	case nvml.ERROR_NOT_SUPPORTED:
		return "not supported"
	case nvml.ERROR_NO_PERMISSION:
		return "no permission"
	case nvml.ERROR_NOT_FOUND:
		return "not found"
	case nvml.ERROR_INSUFFICIENT_SIZE:
		return "insufficient size"
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return "driver not loaded"
	case nvml.ERROR_TIMEOUT:
		return "timeout"
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return "library not found"
	case nvml.ERROR_FUNCTION_NOT_FOUND:
		return "function not found"
	case nvml.ERROR_GPU_IS_LOST:
		return "GPU is lost"
	case nvml.ERROR_LIB_RM_VERSION_MISMATCH:
		return "library and driver versions differ"
	}
	return "NVML error " + strconv.Itoa(int(ret))
}

// symbols answers whether the loaded library exports a function, once per
// name: calling a function the driver lacks kills the process.
type symbols struct {
	ext  nvml.ExtendedInterface
	seen map[string]bool
}

// has reports whether any of names is exported (go-nvml picks the newest
// version of versioned functions itself).
func (s *symbols) has(names ...string) bool {
	_, ok := s.first(names...)
	return ok
}

// first returns the first of names that is exported.
func (s *symbols) first(names ...string) (string, bool) {
	for _, n := range names {
		ok, cached := s.seen[n]
		if !cached {
			ok = s.ext.LookupSymbol(n) == nil
			s.seen[n] = ok
		}
		if ok {
			return n, true
		}
	}
	return "", false
}

// capOf turns a probe call's return into a Capability.
func capOf(api string, ret nvml.Return) Capability {
	switch ret {
	case nvml.SUCCESS:
		return Capability{Status: Supported, API: api}
	case nvml.ERROR_NOT_SUPPORTED:
		return Capability{Status: NotSupported, API: api}
	case nvml.ERROR_NO_PERMISSION:
		return Capability{Status: NoPermission, API: api}
	}
	return Capability{Status: Failed, API: api, Detail: returnName(ret)}
}

func missing(api string) Capability { return Capability{Status: SymbolMissing, API: api} }

// nvDevice is one probed GPU.
type nvDevice struct {
	lib  nvml.Interface
	h    nvml.Device
	syms *symbols
	inf  DeviceInfo
	arch nvml.DeviceArchitecture
	// which functions the probe chose
	tempV, memV2, eventReasons bool
	mig                        bool
	vgpu                       bool
	// pcieCounters: PCIe throughput from the cumulative byte counters
	// (field values), not the 20 ms GetPcieThroughput.
	pcieCounters bool
	// cost is each metric's CPU per call, as the probe measured it;
	// budget caps a metric's share of a core (negative: no cap).
	cost   map[string]time.Duration
	budget float64

	gpmMu   sync.Mutex             // protects gpmLive
	gpmLive map[*nvReader]struct{} // readers holding GPM samples
}

// period is how often metric key may be read within the CPU budget; 0
// means every tick.
func (d *nvDevice) period(key string) int64 {
	if d.budget < 0 {
		return 0
	}
	return int64(float64(d.cost[key]) / d.budget)
}

// measured calls f (a probe of metric key) up to three times, recording
// the dearest CPU time: back-to-back calls can hit a driver cache that a
// tick 100 ms later misses, so the cheapest would flatter. It returns the
// first call's result.
func (d *nvDevice) measured(key string, f func() nvml.Return) nvml.Return {
	if d.budget < 0 {
		return f() // no cap: the cost does not matter
	}
	lockThread()
	defer unlockThread()
	var first nvml.Return
	best := time.Duration(-1)
	for i := range 3 {
		c0, ok0 := threadCPU()
		r := f()
		c1, ok1 := threadCPU()
		if i == 0 {
			first = r
		}
		if ok0 && ok1 && c1-c0 > best {
			best = c1 - c0
		}
		if r != nvml.SUCCESS {
			break
		}
	}
	if best >= 0 {
		d.cost[key] = best
	}
	return first
}

func (d *nvDevice) info() DeviceInfo { return d.inf }

// isGoNVML reports whether h is go-nvml's own device (not a mock): only
// those can call the handler-style APIs such as GetTemperatureV().V1().
func isGoNVML(h nvml.Device) bool {
	return reflect.TypeOf(h).PkgPath() == "github.com/NVIDIA/go-nvml/pkg/nvml"
}

// probe reads a device's identity and tries each metric once.
func probe(index int, lib nvml.Interface, h nvml.Device, syms *symbols, budget float64) *nvDevice {
	if budget == 0 {
		budget = DefaultCallBudget
	}
	d := &nvDevice{lib: lib, h: h, syms: syms, budget: budget, cost: map[string]time.Duration{}, arch: nvml.DEVICE_ARCH_UNKNOWN}
	in := &d.inf
	in.Index = index
	in.Unavailable = map[string]string{}
	in.Capabilities = Capabilities{}
	note := func(field string, ret nvml.Return) { in.Unavailable[field] = returnName(ret) }
	str := func(field, sym string, f func() (string, nvml.Return)) string {
		if !syms.has(sym) {
			in.Unavailable[field] = "driver lacks " + sym
			return ""
		}
		v, ret := f()
		if ret != nvml.SUCCESS {
			note(field, ret)
			return ""
		}
		return v
	}
	in.Minor = -1
	if syms.has("nvmlDeviceGetMinorNumber") {
		if m, ret := h.GetMinorNumber(); ret == nvml.SUCCESS {
			in.Minor = m
		}
	}
	in.Name = str("name", "nvmlDeviceGetName", h.GetName)
	in.UUID = str("uuid", "nvmlDeviceGetUUID", h.GetUUID)
	in.Serial = str("serial", "nvmlDeviceGetSerial", h.GetSerial)
	in.VBIOS = str("vbios_version", "nvmlDeviceGetVbiosVersion", h.GetVbiosVersion)
	if syms.has("nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2", "nvmlDeviceGetPciInfo") {
		if p, ret := h.GetPciInfo(); ret == nvml.SUCCESS {
			in.PCIBusID = cString(p.BusId[:])
			if in.PCIBusID == "" {
				in.PCIBusID = cString(p.BusIdLegacy[:])
			}
			in.PCIDeviceID = fmt.Sprintf("0x%08X", p.PciDeviceId)
		} else {
			note("pci", ret)
		}
	}
	if syms.has("nvmlDeviceGetArchitecture") {
		if a, ret := h.GetArchitecture(); ret == nvml.SUCCESS {
			d.arch = a
			in.Architecture = archName(a)
		}
	}
	if syms.has("nvmlDeviceGetCudaComputeCapability") {
		if ma, mi, ret := h.GetCudaComputeCapability(); ret == nvml.SUCCESS {
			in.ComputeCap = fmt.Sprintf("%d.%d", ma, mi)
		}
	}
	if syms.has("nvmlDeviceGetMemoryInfo") {
		if m, ret := h.GetMemoryInfo(); ret == nvml.SUCCESS {
			in.MemoryMiB = m.Total >> 20
		} else {
			note("memory_total_mib", ret)
		}
	}
	u32 := func(field, sym string, f func() (uint32, nvml.Return)) (uint32, bool) {
		if !syms.has(sym) {
			in.Unavailable[field] = "driver lacks " + sym
			return 0, false
		}
		v, ret := f()
		if ret != nvml.SUCCESS {
			note(field, ret)
			return 0, false
		}
		return v, true
	}
	if v, ok := u32("power_limit_w", "nvmlDeviceGetEnforcedPowerLimit", h.GetEnforcedPowerLimit); ok {
		in.PowerLimitW = float64(v) / 1000
	}
	if v, ok := u32("power_default_limit_w", "nvmlDeviceGetPowerManagementDefaultLimit", h.GetPowerManagementDefaultLimit); ok {
		in.PowerDefaultLimitW = float64(v) / 1000
	}
	in.MaxSMClockMHz, _ = u32("max_sm_clock_mhz", "nvmlDeviceGetMaxClockInfo", func() (uint32, nvml.Return) { return h.GetMaxClockInfo(nvml.CLOCK_SM) })
	in.MaxMemClockMHz, _ = u32("max_mem_clock_mhz", "nvmlDeviceGetMaxClockInfo", func() (uint32, nvml.Return) { return h.GetMaxClockInfo(nvml.CLOCK_MEM) })
	if syms.has("nvmlDeviceGetEccMode") {
		if cur, _, ret := h.GetEccMode(); ret == nvml.SUCCESS {
			in.ECCMode = enabled(cur == nvml.FEATURE_ENABLED)
		} else {
			note("ecc_mode", ret)
		}
	}
	if syms.has("nvmlDeviceGetMigMode") {
		// Before Ampere GetMigMode is not supported: MIG is off.
		switch cur, _, ret := h.GetMigMode(); ret {
		case nvml.SUCCESS:
			d.mig = cur == nvml.DEVICE_MIG_ENABLE
			in.MIGMode = enabled(d.mig)
		case nvml.ERROR_NOT_SUPPORTED:
			in.MIGMode = "unsupported"
		default:
			note("mig_mode", ret)
		}
	}
	i32 := func(field, sym string, f func() (int, nvml.Return)) int {
		if !syms.has(sym) {
			in.Unavailable[field] = "driver lacks " + sym
			return 0
		}
		v, ret := f()
		if ret != nvml.SUCCESS {
			note(field, ret)
			return 0
		}
		return v
	}
	in.PCIeMaxGen = i32("pcie_max_gen", "nvmlDeviceGetGpuMaxPcieLinkGeneration", h.GetGpuMaxPcieLinkGeneration)
	in.PCIeSystemGen = i32("pcie_system_max_gen", "nvmlDeviceGetMaxPcieLinkGeneration", h.GetMaxPcieLinkGeneration)
	in.PCIeMaxWidth = i32("pcie_max_width", "nvmlDeviceGetMaxPcieLinkWidth", h.GetMaxPcieLinkWidth)
	in.PCIeCurrentGen = i32("pcie_current_gen", "nvmlDeviceGetCurrPcieLinkGeneration", h.GetCurrPcieLinkGeneration)
	in.PCIeCurrentWidth = i32("pcie_current_width", "nvmlDeviceGetCurrPcieLinkWidth", h.GetCurrPcieLinkWidth)
	if syms.has("nvmlDeviceGetNumaNodeId") {
		if v, ret := h.GetNumaNodeId(); ret == nvml.SUCCESS {
			in.NUMANode = &v
		} else {
			note("numa_node", ret)
		}
	} else {
		in.Unavailable["numa_node"] = "driver lacks nvmlDeviceGetNumaNodeId"
	}
	if syms.has("nvmlDeviceGetCpuAffinity") {
		const maxCPUs = 1024
		if set, ret := h.GetCpuAffinity(maxCPUs); ret == nvml.SUCCESS {
			in.CPUAffinity = cpuList(set)
		} else {
			note("cpu_affinity", ret)
		}
	}
	if syms.has("nvmlDeviceGetVirtualizationMode") {
		if m, ret := h.GetVirtualizationMode(); ret == nvml.SUCCESS {
			in.Virtualization = virtName(m)
			d.vgpu = m == nvml.GPU_VIRTUALIZATION_MODE_VGPU
			if m == nvml.GPU_VIRTUALIZATION_MODE_HOST_VGPU && syms.has("nvmlDeviceGetHostVgpuMode") {
				if hm, ret := h.GetHostVgpuMode(); ret == nvml.SUCCESS {
					in.HostVGPUMode = map[nvml.HostVgpuMode]string{nvml.HOST_VGPU_MODE_NON_SRIOV: "non_sriov", nvml.HOST_VGPU_MODE_SRIOV: "sriov"}[hm]
				}
			}
		} else {
			note("virtualization_mode", ret)
		}
	}
	if d.vgpu {
		lic, c := d.license()
		in.VGPULicense = lic
		in.Capabilities[CapLicense] = c
	}
	if len(in.Unavailable) == 0 {
		in.Unavailable = nil
	}
	d.probeMetrics()
	return d
}

// probeMetrics tries every per-tick metric once and records what works.
func (d *nvDevice) probeMetrics() {
	h, syms, caps := d.h, d.syms, d.inf.Capabilities
	try := func(m string, api string, call func() nvml.Return) {
		if !syms.has(api) {
			caps[m] = missing(api)
			return
		}
		caps[m] = capOf(api, d.measured(m, call))
	}
	try(SMClock.Name(), "nvmlDeviceGetClockInfo", func() nvml.Return { _, r := h.GetClockInfo(nvml.CLOCK_SM); return r })
	try(MemClock.Name(), "nvmlDeviceGetClockInfo", func() nvml.Return { _, r := h.GetClockInfo(nvml.CLOCK_MEM); return r })
	try(GPUUtil.Name(), "nvmlDeviceGetUtilizationRates", func() nvml.Return { _, r := h.GetUtilizationRates(); return r })
	caps[MemUtil.Name()] = caps[GPUUtil.Name()]
	if syms.has("nvmlDeviceGetSamples") {
		r := d.measured(CapUtilSamples, func() nvml.Return { _, _, r := h.GetSamples(nvml.GPU_UTILIZATION_SAMPLES, 0); return r })
		d.cost[CapUtilSamples] *= 2 // a read fetches GPU and memory samples
		if r == nvml.ERROR_NOT_FOUND {
			r = nvml.SUCCESS // an idle GPU has no samples yet
		}
		caps[CapUtilSamples] = capOf("nvmlDeviceGetSamples", r)
	} else {
		caps[CapUtilSamples] = missing("nvmlDeviceGetSamples")
	}
	try(Power.Name(), "nvmlDeviceGetPowerUsage", func() nvml.Return { _, r := h.GetPowerUsage(); return r })
	try(Energy.Name(), "nvmlDeviceGetTotalEnergyConsumption", func() nvml.Return { _, r := h.GetTotalEnergyConsumption(); return r })
	// GetTemperature is deprecated in NVML 13; its successor is a
	// handler that only go-nvml's own devices implement.
	if syms.has("nvmlDeviceGetTemperatureV") && isGoNVML(h) {
		d.tempV = true
		try(Temperature.Name(), "nvmlDeviceGetTemperatureV", func() nvml.Return { _, r := h.GetTemperatureV().V1(); return r })
	} else {
		try(Temperature.Name(), "nvmlDeviceGetTemperature", func() nvml.Return { _, r := h.GetTemperature(nvml.TEMPERATURE_GPU); return r })
	}
	if syms.has("nvmlDeviceGetMemoryInfo_v2") {
		d.memV2 = true
		try(MemUsed.Name(), "nvmlDeviceGetMemoryInfo_v2", func() nvml.Return { _, r := h.GetMemoryInfo_v2(); return r })
	} else {
		try(MemUsed.Name(), "nvmlDeviceGetMemoryInfo", func() nvml.Return { _, r := h.GetMemoryInfo(); return r })
	}
	// The cumulative byte counters are cheap, exact over any span, and do
	// not block; GetPcieThroughput sleeps 20 ms per call.
	const fieldsAPI = "nvmlDeviceGetFieldValues"
	if syms.has(fieldsAPI) && d.measured(PCIeTX.Name(), func() nvml.Return { _, _, r := d.pcieBytes(); return r }) == nvml.SUCCESS {
		d.pcieCounters = true
		caps[PCIeTX.Name()] = Capability{Status: Supported, API: fieldsAPI + "(PCIE_COUNT_TX_BYTES)"}
		caps[PCIeRX.Name()] = Capability{Status: Supported, API: fieldsAPI + "(PCIE_COUNT_RX_BYTES)"}
		d.cost[PCIeRX.Name()] = 0
	} else {
		try(PCIeTX.Name(), "nvmlDeviceGetPcieThroughput", func() nvml.Return { _, r := h.GetPcieThroughput(nvml.PCIE_UTIL_TX_BYTES); return r })
		try(PCIeRX.Name(), "nvmlDeviceGetPcieThroughput", func() nvml.Return { _, r := h.GetPcieThroughput(nvml.PCIE_UTIL_RX_BYTES); return r })
	}
	try(PCIeLinkGen.Name(), "nvmlDeviceGetCurrPcieLinkGeneration", func() nvml.Return { _, r := h.GetCurrPcieLinkGeneration(); return r })
	try(PCIeLinkWidth.Name(), "nvmlDeviceGetCurrPcieLinkWidth", func() nvml.Return { _, r := h.GetCurrPcieLinkWidth(); return r })
	if syms.has("nvmlDeviceGetCurrentClocksEventReasons") {
		d.eventReasons = true
		try(ClockEvents.Name(), "nvmlDeviceGetCurrentClocksEventReasons", func() nvml.Return { _, r := h.GetCurrentClocksEventReasons(); return r })
	} else {
		try(ClockEvents.Name(), "nvmlDeviceGetCurrentClocksThrottleReasons", func() nvml.Return { _, r := h.GetCurrentClocksThrottleReasons(); return r })
	}
	try(CapECC, "nvmlDeviceGetTotalEccErrors", func() nvml.Return {
		_, r := h.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.VOLATILE_ECC)
		return r
	})
	d.probeGPM()
	// Say why where the platform explains it.
	for k, c := range caps {
		if c.Status != NotSupported {
			continue
		}
		switch {
		case d.mig && (k == GPUUtil.Name() || k == MemUtil.Name() || k == CapUtilSamples):
			c.Detail = "MIG enabled"
		case d.vgpu:
			c.Detail = "vGPU guest"
		case k == CapECC && d.inf.ECCMode == "disabled":
			c.Detail = "ECC disabled"
		}
		caps[k] = c
	}
}

func (d *nvDevice) ecc() (uint64, uint64, bool) {
	if !d.inf.Capabilities[CapECC].OK() {
		return 0, 0, false
	}
	c, r1 := d.h.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.VOLATILE_ECC)
	u, r2 := d.h.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC)
	return c, u, r1 == nvml.SUCCESS && r2 == nvml.SUCCESS
}

// temperature reads the GPU temperature with the function the probe chose.
func (d *nvDevice) temperature() (int, nvml.Return) {
	if d.tempV {
		t, r := d.h.GetTemperatureV().V1()
		return int(t.Temperature), r
	}
	t, r := d.h.GetTemperature(nvml.TEMPERATURE_GPU)
	return int(t), r
}

func cString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

func enabled(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

func archName(a nvml.DeviceArchitecture) string {
	names := map[nvml.DeviceArchitecture]string{
		nvml.DEVICE_ARCH_KEPLER: "Kepler", nvml.DEVICE_ARCH_MAXWELL: "Maxwell", nvml.DEVICE_ARCH_PASCAL: "Pascal",
		nvml.DEVICE_ARCH_VOLTA: "Volta", nvml.DEVICE_ARCH_TURING: "Turing", nvml.DEVICE_ARCH_AMPERE: "Ampere",
		nvml.DEVICE_ARCH_ADA: "Ada", nvml.DEVICE_ARCH_HOPPER: "Hopper", nvml.DEVICE_ARCH_BLACKWELL: "Blackwell",
		nvml.DEVICE_ARCH_RUBIN: "Rubin",
	}
	if n, ok := names[a]; ok {
		return n
	}
	return fmt.Sprintf("arch %d", a)
}

func virtName(m nvml.GpuVirtualizationMode) string {
	switch m {
	case nvml.GPU_VIRTUALIZATION_MODE_NONE:
		return "none"
	case nvml.GPU_VIRTUALIZATION_MODE_PASSTHROUGH:
		return "passthrough"
	case nvml.GPU_VIRTUALIZATION_MODE_VGPU:
		return "vgpu"
	case nvml.GPU_VIRTUALIZATION_MODE_HOST_VGPU:
		return "host_vgpu"
	case nvml.GPU_VIRTUALIZATION_MODE_HOST_VSGA:
		return "host_vsga"
	}
	return fmt.Sprintf("mode %d", m)
}

// cpuList renders NVML's CPU bitmask (64 CPUs a word) as "0-15,32-47".
func cpuList(set []uint) string {
	var parts []string
	start := -1
	n := len(set) * 64
	bit := func(i int) bool { return set[i/64]&(1<<(uint(i)%64)) != 0 }
	for i := 0; i <= n; i++ {
		if i < n && bit(i) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			if start == i-1 {
				parts = append(parts, strconv.Itoa(start))
			} else {
				parts = append(parts, fmt.Sprintf("%d-%d", start, i-1))
			}
			start = -1
		}
	}
	return strings.Join(parts, ",")
}
