//go:build linux && cgo

package gpu

import (
	"math"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// GPM (GPU performance monitoring, Hopper and newer) computes DCGM's
// profiling metrics from two samples of the GPU's counters. A window
// takes one at its start and one at its end, which give the summary's
// value; interim samples in between give the per-tick series.

// gpmMetrics maps each profiling metric to its GPM metric.
var gpmMetrics = [...]struct {
	m  Metric
	id nvml.GpmMetricId
}{
	{ProfGRActive, nvml.GPM_METRIC_GRAPHICS_UTIL},
	{ProfSMActive, nvml.GPM_METRIC_SM_UTIL},
	{ProfSMOccupancy, nvml.GPM_METRIC_SM_OCCUPANCY},
	{ProfTensorActive, nvml.GPM_METRIC_ANY_TENSOR_UTIL},
	{ProfDRAMActive, nvml.GPM_METRIC_DRAM_BW_UTIL},
	{ProfFP64Active, nvml.GPM_METRIC_FP64_UTIL},
	{ProfFP32Active, nvml.GPM_METRIC_FP32_UTIL},
	{ProfFP16Active, nvml.GPM_METRIC_FP16_UTIL},
	{ProfPCIeTX, nvml.GPM_METRIC_PCIE_TX_PER_SEC},
	{ProfPCIeRX, nvml.GPM_METRIC_PCIE_RX_PER_SEC},
}

const (
	// gpmEvery spaces interim GPM samples (more, if the CPU budget asks):
	// DCGM samples its profiling metrics at 1 Hz too.
	gpmEvery = int64(time.Second)
	// gpmMinSpan is the shortest span NVML computes metrics over: its
	// counters refresh every 100 ms (nvml.h, nvmlGpmSampleGet).
	gpmMinSpan = int64(100 * time.Millisecond)
)

// gpmSymbols are the functions GPM needs; a driver lacking one would kill
// the process when it is called.
var gpmSymbols = []string{"nvmlGpmQueryDeviceSupport", "nvmlGpmSampleAlloc", "nvmlGpmSampleGet", "nvmlGpmMetricsGet", "nvmlGpmSampleFree"}

// probeGPM records whether the device supports GPM, on every profiling
// metric, and what a sample costs.
func (d *nvDevice) probeGPM() {
	caps := d.inf.Capabilities
	set := func(c Capability) {
		caps[CapGPM] = c
		for m := range NumMetrics {
			if m.Profiling() {
				caps[m.Name()] = c
			}
		}
	}
	for _, api := range gpmSymbols {
		if !d.syms.has(api) {
			set(missing(api))
			return
		}
	}
	const api = "nvmlGpmQueryDeviceSupport"
	sup, ret := d.h.GpmQueryDeviceSupport()
	if ret != nvml.SUCCESS {
		set(capOf(api, ret))
		return
	}
	if sup.IsSupportedDevice == 0 {
		why := "device reports no GPM"
		if d.arch < nvml.DEVICE_ARCH_HOPPER {
			why = "GPM needs Hopper or newer"
		}
		set(Capability{Status: NotSupported, API: api, Detail: why})
		return
	}
	s, ret := d.lib.GpmSampleAlloc()
	if ret != nvml.SUCCESS {
		set(capOf("nvmlGpmSampleAlloc", ret))
		return
	}
	defer s.Free()
	set(capOf("nvmlGpmSampleGet", d.measured(CapGPM, func() nvml.Return { return d.h.GpmSampleGet(s) })))
}

// gpmReader is one reader's GPM state: the window's first sample stays
// until its end, interim samples take turns in the other buffers.
type gpmReader struct {
	bufs [3]nvml.GpmSample // allocated when first needed, freed by end
	// started is set by the window's first read.
	started bool
	// first and prev index bufs (-1: none): the window's first sample
	// and the latest one, taken at firstAt and prevAt.
	first, prev     int
	firstAt, prevAt int64
	// tryAt is the last attempt at a sample, which spaces the next.
	tryAt    int64
	startWhy string     // why the window has no first sample
	edge     edgeValues // set by the final read
	mg       *nvml.GpmMetricsGetType
}

func (g *gpmReader) reset() {
	g.started, g.first, g.prev, g.startWhy, g.edge = false, -1, -1, "", edgeValues{}
}

// readGPM takes a GPM sample at the window's first read, at its final
// read, and between them when gpmEvery (or the CPU budget's period) has
// passed: each sets the profiling metrics over the span since the
// previous sample, and the final one the window's edge values as well.
func (r *nvReader) readGPM(at int64, final bool, out *Reading) {
	d, g := r.d, &r.gpm
	if !d.inf.Capabilities[CapGPM].OK() {
		return
	}
	if g.started && !final && at-g.tryAt < max(gpmEvery, d.period(CapGPM)) {
		return
	}
	firstRead := !g.started
	if firstRead {
		g.reset()
		g.started = true
	}
	g.tryAt = at
	cur, why := r.gpmSample()
	if why != "" {
		if firstRead {
			g.startWhy = why
		}
		if final {
			g.edge.whyAll("at the window's end: " + why)
		}
		return
	}
	if firstRead {
		g.first, g.firstAt = cur, at
	}
	if final {
		switch {
		case g.first < 0:
			g.edge.whyAll("at the window's start: " + g.startWhy)
		case at-g.firstAt < gpmMinSpan:
			g.edge.whyAll("window shorter than GPM's 100 ms refresh")
		default:
			g.edge.why = r.gpmCompute(g.first, cur, &g.edge.Reading)
		}
	}
	switch {
	case firstRead || g.prev < 0 || at-g.prevAt < gpmMinSpan:
	case final && g.prev == g.first:
		// The span since the previous sample is the window.
		for _, p := range gpmMetrics {
			if v, ok := g.edge.Get(p.m); ok {
				out.Set(p.m, v)
			}
		}
	default:
		r.gpmCompute(g.prev, cur, out)
	}
	g.prev, g.prevAt = cur, at
}

// gpmSample reads the device's counters into a buffer neither the first
// sample nor the latest holds, and returns its index, or why it failed.
func (r *nvReader) gpmSample() (int, string) {
	g := &r.gpm
	i := 0
	for i == g.first || i == g.prev {
		i++
	}
	if g.bufs[i] == nil {
		s, ret := r.d.lib.GpmSampleAlloc()
		if ret != nvml.SUCCESS {
			return -1, "GpmSampleAlloc: " + returnName(ret)
		}
		g.bufs[i] = s
		r.d.trackGPM(r)
	}
	if ret := r.d.h.GpmSampleGet(g.bufs[i]); ret != nvml.SUCCESS {
		return -1, "GpmSampleGet: " + returnName(ret)
	}
	return i, ""
}

// gpmCompute sets out's profiling metrics over the span between samples
// a and b, and says why a metric has none.
func (r *nvReader) gpmCompute(a, b int, out *Reading) map[Metric]string {
	g := &r.gpm
	if g.mg == nil {
		g.mg = new(nvml.GpmMetricsGetType) // 19 KB: kept for the next call
	}
	mg := g.mg
	mg.NumMetrics = uint32(len(gpmMetrics))
	mg.Sample1, mg.Sample2 = g.bufs[a], g.bufs[b]
	for i, p := range gpmMetrics {
		mg.Metrics[i] = nvml.GpmMetric{MetricId: uint32(p.id)}
	}
	ret := r.d.lib.GpmMetricsGet(mg)
	mg.Sample1, mg.Sample2 = nil, nil
	var why map[Metric]string
	note := func(m Metric, s string) {
		if why == nil {
			why = map[Metric]string{}
		}
		why[m] = s
	}
	for i, p := range gpmMetrics {
		v := mg.Metrics[i]
		switch {
		case ret != nvml.SUCCESS:
			note(p.m, "GpmMetricsGet: "+returnName(ret))
		case nvml.Return(v.NvmlReturn) != nvml.SUCCESS:
			note(p.m, "GpmMetricsGet: "+returnName(nvml.Return(v.NvmlReturn)))
		case math.IsNaN(v.Value) || math.IsInf(v.Value, 0):
			note(p.m, "GpmMetricsGet: not a number")
		default:
			out.Set(p.m, v.Value)
		}
	}
	return why
}

// whyAll gives every profiling metric the same reason.
func (e *edgeValues) whyAll(why string) {
	e.why = map[Metric]string{}
	for _, p := range gpmMetrics {
		e.why[p.m] = why
	}
}

// end returns the window's edge values and frees its GPM samples.
func (r *nvReader) end() edgeValues {
	e := r.gpm.edge
	r.d.freeGPM(r)
	r.gpm.reset()
	return e
}

// trackGPM records that r holds GPM samples, so that NVML's Close frees
// them if no window's end did.
func (d *nvDevice) trackGPM(r *nvReader) {
	d.gpmMu.Lock()
	defer d.gpmMu.Unlock()
	if d.gpmLive == nil {
		d.gpmLive = map[*nvReader]struct{}{}
	}
	d.gpmLive[r] = struct{}{}
}

// freeGPM frees r's GPM samples.
func (d *nvDevice) freeGPM(r *nvReader) {
	d.gpmMu.Lock()
	defer d.gpmMu.Unlock()
	d.freeGPMLocked(r)
}

func (d *nvDevice) freeGPMLocked(r *nvReader) {
	for i, s := range r.gpm.bufs {
		if s != nil {
			s.Free()
			r.gpm.bufs[i] = nil
		}
	}
	r.gpm.first, r.gpm.prev = -1, -1
	delete(d.gpmLive, r)
}

// freeAllGPM frees the samples every reader still holds (a Snapshot's, a
// window that never ended), before NVML shuts down.
func (d *nvDevice) freeAllGPM() {
	d.gpmMu.Lock()
	defer d.gpmMu.Unlock()
	for r := range d.gpmLive {
		d.freeGPMLocked(r)
	}
}
