//go:build linux && cgo

package gpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// nvReader reads one device each tick, calling only what the probe found
// supported.
type nvReader struct {
	d *nvDevice
	// NVML's sample cursors: the newest timestamp seen per buffer, in
	// NVML's own clock (not guaranteed to be epoch-based).
	lastGPU, lastMem uint64
	// next is when each dear metric is due again; empty after prime, so
	// a window's first read reads everything.
	next map[string]int64
	// the PCIe byte counters at their last read
	pcieTX, pcieRX uint64
	pcieAt         int64
	pcieOK         bool
	gpm            gpmReader
}

// due reports whether metric key is to be read at instant at, and if so
// schedules its next read within the CPU budget.
func (r *nvReader) due(key string, at int64, final bool) bool {
	p := r.d.period(key)
	if p == 0 {
		return true
	}
	if n, ok := r.next[key]; ok && at < n && !final {
		return false
	}
	if r.next == nil {
		r.next = map[string]int64{}
	}
	r.next[key] = at + p
	return true
}

// pcieBytes reads the cumulative PCIe TX and RX byte counters.
func (d *nvDevice) pcieBytes() (tx, rx uint64, ret nvml.Return) {
	f := []nvml.FieldValue{{FieldId: nvml.FI_DEV_PCIE_COUNT_TX_BYTES}, {FieldId: nvml.FI_DEV_PCIE_COUNT_RX_BYTES}}
	if ret = d.h.GetFieldValues(f); ret != nvml.SUCCESS {
		return 0, 0, ret
	}
	for _, v := range f {
		if r := nvml.Return(v.NvmlReturn); r != nvml.SUCCESS {
			return 0, 0, r
		}
	}
	return uint64(sampleValue(nvml.ValueType(f[0].ValueType), f[0].Value)), uint64(sampleValue(nvml.ValueType(f[1].ValueType), f[1].Value)), nvml.SUCCESS
}

func (d *nvDevice) newReader() deviceReader {
	r := &nvReader{d: d}
	r.gpm.reset()
	return r
}

func (r *nvReader) prime() {
	clear(r.next)
	r.pcieOK = false
	r.gpm.reset()
	if !r.d.inf.Capabilities[CapUtilSamples].OK() {
		return
	}
	r.lastGPU = r.newest(nvml.GPU_UTILIZATION_SAMPLES)
	r.lastMem = r.newest(nvml.MEMORY_UTILIZATION_SAMPLES)
}

// newest returns the newest buffered sample's timestamp, or 0 when the
// buffer is empty (then everything later is new).
func (r *nvReader) newest(t nvml.SamplingType) uint64 {
	_, s, ret := r.d.h.GetSamples(t, 0)
	var last uint64
	if ret == nvml.SUCCESS {
		for _, x := range s {
			last = max(last, x.TimeStamp)
		}
	}
	return last
}

func (r *nvReader) read(at int64, final bool, out *Reading, raw *utilSamples) {
	d, caps := r.d, r.d.inf.Capabilities
	h := d.h
	ok := func(m Metric) bool { return caps[m.Name()].Status == Supported && r.due(m.Name(), at, final) }
	if ok(SMClock) {
		if v, ret := h.GetClockInfo(nvml.CLOCK_SM); ret == nvml.SUCCESS {
			out.Set(SMClock, float64(v))
		}
	}
	if ok(MemClock) {
		if v, ret := h.GetClockInfo(nvml.CLOCK_MEM); ret == nvml.SUCCESS {
			out.Set(MemClock, float64(v))
		}
	}
	r.readUtil(at, final, out, raw)
	if ok(Power) {
		if v, ret := h.GetPowerUsage(); ret == nvml.SUCCESS {
			out.Set(Power, float64(v)/1000)
		}
	}
	if ok(Energy) {
		if v, ret := h.GetTotalEnergyConsumption(); ret == nvml.SUCCESS {
			out.Set(Energy, float64(v))
			out.EnergyMJ = v
		}
	}
	if ok(Temperature) {
		if v, ret := d.temperature(); ret == nvml.SUCCESS {
			out.Set(Temperature, float64(v))
		}
	}
	if ok(MemUsed) {
		if d.memV2 {
			if m, ret := h.GetMemoryInfo_v2(); ret == nvml.SUCCESS {
				out.Set(MemUsed, float64(m.Used)/(1<<20))
			}
		} else if m, ret := h.GetMemoryInfo(); ret == nvml.SUCCESS {
			out.Set(MemUsed, float64(m.Used)/(1<<20))
		}
	}
	if d.pcieCounters {
		if ok(PCIeTX) {
			r.readPCIeCounters(at, out)
		}
	} else if ok(PCIeTX) {
		if v, ret := h.GetPcieThroughput(nvml.PCIE_UTIL_TX_BYTES); ret == nvml.SUCCESS {
			out.Set(PCIeTX, float64(v))
		}
	}
	if !d.pcieCounters && ok(PCIeRX) {
		if v, ret := h.GetPcieThroughput(nvml.PCIE_UTIL_RX_BYTES); ret == nvml.SUCCESS {
			out.Set(PCIeRX, float64(v))
		}
	}
	if ok(PCIeLinkGen) {
		if v, ret := h.GetCurrPcieLinkGeneration(); ret == nvml.SUCCESS {
			out.Set(PCIeLinkGen, float64(v))
		}
	}
	if ok(PCIeLinkWidth) {
		if v, ret := h.GetCurrPcieLinkWidth(); ret == nvml.SUCCESS {
			out.Set(PCIeLinkWidth, float64(v))
		}
	}
	if ok(ClockEvents) {
		var v uint64
		var ret nvml.Return
		if d.eventReasons {
			v, ret = h.GetCurrentClocksEventReasons()
		} else {
			v, ret = h.GetCurrentClocksThrottleReasons()
		}
		if ret == nvml.SUCCESS {
			out.Set(ClockEvents, float64(v))
			out.Reasons = v
		}
	}
	r.readGPM(at, final, out)
}

// readPCIeCounters sets the PCIe rates over the span since the counters'
// last read (KB/s, as GetPcieThroughput reports); a decrease is a wrap or
// a reset, and that span is skipped.
func (r *nvReader) readPCIeCounters(at int64, out *Reading) {
	tx, rx, ret := r.d.pcieBytes()
	if ret != nvml.SUCCESS {
		return
	}
	if r.pcieOK && at > r.pcieAt && tx >= r.pcieTX && rx >= r.pcieRX {
		secs := float64(at-r.pcieAt) / 1e9
		out.Set(PCIeTX, float64(tx-r.pcieTX)/secs/1000)
		out.Set(PCIeRX, float64(rx-r.pcieRX)/secs/1000)
	}
	r.pcieTX, r.pcieRX, r.pcieAt, r.pcieOK = tx, rx, at, true
}

// readUtil reads GPU and memory utilization: the mean of NVML's samples
// since the last read where it buffers them and the read is due, else the
// current rate.
func (r *nvReader) readUtil(at int64, final bool, out *Reading, raw *utilSamples) {
	caps := r.d.inf.Capabilities
	if caps[CapUtilSamples].OK() && r.due(CapUtilSamples, at, final) {
		g, okG := r.samples(nvml.GPU_UTILIZATION_SAMPLES, &r.lastGPU, raw, false)
		m, okM := r.samples(nvml.MEMORY_UTILIZATION_SAMPLES, &r.lastMem, raw, true)
		if okG && okM {
			out.Set(GPUUtil, g)
			out.Set(MemUtil, m)
			out.UtilFromSamples = true
			return
		}
	}
	if caps[GPUUtil.Name()].OK() {
		if u, ret := r.d.h.GetUtilizationRates(); ret == nvml.SUCCESS {
			out.Set(GPUUtil, float64(u.Gpu))
			out.Set(MemUtil, float64(u.Memory))
		}
	}
}

// samples returns the mean of the samples newer than *last, advancing it.
func (r *nvReader) samples(t nvml.SamplingType, last *uint64, raw *utilSamples, mem bool) (float64, bool) {
	vt, s, ret := r.d.h.GetSamples(t, *last)
	if ret != nvml.SUCCESS || len(s) == 0 {
		return 0, false
	}
	var sum float64
	n := 0
	for _, x := range s {
		if x.TimeStamp <= *last {
			continue
		}
		v := sampleValue(vt, x.SampleValue)
		sum += v
		n++
		if raw != nil {
			if mem {
				raw.mem = append(raw.mem, v)
			} else {
				raw.gpu = append(raw.gpu, v)
			}
		}
		*last = max(*last, x.TimeStamp)
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// sampleValue decodes NVML's value union.
func sampleValue(vt nvml.ValueType, b [8]byte) float64 {
	switch vt {
	case nvml.VALUE_TYPE_DOUBLE:
		return math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
	case nvml.VALUE_TYPE_UNSIGNED_LONG, nvml.VALUE_TYPE_UNSIGNED_LONG_LONG:
		return float64(binary.LittleEndian.Uint64(b[:]))
	case nvml.VALUE_TYPE_SIGNED_LONG_LONG:
		return float64(int64(binary.LittleEndian.Uint64(b[:])))
	case nvml.VALUE_TYPE_SIGNED_INT:
		return float64(int32(binary.LittleEndian.Uint32(b[:4])))
	case nvml.VALUE_TYPE_UNSIGNED_SHORT:
		return float64(binary.LittleEndian.Uint16(b[:2]))
	}
	return float64(binary.LittleEndian.Uint32(b[:4]))
}

// license reads a vGPU guest's license state.
func (d *nvDevice) license() (*License, Capability) {
	const api = "nvmlDeviceGetGridLicensableFeatures"
	if !d.syms.has(api+"_v4", api+"_v3", api+"_v2", api) {
		return nil, missing(api)
	}
	f, ret := d.h.GetGridLicensableFeatures()
	if ret != nvml.SUCCESS {
		return nil, capOf(api, ret)
	}
	l := &License{Supported: f.IsGridLicenseSupported != 0, State: "unlicensed"}
	for i := 0; i < int(min(f.LicensableFeaturesCount, uint32(len(f.GridLicensableFeatures)))); i++ {
		feat := f.GridLicensableFeatures[i]
		if feat.FeatureEnabled == 0 {
			continue
		}
		l.Product = cString(feat.ProductName[:])
		l.State = licenseState(feat.FeatureState)
		l.Licensed = feat.FeatureState == nvml.GRID_LICENSE_STATE_LICENSED
		if e := feat.LicenseExpiry; e.Status == nvml.GRID_LICENSE_EXPIRY_VALID {
			l.Expiry = fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", e.Year, e.Month, e.Day, e.Hour, e.Min, e.Sec)
		} else if e.Status == nvml.GRID_LICENSE_EXPIRY_PERMANENT {
			l.Expiry = "permanent"
		}
		break
	}
	if !l.Supported {
		l.State = "not_applicable"
	}
	return l, Capability{Status: Supported, API: api}
}

func licenseState(s uint32) string {
	switch s {
	case nvml.GRID_LICENSE_STATE_UNINITIALIZED:
		return "uninitialized"
	case nvml.GRID_LICENSE_STATE_UNLICENSED_UNRESTRICTED:
		return "unlicensed_unrestricted"
	case nvml.GRID_LICENSE_STATE_UNLICENSED_RESTRICTED:
		return "unlicensed_restricted"
	case nvml.GRID_LICENSE_STATE_UNLICENSED:
		return "unlicensed"
	case nvml.GRID_LICENSE_STATE_LICENSED:
		return "licensed"
	}
	return "unknown"
}

// state records the device's condition before a run.
func (d *nvDevice) state(selfPID int) DeviceState {
	h, syms := d.h, d.syms
	st := DeviceState{Index: d.inf.Index, UUID: d.inf.UUID, Unavailable: map[string]string{}}
	if syms.has("nvmlDeviceGetPersistenceMode") {
		if m, ret := h.GetPersistenceMode(); ret == nvml.SUCCESS {
			on := m == nvml.FEATURE_ENABLED
			st.PersistenceMode = &on
		} else {
			st.Unavailable[CapPersistence] = returnName(ret)
		}
	}
	if syms.has("nvmlDeviceGetPerformanceState") {
		if p, ret := h.GetPerformanceState(); ret == nvml.SUCCESS && p != nvml.PSTATE_UNKNOWN {
			v := int(p)
			st.PState = &v
		} else {
			st.Unavailable[CapPState] = returnName(ret)
		}
	}
	if c := d.inf.Capabilities.Of(Temperature); c.OK() {
		if t, ret := d.temperature(); ret == nvml.SUCCESS {
			st.TemperatureC = &t
		}
	} else {
		st.Unavailable["temperature_c"] = c.Reason()
	}
	// Application clocks are deprecated (CUDA 14 drops them): only where
	// the driver still has them.
	if syms.has("nvmlDeviceGetApplicationsClock") && syms.has("nvmlDeviceGetDefaultApplicationsClock") {
		sm, r1 := h.GetApplicationsClock(nvml.CLOCK_SM)
		mem, r2 := h.GetApplicationsClock(nvml.CLOCK_MEM)
		def, r3 := h.GetDefaultApplicationsClock(nvml.CLOCK_SM)
		if r1 == nvml.SUCCESS && r2 == nvml.SUCCESS && r3 == nvml.SUCCESS {
			pinned := sm != def
			st.AppSMClockMHz, st.AppMemClockMHz, st.DefaultAppSMClockMHz, st.ClocksPinned = &sm, &mem, &def, &pinned
		} else {
			st.Unavailable[CapAppClocks] = returnName(firstError(r1, r2, r3))
		}
	} else {
		st.Unavailable[CapAppClocks] = "driver lacks nvmlDeviceGetApplicationsClock"
	}
	procs, err := d.processes(selfPID)
	if err != "" {
		st.Unavailable[CapProcesses] = err
	}
	st.Processes = procs
	if d.vgpu {
		st.VGPULicense, _ = d.license()
	}
	if len(st.Unavailable) == 0 {
		st.Unavailable = nil
	}
	return st
}

func firstError(rets ...nvml.Return) nvml.Return {
	for _, r := range rets {
		if r != nvml.SUCCESS {
			return r
		}
	}
	return nvml.SUCCESS
}

// processes lists compute and graphics processes other than self.
func (d *nvDevice) processes(self int) ([]Process, string) {
	h, syms := d.h, d.syms
	seen := map[uint32]bool{}
	var out []Process
	var why []string
	for _, q := range []struct {
		sym  []string
		call func() ([]nvml.ProcessInfo, nvml.Return)
	}{
		{[]string{"nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2", "nvmlDeviceGetComputeRunningProcesses"}, h.GetComputeRunningProcesses},
		{[]string{"nvmlDeviceGetGraphicsRunningProcesses_v3", "nvmlDeviceGetGraphicsRunningProcesses_v2", "nvmlDeviceGetGraphicsRunningProcesses"}, h.GetGraphicsRunningProcesses},
	} {
		if !syms.has(q.sym...) {
			why = append(why, "driver lacks "+q.sym[len(q.sym)-1])
			continue
		}
		ps, ret := q.call()
		if ret != nvml.SUCCESS {
			why = append(why, returnName(ret))
			continue
		}
		for _, p := range ps {
			if int(p.Pid) == self || seen[p.Pid] {
				continue
			}
			seen[p.Pid] = true
			out = append(out, Process{PID: p.Pid, Name: procName(p.Pid), UsedMiB: p.UsedGpuMemory >> 20})
		}
	}
	return out, strings.Join(why, "; ")
}

// procName is a PID's command name; in a container the PID may belong to
// another namespace, and then there is none.
func procName(pid uint32) string {
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// nvEvents delivers XID events from one event set.
type nvEvents struct {
	set     nvml.EventSet
	devices []nvml.Device
}

// maxEventsPerDrain bounds one drain, so an event storm cannot stall a tick.
const maxEventsPerDrain = 64

func (e *nvEvents) drain(fn func(int, uint64)) {
	for range maxEventsPerDrain {
		ev, ret := e.set.Wait(0)
		if ret != nvml.SUCCESS {
			return // ERROR_TIMEOUT: nothing waiting
		}
		if ev.EventType&nvml.EventTypeXidCriticalError == 0 {
			continue
		}
		idx := -1
		for i, d := range e.devices {
			if d == ev.Device {
				idx = i
				break
			}
		}
		fn(idx, ev.EventData)
	}
}

// setupXID registers every device that supports it for XID events.
func (n *NVML) setupXID(lib nvml.Interface, syms *symbols, handles []nvml.Device) nvml.EventSet {
	set := func(c Capability) {
		for _, d := range n.devs {
			if _, ok := d.info().Capabilities[CapXID]; !ok {
				d.(*nvDevice).inf.Capabilities[CapXID] = c
			}
		}
	}
	if !syms.has("nvmlEventSetCreate") || !syms.has("nvmlEventSetWait_v2", "nvmlEventSetWait") || !syms.has("nvmlDeviceRegisterEvents") {
		set(missing("nvmlEventSetCreate"))
		return nil
	}
	es, ret := lib.EventSetCreate()
	if ret != nvml.SUCCESS {
		set(capOf("nvmlEventSetCreate", ret))
		return nil
	}
	any := false
	for i, h := range handles {
		d := n.devs[i].(*nvDevice)
		supported := uint64(nvml.EventTypeXidCriticalError)
		if syms.has("nvmlDeviceGetSupportedEventTypes") {
			if t, ret := h.GetSupportedEventTypes(); ret == nvml.SUCCESS {
				supported = t
			}
		}
		if supported&nvml.EventTypeXidCriticalError == 0 {
			d.inf.Capabilities[CapXID] = Capability{Status: NotSupported, API: "nvmlDeviceRegisterEvents"}
			continue
		}
		c := capOf("nvmlDeviceRegisterEvents", h.RegisterEvents(nvml.EventTypeXidCriticalError, es))
		d.inf.Capabilities[CapXID] = c
		any = any || c.OK()
	}
	if !any {
		es.Free()
		return nil
	}
	n.xid = &nvEvents{set: es, devices: handles}
	return es
}
