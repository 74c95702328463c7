//go:build linux && cgo

package gpu

import (
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// CallCost is what one NVML call costs on this host, averaged over calls.
type CallCost struct {
	Device int           `json:"device"`
	Call   string        `json:"call"`
	Wall   time.Duration `json:"wall_ns"`
	CPU    time.Duration `json:"cpu_ns"`
	Return string        `json:"return"`
}

// CallCosts times each call the sampler can make, n times per device, on
// this thread: the figures say what a tick costs here and which call to
// blame. Calls the probe found unsupported are still timed (their error
// is cheap or not; that is the point).
func (n *NVML) CallCosts(calls int) []CallCost {
	var out []CallCost
	for _, dv := range n.devs {
		d, ok := dv.(*nvDevice)
		if !ok {
			continue
		}
		h := d.h
		fields := []nvml.FieldValue{{FieldId: nvml.FI_DEV_PCIE_COUNT_TX_BYTES}, {FieldId: nvml.FI_DEV_PCIE_COUNT_RX_BYTES}}
		for _, c := range []struct {
			name string
			sym  string
			f    func() nvml.Return
		}{
			{"GetClockInfo(SM)", "nvmlDeviceGetClockInfo", func() nvml.Return { _, r := h.GetClockInfo(nvml.CLOCK_SM); return r }},
			{"GetUtilizationRates", "nvmlDeviceGetUtilizationRates", func() nvml.Return { _, r := h.GetUtilizationRates(); return r }},
			{"GetSamples(GPU, 0)", "nvmlDeviceGetSamples", func() nvml.Return { _, _, r := h.GetSamples(nvml.GPU_UTILIZATION_SAMPLES, 0); return r }},
			{"GetPowerUsage", "nvmlDeviceGetPowerUsage", func() nvml.Return { _, r := h.GetPowerUsage(); return r }},
			{"GetTotalEnergyConsumption", "nvmlDeviceGetTotalEnergyConsumption", func() nvml.Return { _, r := h.GetTotalEnergyConsumption(); return r }},
			{"temperature", "nvmlDeviceGetTemperature", func() nvml.Return { _, r := d.temperature(); return r }},
			{"GetMemoryInfo_v2", "nvmlDeviceGetMemoryInfo_v2", func() nvml.Return { _, r := h.GetMemoryInfo_v2(); return r }},
			{"GetPcieThroughput(TX)", "nvmlDeviceGetPcieThroughput", func() nvml.Return { _, r := h.GetPcieThroughput(nvml.PCIE_UTIL_TX_BYTES); return r }},
			{"GetFieldValues(PCIe TX/RX bytes)", "nvmlDeviceGetFieldValues", func() nvml.Return { return h.GetFieldValues(fields) }},
			{"GetCurrPcieLinkGeneration", "nvmlDeviceGetCurrPcieLinkGeneration", func() nvml.Return { _, r := h.GetCurrPcieLinkGeneration(); return r }},
			{"GetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksEventReasons", func() nvml.Return { _, r := h.GetCurrentClocksEventReasons(); return r }},
			{"GetTotalEccErrors", "nvmlDeviceGetTotalEccErrors", func() nvml.Return {
				_, r := h.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.VOLATILE_ECC)
				return r
			}},
		} {
			if !d.syms.has(c.sym) {
				continue
			}
			out = append(out, timeCall(d.inf.Index, c.name, calls, c.f))
		}
		if d.inf.Capabilities[CapGPM].OK() {
			out = append(out, d.gpmCosts(calls)...)
		}
		if ev, ok := n.xid.(*nvEvents); ok {
			out = append(out, timeCall(d.inf.Index, "EventSet.Wait(0)", calls, func() nvml.Return { _, r := ev.set.Wait(0); return r }))
		}
	}
	return out
}

func timeCall(dev int, name string, calls int, f func() nvml.Return) CallCost {
	lockThread()
	defer unlockThread()
	var ret nvml.Return
	c0, _ := threadCPU()
	t0 := time.Now()
	for range calls {
		ret = f()
	}
	wall := time.Since(t0)
	c1, _ := threadCPU()
	return CallCost{Device: dev, Call: name, Wall: wall / time.Duration(calls), CPU: (c1 - c0) / time.Duration(calls), Return: returnName(ret)}
}

// gpmCosts times a GPM sample and the metrics between two (the values
// are meaningless: the samples are closer than GPM's 100 ms refresh).
func (d *nvDevice) gpmCosts(calls int) []CallCost {
	s1, r1 := d.lib.GpmSampleAlloc()
	if r1 != nvml.SUCCESS {
		return nil
	}
	defer s1.Free()
	s2, r2 := d.lib.GpmSampleAlloc()
	if r2 != nvml.SUCCESS {
		return nil
	}
	defer s2.Free()
	out := []CallCost{timeCall(d.inf.Index, "GpmSampleGet", calls, func() nvml.Return { return d.h.GpmSampleGet(s1) })}
	if d.h.GpmSampleGet(s2) != nvml.SUCCESS {
		return out
	}
	mg := &nvml.GpmMetricsGetType{NumMetrics: uint32(len(gpmMetrics))}
	return append(out, timeCall(d.inf.Index, "GpmMetricsGet(profiling)", calls, func() nvml.Return {
		mg.Sample1, mg.Sample2 = s1, s2
		for i, p := range gpmMetrics {
			mg.Metrics[i] = nvml.GpmMetric{MetricId: uint32(p.id)}
		}
		return d.lib.GpmMetricsGet(mg)
	}))
}
