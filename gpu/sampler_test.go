//go:build linux && cgo

package gpu

import (
	"bytes"
	"encoding/csv"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/gpuperf/gpuperf/gpu/gputest"
)

const ms = int64(time.Millisecond)

// openRig opens the rig through the production code path.
func openRig(t testing.TB, r *gputest.Rig) *NVML {
	n := OpenLibrary(r.Server, Options{CallBudget: -1})
	t.Cleanup(func() { n.Close() })
	if !n.Available() {
		t.Fatalf("OpenLibrary: unavailable: %s", n.Unavailable())
	}
	return n
}

// drive runs one window by hand at the given instants (generator clock):
// the first opens it and is sampled, the last closes it.
func drive(s *Sampler, at ...int64) *Summary {
	s.mu.Lock()
	s.begin(at[0])
	for _, t := range at[:len(at)-1] {
		s.sample(t)
	}
	s.finish(at[len(at)-1])
	s.mu.Unlock()
	return s.Summary()
}

// every returns n+1 instants interval apart from 0.
func every(interval int64, n int) []int64 {
	out := make([]int64, n+1)
	for i := range out {
		out[i] = int64(i) * interval
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestBareMetalH100(t *testing.T) {
	t.Parallel()
	r := gputest.NewRig(t, 2)
	g := r.GPUs[0]
	// The first value of each sequence answers the probe.
	g.SMClock = []uint32{0, 1980, 1980, 1755, 1980, 1410}
	g.PowerMW = []uint32{0, 300_000, 500_000, 700_000, 500_000, 300_000}
	g.Energy = []uint64{0, 10_000, 40_000, 100_000, 150_000, 180_000}
	// The driver's buffer: two samples before the window, then new ones.
	g.GPUSamples = []nvml.Sample{gputest.U32Sample(100, 5), gputest.U32Sample(200, 7)}
	g.MemSamples = []nvml.Sample{gputest.U32Sample(100, 1), gputest.U32Sample(200, 2)}
	n := openRig(t, r)

	info := n.Devices()
	if len(info) != 2 {
		t.Fatalf("devices = %d; want 2", len(info))
	}
	d := info[0]
	if d.Name != "NVIDIA H100 80GB HBM3" || d.Architecture != "Hopper" || d.ComputeCap != "9.0" || d.PowerLimitW != 700 ||
		d.ECCMode != "enabled" || d.MIGMode != "disabled" || d.Virtualization != "none" || d.PCIeMaxGen != 5 ||
		d.PCIeCurrentWidth != 16 || d.PCIBusID != "00000000:18:00.0" || d.Serial != "1654823100" || d.MaxSMClockMHz != 1980 ||
		d.CPUAffinity != "0-15" || d.NUMANode == nil || *d.NUMANode != 0 || !strings.HasPrefix(d.UUID, "GPU-") {
		t.Errorf("device 0 = %+v", d)
	}
	if info[1].CPUAffinity != "0-15" || info[1].PCIBusID != "00000000:19:00.0" {
		t.Errorf("device 1 affinity %q bus %q", info[1].CPUAffinity, info[1].PCIBusID)
	}
	if nv := n.Info(); nv.DriverVersion != "550.54.15" || nv.CUDADriverVersion != "12.4" || nv.DeviceCount != 2 {
		t.Errorf("NVML info = %+v", nv)
	}
	for m := Metric(0); m < NumMetrics; m++ {
		if c := d.Capabilities.Of(m); !c.OK() {
			t.Errorf("capability %s = %+v; want supported on bare metal", m.Name(), c)
		}
	}
	for _, k := range []string{CapUtilSamples, CapECC, CapXID} {
		if !d.Capabilities[k].OK() {
			t.Errorf("capability %s = %+v", k, d.Capabilities[k])
		}
	}

	s := n.NewSampler(SamplerConfig{Interval: 100 * time.Millisecond})
	s.mu.Lock()
	s.begin(0)
	s.sample(0)
	// Samples arrive while the window runs.
	g.Lock()
	for ts := uint64(300); ts < 900; ts += 200 {
		g.GPUSamples = append(g.GPUSamples, gputest.U32Sample(ts, 90), gputest.U32Sample(ts+100, 100))
		g.MemSamples = append(g.MemSamples, gputest.U32Sample(ts, 40), gputest.U32Sample(ts+100, 50))
	}
	g.Unlock()
	for _, at := range []int64{100 * ms, 200 * ms, 300 * ms} {
		s.sample(at)
	}
	s.finish(400 * ms)
	s.mu.Unlock()
	sum := s.Summary()

	if sum.Ticks != 5 || sum.WindowNs != 400*ms || len(sum.Devices) != 2 || !sum.NVML.Available {
		t.Fatalf("summary: ticks %d window %d devices %d nvml %+v", sum.Ticks, sum.WindowNs, len(sum.Devices), sum.NVML)
	}
	ds := sum.Devices[0]
	sm := ds.Metrics["sm_clock_mhz"]
	// 1410 1755 1980 1980 1980: mean 1821, p5 = sorted[0], p95 = sorted[4].
	if sm.Stats == nil || sm.Stats.N != 5 || !near(sm.Stats.Mean, 1821) || sm.Stats.Min != 1410 || sm.Stats.Max != 1980 ||
		sm.Stats.P5 != 1410 || sm.Stats.P95 != 1980 || sm.Unit != "MHz" {
		t.Errorf("sm clock = %+v %+v", sm, sm.Stats)
	}
	// Utilization: only the six samples newer than the window's start
	// (90, 100, ...), finer than the five ticks.
	gu := ds.Metrics["gpu_util_pct"]
	if gu.Source != "nvml_samples" || gu.Stats == nil || gu.Stats.N != 6 || gu.Stats.Mean != 95 || gu.Stats.Min != 90 {
		t.Errorf("gpu util = %+v %+v", gu, gu.Stats)
	}
	if mu := ds.Metrics["mem_util_pct"]; mu.Stats == nil || mu.Stats.Mean != 45 {
		t.Errorf("mem util = %+v", mu)
	}
	// Energy: the counter went from 10,000 to 180,000 mJ.
	if e := ds.Energy; e.Source != "counter" || !near(e.Joules, 170) || !near(e.MeanPowerW, 425) || e.CounterWraps != 0 || e.CounterResets != 0 {
		t.Errorf("energy = %+v", e)
	}
	if p := ds.Metrics["power_w"]; p.Stats == nil || !near(p.Stats.Mean, 460) || p.Stats.Max != 700 {
		t.Errorf("power = %+v", p.Stats)
	}
	if tm := ds.Metrics["gpu_temp_c"]; tm.Stats == nil || tm.Stats.Mean != 55 {
		t.Errorf("temperature = %+v", tm)
	}
	if fb := ds.Metrics["fb_used_mib"]; fb.Stats == nil || fb.Stats.Mean != 10240 {
		t.Errorf("fb used = %+v", fb)
	}
	if tx := ds.Metrics["pcie_tx_kbps"]; tx.Stats == nil || tx.Stats.Mean != 1000 {
		t.Errorf("pcie tx = %+v", tx)
	}
	if ds.Throttle.Unavailable != "" || ds.Throttle.ThrottledPct != 0 || len(ds.Throttle.Reasons) != 0 {
		t.Errorf("throttle = %+v", ds.Throttle)
	}
	if ds.ECC.Unavailable != "" || ds.XID.Unavailable != "" {
		t.Errorf("ecc %+v xid %+v", ds.ECC, ds.XID)
	}
	sum.PerSample(1000)
	if !near(sum.Devices[0].Energy.JoulesPerSample, 0.17) {
		t.Errorf("joules per sample = %v; want 0.17", sum.Devices[0].Energy.JoulesPerSample)
	}

	var buf bytes.Buffer
	if err := s.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+5*2 {
		t.Fatalf("csv rows = %d; want header + 5 ticks × 2 GPUs", len(rows))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	if rows[5][col["time_ns"]] != "200000000" || rows[5][col["gpu"]] != "0" || rows[5][col["sm_clock_mhz"]] != "1755" ||
		rows[5][col["power_w"]] != "700" || rows[5][col["energy_mj"]] != "100000" || rows[5][col["clock_event_reasons"]] != "0x0" {
		t.Errorf("csv row 5 = %q", rows[5])
	}
}

func TestVGPUGuest(t *testing.T) {
	t.Parallel()
	r := gputest.NewRig(t, 1)
	g := r.GPUs[0]
	g.Virt = nvml.GPU_VIRTUALIZATION_MODE_VGPU
	for _, m := range []string{"GetPowerUsage", "GetTotalEnergyConsumption", "GetTemperature", "GetPcieThroughput", "GetFieldValues",
		"GetTotalEccErrors", "GetEnforcedPowerLimit", "GetPowerManagementDefaultLimit"} {
		g.NotSupported[m] = true
	}
	lic := &nvml.GridLicensableFeatures{IsGridLicenseSupported: 1, LicensableFeaturesCount: 1}
	lic.GridLicensableFeatures[0] = nvml.GridLicensableFeature{
		FeatureCode: uint32(nvml.GRID_LICENSE_FEATURE_CODE_COMPUTE), FeatureState: nvml.GRID_LICENSE_STATE_LICENSED, FeatureEnabled: 1,
	}
	for i, c := range []byte("NVIDIA Virtual Compute Server") {
		lic.GridLicensableFeatures[0].ProductName[i] = int8(c)
	}
	g.License = lic
	n := openRig(t, r)
	d := n.Devices()[0]
	if d.Virtualization != "vgpu" || d.VGPULicense == nil || !d.VGPULicense.Licensed || d.VGPULicense.Product != "NVIDIA Virtual Compute Server" {
		t.Fatalf("vGPU device = %+v license %+v", d, d.VGPULicense)
	}
	if c := d.Capabilities.Of(Power); c.Status != NotSupported || c.Reason() != "not supported (vGPU guest)" {
		t.Errorf("power capability = %+v (%s)", c, c.Reason())
	}
	if d.Unavailable["power_limit_w"] != "not supported" {
		t.Errorf("unavailable = %v", d.Unavailable)
	}

	sum := drive(n.NewSampler(SamplerConfig{}), every(100*ms, 4)...)
	ds := sum.Devices[0]
	for _, m := range []string{"power_w", "gpu_temp_c", "pcie_tx_kbps", "pcie_rx_kbps"} {
		if ms := ds.Metrics[m]; ms.Stats != nil || ms.Unavailable != "not supported (vGPU guest)" {
			t.Errorf("%s = %+v; want unavailable, not 0", m, ms)
		}
	}
	for _, m := range []string{"sm_clock_mhz", "mem_clock_mhz", "gpu_util_pct", "fb_used_mib"} {
		if ms := ds.Metrics[m]; ms.Stats == nil {
			t.Errorf("%s unavailable in a vGPU guest: %+v", m, ms)
		}
	}
	if ds.Energy.Unavailable == "" || ds.Energy.Joules != 0 || ds.ECC.Unavailable == "" {
		t.Errorf("energy %+v ecc %+v; want unavailable", ds.Energy, ds.ECC)
	}
	if g.CallCount["GetPowerUsage"] != 1 {
		t.Errorf("GetPowerUsage called %d times; want only the probe", g.CallCount["GetPowerUsage"])
	}

	// The preflight: licensed passes; unlicensed refuses unless allowed.
	if err := n.Preflight().Check(false); err != nil {
		t.Errorf("licensed vGPU refused: %v", err)
	}
	lic.GridLicensableFeatures[0].FeatureState = nvml.GRID_LICENSE_STATE_UNLICENSED_RESTRICTED
	pf := n.Preflight()
	if err := pf.Check(false); !errors.Is(err, ErrUnlicensed) || !strings.Contains(err.Error(), "unlicensed_restricted") {
		t.Errorf("unlicensed vGPU: Check = %v; want ErrUnlicensed", err)
	}
	if err := pf.Check(true); err != nil {
		t.Errorf("unlicensed vGPU with the override: %v", err)
	}
	if len(pf.Warnings) != 1 || !strings.Contains(pf.Warnings[0], "license") {
		t.Errorf("warnings = %q", pf.Warnings)
	}
}

func TestMIGEnabled(t *testing.T) {
	t.Parallel()
	r := gputest.NewRig(t, 1)
	dev := r.Server.Devices[0].(*server.Device)
	if ret, _ := dev.SetMigMode(nvml.DEVICE_MIG_ENABLE); ret != nvml.SUCCESS {
		t.Fatal(ret)
	}
	g := r.GPUs[0]
	g.NotSupported["GetUtilizationRates"] = true
	g.NotSupported["GetSamples"] = true
	n := openRig(t, r)
	d := n.Devices()[0]
	if d.MIGMode != "enabled" {
		t.Fatalf("MIG mode = %q", d.MIGMode)
	}
	sum := drive(n.NewSampler(SamplerConfig{}), every(100*ms, 3)...)
	ds := sum.Devices[0]
	for _, m := range []string{"gpu_util_pct", "mem_util_pct"} {
		if u := ds.Metrics[m]; u.Stats != nil || u.Unavailable != "not supported (MIG enabled)" {
			t.Errorf("%s = %+v; want unavailable (MIG enabled)", m, u)
		}
	}
	if sm := ds.Metrics["sm_clock_mhz"]; sm.Stats == nil || ds.Energy.Unavailable != "" {
		t.Errorf("clocks %+v energy %+v; want both under MIG", sm, ds.Energy)
	}
	if g.CallCount["GetUtilizationRates"] != 1 || g.CallCount["GetSamples"] != 1 {
		t.Errorf("utilization called after the probe: rates %d samples %d", g.CallCount["GetUtilizationRates"], g.CallCount["GetSamples"])
	}
}

// An old driver lacks the newer functions: they are never called, older
// ones stand in where they exist, and the rest is unavailable by name.
func TestOldDriverMissingSymbols(t *testing.T) {
	t.Parallel()
	r := gputest.NewRig(t, 1)
	g := r.GPUs[0]
	for sym, method := range map[string]string{
		"nvmlDeviceGetCurrentClocksEventReasons": "GetCurrentClocksEventReasons",
		"nvmlDeviceGetMemoryInfo_v2":             "GetMemoryInfo_v2",
		"nvmlDeviceGetTotalEnergyConsumption":    "GetTotalEnergyConsumption",
		"nvmlDeviceGetNumaNodeId":                "GetNumaNodeId",
		"nvmlDeviceGetGpuMaxPcieLinkGeneration":  "GetGpuMaxPcieLinkGeneration",
		"nvmlDeviceGetSamples":                   "GetSamples",
		"nvmlDeviceGetTemperatureV":              "GetTemperatureV",
	} {
		r.Missing[sym] = true
		g.Forbidden[method] = true
	}
	dev := r.Server.Devices[0].(*server.Device)
	dev.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		return nvml.Memory{Total: 80 << 30, Used: 3 << 30}, g.Enter("GetMemoryInfo")
	}
	g.Reasons = []uint64{0x4}
	n := openRig(t, r)
	d := n.Devices()[0]
	if c := d.Capabilities.Of(Energy); c.Status != SymbolMissing || c.Reason() != "driver lacks nvmlDeviceGetTotalEnergyConsumption" {
		t.Errorf("energy capability = %+v", c)
	}
	if c := d.Capabilities.Of(ClockEvents); !c.OK() || c.API != "nvmlDeviceGetCurrentClocksThrottleReasons" {
		t.Errorf("clock events capability = %+v; want the deprecated fallback", c)
	}
	if c := d.Capabilities.Of(MemUsed); !c.OK() || c.API != "nvmlDeviceGetMemoryInfo" {
		t.Errorf("memory capability = %+v", c)
	}
	if c := d.Capabilities[CapUtilSamples]; c.Status != SymbolMissing {
		t.Errorf("samples capability = %+v", c)
	}
	if d.NUMANode != nil || d.Unavailable["numa_node"] != "driver lacks nvmlDeviceGetNumaNodeId" || d.PCIeMaxGen != 0 {
		t.Errorf("device = %+v", d)
	}
	sum := drive(n.NewSampler(SamplerConfig{}), every(100*ms, 4)...)
	ds := sum.Devices[0]
	// Energy falls back to integrating power: 350 W for 0.4 s.
	if ds.Energy.Source != "power_integral" || !near(ds.Energy.Joules, 140) {
		t.Errorf("energy = %+v", ds.Energy)
	}
	if ds.Metrics["fb_used_mib"].Stats == nil || ds.Metrics["fb_used_mib"].Stats.Mean != 3072 {
		t.Errorf("fb used = %+v", ds.Metrics["fb_used_mib"])
	}
	if gu := ds.Metrics["gpu_util_pct"]; gu.Source != "poll" || gu.Stats.Mean != 87 {
		t.Errorf("gpu util = %+v", gu)
	}
	if ds.Throttle.ThrottledPct != 100 || len(ds.Throttle.Reasons) != 1 || ds.Throttle.Reasons[0].Reason != "sw_power_cap" {
		t.Errorf("throttle = %+v", ds.Throttle)
	}
	n.Preflight()
}

func TestThrottleAccounting(t *testing.T) {
	t.Parallel()
	r := gputest.NewRig(t, 1)
	const idle, pcap, hwslow, thermal = 0x1, 0x4, 0x8, 0x20
	// Call 1 is the probe; then one reading per tick.
	r.GPUs[0].Reasons = []uint64{0, idle, pcap, pcap, pcap | hwslow, 0, thermal, thermal, 0}
	n := openRig(t, r)
	// Ticks at 0, 100, 200, 250, 400, 500, 600, 800 ms: uneven on purpose.
	sum := drive(n.NewSampler(SamplerConfig{}), 0, 100*ms, 200*ms, 250*ms, 400*ms, 500*ms, 600*ms, 800*ms)
	th := sum.Devices[0].Throttle
	// Each reading holds until the next tick: idle [0,100), pcap [100,400),
	// of which hwslow [250,400), none [400,500), thermal [500,800).
	want := map[string]float64{"gpu_idle": 12.5, "sw_power_cap": 37.5, "hw_slowdown": 18.75, "sw_thermal_slowdown": 37.5}
	if len(th.Reasons) != len(want) {
		t.Fatalf("reasons = %+v; want %v", th.Reasons, want)
	}
	for _, rs := range th.Reasons {
		if !near(rs.SharePct, want[rs.Reason]) {
			t.Errorf("%s share = %v%%; want %v%%", rs.Reason, rs.SharePct, want[rs.Reason])
		}
	}
	if !near(th.ThrottledPct, 75) {
		t.Errorf("throttled = %v%%; want 75%% (power cap and thermal, not idle)", th.ThrottledPct)
	}
}

func TestEnergyCounterWrapAndReset(t *testing.T) {
	t.Parallel()
	const top = math.MaxUint64
	tests := []struct {
		name          string
		seq           []uint64 // after the probe's call
		joules        float64
		wraps, resets int
	}{
		{"wrap", []uint64{top - 2999, top - 999, 500, 2500}, 5.5, 1, 0},
		// A driver reload restarts the counter: 1000 before, 400 and 1000 after.
		{"reset", []uint64{5_000_000_000, 5_000_001_000, 400, 1400}, 2.4, 0, 1},
		{"steady", []uint64{100, 1100, 2100, 3100}, 3, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := gputest.NewRig(t, 1)
			r.GPUs[0].Energy = append([]uint64{0}, tc.seq...)
			n := openRig(t, r)
			e := drive(n.NewSampler(SamplerConfig{}), every(100*ms, 3)...).Devices[0].Energy
			if e.Source != "counter" || !near(e.Joules, tc.joules) || e.CounterWraps != tc.wraps || e.CounterResets != tc.resets {
				t.Errorf("energy = %+v; want %v J, %d wraps, %d resets", e, tc.joules, tc.wraps, tc.resets)
			}
		})
	}
}

func TestXIDEvents(t *testing.T) {
	t.Parallel()
	r := gputest.NewRig(t, 2)
	n := openRig(t, r)
	// One event before the window: not the window's.
	r.Events.Push(nvml.EventData{Device: r.Server.Devices[1], EventType: nvml.EventTypeXidCriticalError, EventData: 13})
	s := n.NewSampler(SamplerConfig{})
	s.mu.Lock()
	s.begin(0)
	s.sample(0)
	r.Events.Push(nvml.EventData{Device: r.Server.Devices[1], EventType: nvml.EventTypeXidCriticalError, EventData: 79})
	r.Events.Push(nvml.EventData{Device: r.Server.Devices[0], EventType: nvml.EventTypeSingleBitEccError})
	s.sample(100 * ms)
	s.finish(200 * ms)
	s.mu.Unlock()
	sum := s.Summary()
	if x := sum.Devices[1].XID; len(x.Events) != 1 || x.Events[0].XID != 79 || x.Events[0].AtNs != 100*ms {
		t.Errorf("GPU 1 XIDs = %+v; want XID 79 at 100 ms", x)
	}
	if x := sum.Devices[0].XID; len(x.Events) != 0 || x.Unavailable != "" {
		t.Errorf("GPU 0 XIDs = %+v", x)
	}
}

// The window's goroutine: starts at once, ticks, and stops on the end.
func TestWindowGoroutine(t *testing.T) {
	t.Parallel()
	r := gputest.NewRig(t, 1)
	n := openRig(t, r)
	origin := time.Now()
	clock := func() int64 { return int64(time.Since(origin)) }
	s := n.NewSampler(SamplerConfig{Interval: 20 * time.Millisecond, Clock: clock})
	if s.Summary() != nil {
		t.Fatal("summary before any window")
	}
	start := clock()
	s.Window(true, start)
	time.Sleep(100 * time.Millisecond)
	end := clock()
	s.Window(false, end)
	sum := s.Summary()
	if sum.Ticks < 3 || sum.WindowNs != end-start {
		t.Errorf("ticks %d window %d; want at least start, one tick and the end over %d", sum.Ticks, sum.WindowNs, end-start)
	}
	if sum.Sampler.CPUNs <= 0 || sum.Sampler.BusyNs <= 0 {
		t.Errorf("sampler cost not measured: %+v", sum.Sampler)
	}
	if sum.Host.Unavailable != "" || sum.Host.StealTick == nil {
		t.Errorf("host = %+v", sum.Host)
	}
	// A second window replaces the first; Close ends one left open.
	s.Window(true, clock())
	s.Close()
	if s2 := s.Summary(); s2 == nil || s2.WindowNs == sum.WindowNs && s2.Ticks == sum.Ticks {
		t.Errorf("second window not summarised: %+v", s2)
	}
	s.Window(false, clock()) // no window open: nothing happens
}

// Without the library nothing but Init is ever called: the mock panics on
// any other method.
func TestNoLibrary(t *testing.T) {
	t.Parallel()
	lib := &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }}
	n := OpenLibrary(lib, Options{})
	if n.Available() || n.Unavailable() != "NVML library not found" || len(n.Devices()) != 0 {
		t.Fatalf("OpenLibrary without the library: %+v", n.Info())
	}
	if err := n.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	sum := drive(n.NewSampler(SamplerConfig{ProcStat: "testdata/proc-stat"}), every(100*ms, 2)...)
	if sum.NVML.Available || sum.NVML.Unavailable != "NVML library not found" || len(sum.Devices) != 0 {
		t.Errorf("summary = %+v", sum)
	}
	var buf bytes.Buffer
	if err := n.NewSampler(SamplerConfig{}).WriteCSV(&buf); err != nil || strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("csv without a window = %q, %v", buf.String(), err)
	}
	if pf := n.Preflight(); len(pf.Devices) != 0 || pf.Check(false) != nil {
		t.Errorf("preflight = %+v", pf)
	}
}

// On this machine (no GPU) the real loader finds no library.
func TestOpenWithoutDriver(t *testing.T) {
	n := Open(Options{LibraryPath: "/nonexistent/libnvidia-ml.so.1"})
	defer n.Close()
	if n.Available() || n.Unavailable() != "NVML library not found" {
		t.Errorf("Open(missing path) = %+v", n.Info())
	}
}

// A call dearer than the CPU budget is read less often than every tick,
// and always at the window's edges, so the energy over the window stays
// exact.
func TestCallBudget(t *testing.T) {
	t.Parallel()
	r := gputest.NewRig(t, 1)
	g := r.GPUs[0]
	g.Spin["GetTotalEnergyConsumption"] = 2 * time.Millisecond // 2 ms / 0.02% = a read every 10 s
	// The probe measures three calls; then the window's first and last.
	g.Energy = []uint64{0, 0, 0, 10_000, 50_000}
	n := OpenLibrary(r.Server, Options{})
	defer n.Close()
	sum := drive(n.NewSampler(SamplerConfig{}), every(100*ms, 10)...)
	if got := g.CallCount["GetTotalEnergyConsumption"]; got != 5 {
		t.Errorf("GetTotalEnergyConsumption called %d times; want 3 by the probe and 2 at the edges", got)
	}
	if e := sum.Devices[0].Energy; e.Source != "counter" || !near(e.Joules, 40) {
		t.Errorf("energy = %+v; want 40 J from the edges", e)
	}
	// Cheap calls run more often (every tick, unless the race detector
	// makes even the mock dear).
	if got := g.CallCount["GetPowerUsage"]; got <= 5 {
		t.Errorf("GetPowerUsage called %d times; want more than the dear energy call's 5", got)
	}
}
