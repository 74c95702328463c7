//go:build linux && cgo

package gpu

import (
	"bytes"
	"encoding/csv"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"

	"github.com/gpuperf/gpuperf/gpu/gputest"
)

// profIDs are the GPM metrics the sampler must ask for, in its order.
var profIDs = []nvml.GpmMetricId{
	nvml.GPM_METRIC_GRAPHICS_UTIL, nvml.GPM_METRIC_SM_UTIL, nvml.GPM_METRIC_SM_OCCUPANCY, nvml.GPM_METRIC_ANY_TENSOR_UTIL,
	nvml.GPM_METRIC_DRAM_BW_UTIL, nvml.GPM_METRIC_FP64_UTIL, nvml.GPM_METRIC_FP32_UTIL, nvml.GPM_METRIC_FP16_UTIL,
	nvml.GPM_METRIC_PCIE_TX_PER_SEC, nvml.GPM_METRIC_PCIE_RX_PER_SEC,
}

// profNames maps each summary name to the GPM metric it must come from.
var profNames = map[string]nvml.GpmMetricId{
	"prof_gr_engine_active_pct":   nvml.GPM_METRIC_GRAPHICS_UTIL,
	"prof_sm_active_pct":          nvml.GPM_METRIC_SM_UTIL,
	"prof_sm_occupancy_pct":       nvml.GPM_METRIC_SM_OCCUPANCY,
	"prof_pipe_tensor_active_pct": nvml.GPM_METRIC_ANY_TENSOR_UTIL,
	"prof_dram_active_pct":        nvml.GPM_METRIC_DRAM_BW_UTIL,
	"prof_pipe_fp64_active_pct":   nvml.GPM_METRIC_FP64_UTIL,
	"prof_pipe_fp32_active_pct":   nvml.GPM_METRIC_FP32_UTIL,
	"prof_pipe_fp16_active_pct":   nvml.GPM_METRIC_FP16_UTIL,
	"prof_pcie_tx_mibps":          nvml.GPM_METRIC_PCIE_TX_PER_SEC,
	"prof_pcie_rx_mibps":          nvml.GPM_METRIC_PCIE_RX_PER_SEC,
}

// On Hopper the window's edges give the summary's value and interim
// samples, a second apart, the series.
func TestGPMHopper(t *testing.T) {
	t.Parallel()
	r := gputest.NewRig(t, 1)
	g := r.GPUs[0]
	base := gputest.DefaultGPM()
	// A metric's value grows with the samples it spans, so the window's
	// value (over all of them) differs from each interim one.
	g.GPMFunc = func(id nvml.GpmMetricId, from, to int) float64 { return base[id] + float64(to-from) }
	n := openRig(t, r)
	d := n.Devices()[0]
	for name := range profNames {
		if c := d.Capabilities[name]; !c.OK() || c.API != "nvmlGpmSampleGet" {
			t.Errorf("capability %s = %+v; want supported by nvmlGpmSampleGet", name, c)
		}
	}
	if !d.Capabilities[CapGPM].OK() {
		t.Errorf("capability %s = %+v", CapGPM, d.Capabilities[CapGPM])
	}
	probeSamples := g.CallCount["GpmSampleGet"]

	// 2.5 s at 100 ms: samples at the start, 1 s, 2 s and the end.
	s := n.NewSampler(SamplerConfig{})
	sum := drive(s, every(100*ms, 25)...)
	if r.LiveGPMSamples() != 0 {
		t.Errorf("%d GPM samples left allocated after the window", r.LiveGPMSamples())
	}
	if got := g.CallCount["GpmSampleGet"] - probeSamples; got != 4 {
		t.Errorf("GpmSampleGet called %d times in the window; want 4 (edges, 1 s, 2 s)", got)
	}
	w0 := probeSamples + 1 // the window's first sample
	var spans [][2]int
	for _, q := range g.GPMRequests {
		spans = append(spans, [2]int{q.From, q.To})
		if !slices.Equal(q.IDs, profIDs) {
			t.Errorf("GpmMetricsGet asked for %v; want %v", q.IDs, profIDs)
		}
	}
	// Interims 1-2, 2-3, then at the end the window 0-3 and the last 3-4.
	want := [][2]int{{w0, w0 + 1}, {w0 + 1, w0 + 2}, {w0, w0 + 3}, {w0 + 2, w0 + 3}}
	if !slices.Equal(spans, want) {
		t.Errorf("GpmMetricsGet over samples %v; want %v", spans, want)
	}
	ds := sum.Devices[0]
	for name, id := range profNames {
		ms := ds.Metrics[name]
		if ms.WindowValue == nil || *ms.WindowValue != base[id]+3 || ms.Source != "gpm" || ms.Unavailable != "" {
			t.Errorf("%s = %+v; want the window's value %v from GPM", name, ms, base[id]+3)
			continue
		}
		if ms.Stats == nil || ms.Stats.N != 3 || ms.Stats.Mean != base[id]+1 {
			t.Errorf("%s stats = %+v; want 3 interim values of %v", name, ms.Stats, base[id]+1)
		}
	}
	if u := ds.Metrics["prof_pcie_tx_mibps"].Unit; u != "MiB/s" {
		t.Errorf("PCIe TX unit %q", u)
	}

	var buf bytes.Buffer
	if err := s.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	// Row 1 is the start, row 11 the tick at 1 s.
	if c := rows[1][col["prof_sm_active_pct"]]; c != "" {
		t.Errorf("SM active at the start = %q; want empty (no span yet)", c)
	}
	if c := rows[11][col["prof_sm_active_pct"]]; c != "73" || rows[11][col["time_ns"]] != "1000000000" {
		t.Errorf("row at 1 s: SM active %q at %s; want 73", c, rows[11][col["time_ns"]])
	}
	if c := rows[5][col["prof_pipe_tensor_active_pct"]]; c != "" {
		t.Errorf("tensor active between GPM samples = %q; want empty", c)
	}
}

// Before Hopper there is no GPM: the metrics are absent, with the reason,
// and no GPM function is called beyond the support query.
func TestGPMUnsupported(t *testing.T) {
	t.Parallel()
	r := gputest.NewRigOf(t, 1, gpus.A100_SXM4_80GB)
	g := r.GPUs[0]
	n := openRig(t, r)
	d := n.Devices()[0]
	if d.Architecture != "Ampere" {
		t.Fatalf("architecture %q", d.Architecture)
	}
	const why = "not supported (GPM needs Hopper or newer)"
	for name := range profNames {
		if c := d.Capabilities[name]; c.Status != NotSupported || c.Reason() != why {
			t.Errorf("capability %s = %+v (%s); want %q", name, c, c.Reason(), why)
		}
	}
	sum := drive(n.NewSampler(SamplerConfig{}), every(100*ms, 15)...)
	for name := range profNames {
		if ms := sum.Devices[0].Metrics[name]; ms.Unavailable != why || ms.Stats != nil || ms.WindowValue != nil || ms.Source != "" {
			t.Errorf("%s = %+v; want unavailable: %s", name, ms, why)
		}
	}
	if sm := sum.Devices[0].Metrics["sm_clock_mhz"]; sm.Stats == nil {
		t.Errorf("sm clock = %+v; the other metrics stay", sm)
	}
	if g.CallCount["GpmQueryDeviceSupport"] != 1 || g.CallCount["GpmSampleGet"] != 0 || g.CallCount["GpmMetricsGet"] != 0 || r.LiveGPMSamples() != 0 {
		t.Errorf("GPM calls: query %d, sample %d, metrics %d, live samples %d; want the query only",
			g.CallCount["GpmQueryDeviceSupport"], g.CallCount["GpmSampleGet"], g.CallCount["GpmMetricsGet"], r.LiveGPMSamples())
	}
}

// A driver without the GPM functions: never called, the metrics absent.
func TestGPMSymbolMissing(t *testing.T) {
	t.Parallel()
	r := gputest.NewRig(t, 1)
	r.Missing["nvmlGpmMetricsGet"] = true
	for _, m := range []string{"GpmQueryDeviceSupport", "GpmSampleGet", "GpmMetricsGet"} {
		r.GPUs[0].Forbidden[m] = true
	}
	n := openRig(t, r)
	if c := n.Devices()[0].Capabilities["prof_sm_active_pct"]; c.Status != SymbolMissing || c.Reason() != "driver lacks nvmlGpmMetricsGet" {
		t.Errorf("capability = %+v", c)
	}
	sum := drive(n.NewSampler(SamplerConfig{}), every(100*ms, 12)...)
	if ms := sum.Devices[0].Metrics["prof_dram_active_pct"]; ms.Unavailable != "driver lacks nvmlGpmMetricsGet" {
		t.Errorf("DRAM active = %+v", ms)
	}
}

func TestGPMEdgeCases(t *testing.T) {
	t.Parallel()
	t.Run("window under 100 ms", func(t *testing.T) {
		r := gputest.NewRig(t, 1)
		n := openRig(t, r)
		sum := drive(n.NewSampler(SamplerConfig{}), every(10*ms, 5)...)
		if ms := sum.Devices[0].Metrics["prof_sm_active_pct"]; ms.Unavailable != "window shorter than GPM's 100 ms refresh" || ms.WindowValue != nil {
			t.Errorf("SM active over 50 ms = %+v", ms)
		}
		if r.LiveGPMSamples() != 0 {
			t.Errorf("%d GPM samples left", r.LiveGPMSamples())
		}
	})
	t.Run("one metric unsupported", func(t *testing.T) {
		r := gputest.NewRig(t, 1)
		delete(r.GPUs[0].GPM, nvml.GPM_METRIC_FP64_UTIL)
		n := openRig(t, r)
		ds := drive(n.NewSampler(SamplerConfig{}), every(100*ms, 4)...).Devices[0]
		if ms := ds.Metrics["prof_pipe_fp64_active_pct"]; ms.Unavailable != "GpmMetricsGet: not supported" {
			t.Errorf("FP64 active = %+v", ms)
		}
		// A window under a second: no interim sample, so the one value
		// over the last span is the window's.
		if ms := ds.Metrics["prof_pipe_fp32_active_pct"]; ms.WindowValue == nil || *ms.WindowValue != 12 || ms.Stats == nil || ms.Stats.N != 1 {
			t.Errorf("FP32 active = %+v", ms)
		}
	})
	t.Run("sample fails at the start", func(t *testing.T) {
		r := gputest.NewRig(t, 1)
		g := r.GPUs[0]
		n := openRig(t, r)
		s := n.NewSampler(SamplerConfig{})
		s.mu.Lock()
		s.begin(0)
		g.NotSupported["GpmSampleGet"] = true
		s.sample(0)
		g.Lock()
		delete(g.NotSupported, "GpmSampleGet")
		g.Unlock()
		for _, at := range every(100*ms, 25)[1:25] {
			s.sample(at)
		}
		s.finish(2500 * ms)
		s.mu.Unlock()
		ms := s.Summary().Devices[0].Metrics["prof_sm_active_pct"]
		// Interim values from the next sample on; no window value.
		if ms.WindowValue != nil || ms.Stats == nil || ms.Stats.N != 2 || ms.Unavailable != "" {
			t.Errorf("SM active = %+v %+v", ms, ms.Stats)
		}
		if r.LiveGPMSamples() != 0 {
			t.Errorf("%d GPM samples left", r.LiveGPMSamples())
		}
	})
}

// A dear GPM sample is taken less often than once a second (the CPU
// budget), and always at the window's edges.
func TestGPMCallBudget(t *testing.T) {
	t.Parallel()
	r := gputest.NewRig(t, 1)
	g := r.GPUs[0]
	g.Spin["GpmSampleGet"] = 2 * time.Millisecond // 2 ms / 0.02%: every 10 s
	n := OpenLibrary(r.Server, Options{})
	defer n.Close()
	probe := g.CallCount["GpmSampleGet"]
	ds := drive(n.NewSampler(SamplerConfig{}), every(100*ms, 30)...).Devices[0]
	if got := g.CallCount["GpmSampleGet"] - probe; got != 2 {
		t.Errorf("GpmSampleGet called %d times in a 3 s window; want the 2 edges", got)
	}
	if len(g.GPMRequests) != 1 {
		t.Errorf("GpmMetricsGet called %d times; want once, over the window", len(g.GPMRequests))
	}
	if ms := ds.Metrics["prof_sm_active_pct"]; ms.WindowValue == nil || *ms.WindowValue != 72 || ms.Stats == nil || ms.Stats.N != 1 {
		t.Errorf("SM active = %+v", ms)
	}
}

// The window's goroutine frees its samples when it ends; a Snapshot's
// stay until NVML's Close.
func TestGPMFreed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := gputest.NewRig(t, 2)
		n := OpenLibrary(r.Server, Options{CallBudget: -1})
		origin := time.Now()
		clock := func() int64 { return int64(time.Since(origin)) }
		s := n.NewSampler(SamplerConfig{Clock: clock})
		s.Window(true, clock())
		time.Sleep(1500 * time.Millisecond)
		if r.LiveGPMSamples() == 0 {
			t.Error("no GPM samples held inside the window")
		}
		s.Close()
		if r.LiveGPMSamples() != 0 {
			t.Errorf("%d GPM samples left after Close", r.LiveGPMSamples())
		}
		if ms := s.Summary().Devices[1].Metrics["prof_sm_active_pct"]; ms.WindowValue == nil || *ms.WindowValue != 72 || ms.Stats.N != 2 {
			t.Errorf("SM active = %+v", ms)
		}

		snap := n.NewSnapshot()
		if _, ok := snap.Read()[0].Get(ProfSMActive); ok {
			t.Error("SM active at a snapshot's first read, with no span")
		}
		time.Sleep(500 * time.Millisecond)
		if _, ok := snap.Read()[0].Get(ProfSMActive); ok {
			t.Error("SM active after 0.5 s; want GPM samples a second apart")
		}
		time.Sleep(600 * time.Millisecond)
		if v, ok := snap.Read()[0].Get(ProfTensorActive); !ok || v != 55 {
			t.Errorf("tensor active after 1.1 s = %v, %v; want 55", v, ok)
		}
		if r.LiveGPMSamples() == 0 {
			t.Error("the snapshot holds no GPM samples")
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if r.LiveGPMSamples() != 0 {
			t.Errorf("%d GPM samples left after NVML's Close", r.LiveGPMSamples())
		}
	})
}
