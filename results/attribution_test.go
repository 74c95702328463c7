package results

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/inference"
)

// tel is one run's synthetic telemetry: one GPU's window means, the
// throttle-reason shares, the link under load and the host's steal.
type tel struct {
	sm, util, power, temp float64
	capShare, thermShare  float64
	linkGen, linkWidth    float64
	steal                 float64
	// pcieKBps is the busier direction's PCIe traffic (0: not read).
	pcieKBps float64
	// smActive and tensorActive are GPM's window values (0: no GPM).
	smActive, tensorActive float64
	// unavailable names metrics the GPU could not read, with the reason.
	unavailable map[string]string
	xids        []uint64
}

func (t tel) summary() *gpu.Summary {
	st := func(mean float64) *gpu.Stats {
		return &gpu.Stats{N: 100, Mean: mean, Min: mean * 0.98, Max: mean * 1.02, P5: mean * 0.99, P95: mean * 1.01}
	}
	link := func(v float64) *gpu.Stats { return &gpu.Stats{N: 100, Mean: v, Min: v, Max: v, P5: v, P95: v} }
	d := gpu.DeviceSummary{Index: 0, UUID: "GPU-x", Name: "NVIDIA A100-SXM4-80GB", Metrics: map[string]gpu.MetricSummary{
		"sm_clock_mhz":    {Unit: "MHz", Stats: st(t.sm)},
		"mem_clock_mhz":   {Unit: "MHz", Stats: st(1593)},
		"gpu_util_pct":    {Unit: "%", Stats: st(t.util), Source: "nvml_samples"},
		"power_w":         {Unit: "W", Stats: st(t.power)},
		"gpu_temp_c":      {Unit: "C", Stats: st(t.temp)},
		"pcie_link_gen":   {Unit: "", Stats: link(t.linkGen)},
		"pcie_link_width": {Unit: "lanes", Stats: link(t.linkWidth)},
	}}
	if t.smActive > 0 {
		// Interim values scattered around the window's value, which is
		// the one to use.
		sm, tensor := t.smActive, t.tensorActive
		d.Metrics["prof_sm_active_pct"] = gpu.MetricSummary{Unit: "%", Stats: st(sm + 7), WindowValue: &sm, Source: "gpm"}
		d.Metrics["prof_pipe_tensor_active_pct"] = gpu.MetricSummary{Unit: "%", Stats: st(tensor + 7), WindowValue: &tensor, Source: "gpm"}
	}
	if t.pcieKBps > 0 {
		d.Metrics["pcie_tx_kbps"] = gpu.MetricSummary{Unit: "KB/s", Stats: st(t.pcieKBps)}
		d.Metrics["pcie_rx_kbps"] = gpu.MetricSummary{Unit: "KB/s", Stats: st(t.pcieKBps / 4)}
	}
	if t.capShare > 0 {
		d.Throttle.Reasons = append(d.Throttle.Reasons, gpu.ReasonShare{Reason: "sw_power_cap", Bit: 0x4, SharePct: t.capShare})
	}
	if t.thermShare > 0 {
		d.Throttle.Reasons = append(d.Throttle.Reasons, gpu.ReasonShare{Reason: "hw_thermal_slowdown", Bit: 0x40, SharePct: t.thermShare})
	}
	d.Throttle.ThrottledPct = math.Max(t.capShare, t.thermShare)
	for _, x := range t.xids {
		d.XID.Events = append(d.XID.Events, gpu.XIDEvent{XID: x})
	}
	for m, why := range t.unavailable {
		if m == "clock_event_reasons" {
			d.Throttle = gpu.ThrottleSummary{Unavailable: why}
			continue
		}
		d.Metrics[m] = gpu.MetricSummary{Unit: d.Metrics[m].Unit, Unavailable: why}
	}
	return &gpu.Summary{
		Schema: gpu.TelemetrySchema, NVML: gpu.NVMLInfo{Available: true, DriverVersion: "550.54.15", DeviceCount: 1},
		IntervalNs: 1e8, WindowNs: 1e10, Ticks: 100, Devices: []gpu.DeviceSummary{d},
		Host: gpu.HostSummary{StealPct: t.steal},
	}
}

// healthy is a bare-metal A100 at full clocks under load.
var healthy = tel{sm: 1410, util: 95, power: 380, temp: 62, linkGen: 4, linkWidth: 16, steal: 0.1}

// wobble spreads repetition k's values a little, as real runs do.
func wobble(t tel, k int) tel {
	f := []float64{-1, 1, -0.5, 0.5}[k%4]
	t.sm += 4 * f
	t.util += 0.4 * f
	t.power += 2 * f
	t.steal = math.Max(0, t.steal+0.05*f)
	if t.capShare > 0 {
		t.capShare += f
	}
	return t
}

func withTel(tl func(k int) tel) func(int, *inference.Result) {
	return func(k int, r *inference.Result) { r.Telemetry = mustJSON(tl(k).summary()) }
}

func findKind(fs []Finding, kind string) (Finding, bool) {
	for _, f := range fs {
		if f.Kind == kind {
			return f, true
		}
	}
	return Finding{}, false
}

func kinds(fs []Finding) []string {
	var k []string
	for _, f := range fs {
		k = append(k, f.Kind)
	}
	return k
}

func bm(fp string) fxHost { return fxHost{name: "bm", role: RoleBaseline, fingerprint: fp} }
func vm(fp string) fxHost { return fxHost{name: "vm", role: RoleCandidate, fingerprint: fp} }

func TestAttributePowerCapping(t *testing.T) {
	capped := tel{sm: 1250, util: 96, power: 300, temp: 60, capShare: 40, linkGen: 4, linkWidth: 16, steal: 0.1}
	runs := fxPairs(4, withTel(func(k int) tel { return wobble(healthy, k) }), withTel(func(k int) tel { return wobble(capped, k) }))
	// The candidate's telemetry.csv: two capped ticks at 1200 MHz and one
	// uncapped at 1400 MHz.
	csv := "time_ns,gpu,uuid,sm_clock_mhz,mem_clock_mhz,gpu_util_pct,mem_util_pct,power_w,energy_mj,gpu_temp_c,fb_used_mib,pcie_tx_kbps,pcie_rx_kbps,pcie_link_gen,pcie_link_width,clock_event_reasons,util_source,host_steal_pct,host_iowait_pct\n" +
		"0,0,GPU-x,1200,1593,96,40,300,1,60,1000,1,1,4,16,0x4,poll,0,0\n" +
		"100000000,0,GPU-x,1400,1593,96,40,290,2,60,1000,1,1,4,16,0x0,poll,0,0\n" +
		"200000000,0,GPU-x,1200,1593,96,40,300,3,60,1000,1,1,4,16,0x84,poll,0,0\n"
	for i := range runs {
		if runs[i].host == "vm" {
			runs[i].csv = csv
		}
	}
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, runs, Options{})
	fs := Attribute(c)
	if len(fs) != 1 {
		t.Fatalf("findings %v; want power capping alone:\n%+v", kinds(fs), fs)
	}
	f := fs[0]
	// Means of the wobbled values: 1410 and 1250 MHz exactly (the wobble
	// sums to zero over four runs).
	if f.Kind != FindingPowerCapping || f.Rank != 1 || f.Metric != "sm_clock_mhz" || f.Scenario != "resnet50 Offline" ||
		*f.Baseline != 1410 || *f.Candidate != 1250 || math.Abs(*f.DeltaPct-100*(1250-1410)/1410.0) > 1e-9 {
		t.Errorf("finding = %+v", f)
	}
	for _, want := range []string{"1410 MHz on the baseline, 1250 MHz on the candidate (-11.3%)", "power capping was active 40% of the run on the candidate (0% on the baseline)",
		"while capped the candidate's SM clock averaged 1200 MHz", "power 380 W on the baseline, 300 W on the candidate"} {
		if !strings.Contains(f.Text, want) {
			t.Errorf("text %q lacks %q", f.Text, want)
		}
	}
}

func TestAttributeThermal(t *testing.T) {
	hot := tel{sm: 1300, util: 95, power: 360, temp: 88, thermShare: 30, linkGen: 4, linkWidth: 16, steal: 0.1}
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")},
		fxPairs(4, withTel(func(k int) tel { return wobble(healthy, k) }), withTel(func(k int) tel { return wobble(hot, k) })), Options{})
	fs := Attribute(c)
	f, ok := findKind(fs, FindingThermal)
	if !ok || len(fs) != 1 || !strings.Contains(f.Text, "thermal slowdown was active 30% of the run on the candidate") || !strings.Contains(f.Text, "GPU temperature 62 °C on the baseline, 88 °C on the candidate") {
		t.Errorf("findings = %+v", fs)
	}
}

func TestAttributeSteal(t *testing.T) {
	stolen := healthy
	stolen.steal = 6
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")},
		fxPairs(4, withTel(func(k int) tel { return wobble(healthy, k) }), withTel(func(k int) tel { return wobble(stolen, k) })), Options{})
	fs := Attribute(c)
	if len(fs) != 1 || fs[0].Kind != FindingCPUSteal {
		t.Fatalf("findings = %+v; want CPU steal alone", fs)
	}
	f := fs[0]
	if math.Abs(*f.Baseline-0.1) > 1e-9 || math.Abs(*f.Candidate-6) > 1e-9 || !strings.Contains(f.Text, "CPU steal 0.1% on the baseline, 6.0% on the candidate") ||
		!strings.Contains(f.Text, "the candidate's vCPUs") {
		t.Errorf("finding = %+v", f)
	}
}

func TestAttributePCIeDowntrained(t *testing.T) {
	slow := healthy
	slow.linkGen = 3
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")},
		fxPairs(2, withTel(func(k int) tel { return wobble(healthy, k) }), withTel(func(k int) tel { return wobble(slow, k) })), Options{})
	fs := Attribute(c)
	if len(fs) != 1 || fs[0].Kind != FindingPCIe {
		t.Fatalf("findings = %+v; want the PCIe link alone", fs)
	}
	f := fs[0]
	// Gen4: 16 GT/s × 128/130 × 16 lanes / 8 = 31.51 GB/s; Gen3: 8 GT/s,
	// half of it.
	gen4 := 16 * 128.0 / 130 * 16 / 8
	if math.Abs(*f.Baseline-gen4) > 1e-9 || math.Abs(*f.Candidate-gen4/2) > 1e-9 || math.Abs(*f.DeltaPct+50) > 1e-9 {
		t.Errorf("finding = %+v; want %.2f and %.2f GB/s", f, gen4, gen4/2)
	}
	if !strings.Contains(f.Text, "the candidate's PCIe link ran at Gen3 x16 under load, the baseline's at Gen4 x16; its GPU supports Gen4 x16: 50% of the bandwidth") {
		t.Errorf("text %q", f.Text)
	}
}

// generatorRuns are four interleaved pairs of sc whose candidate is
// slower by slow with the given issue delay p99s (ns).
func generatorRuns(sc inference.Scenario, slow float64, baseDelay, candDelay int64) []fxRun {
	var runs []fxRun
	lat := []float64{2.0e6, 2.02e6, 1.98e6, 2.01e6}
	for k := range 4 {
		b := fxRun{host: "bm", sc: sc, rep: k, value: lat[k]}
		c := fxRun{host: "vm", sc: sc, rep: k, value: lat[k] * slow}
		b.mod = func(r *inference.Result) {
			withTel(func(k int) tel { return wobble(healthy, k) })(k, r)
			r.Health.IssueDelay = inference.Quantiles{Count: 1000, P99Ns: baseDelay + int64(k)*1000}
			r.Health.Wait = &inference.WaitHealth{Spin: inference.SpinAuto, ThreadCPUPct: 5}
		}
		c.mod = func(r *inference.Result) {
			withTel(func(k int) tel { return wobble(healthy, k) })(k, r)
			r.Health.IssueDelay = inference.Quantiles{Count: 1000, P99Ns: candDelay + int64(k)*20_000}
			r.Health.Wait = &inference.WaitHealth{Spin: inference.SpinAuto, ThreadCPUPct: 7.5}
		}
		runs = append(runs, b, c)
	}
	return runs
}

// The generator's lag explains a gap only where the metric includes the
// issue delay (Server, whose latency counts from the scheduled issue), and
// only on the side that did worse.
func TestAttributeGeneratorLag(t *testing.T) {
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, generatorRuns(inference.Server, 1.6, 50_000, 1_200_000), Options{})
	fs := Attribute(c)
	if len(fs) != 1 || fs[0].Kind != FindingGeneratorLag {
		t.Fatalf("findings = %+v; want the generator's lag alone", fs)
	}
	f := fs[0]
	if f.Scenario != "resnet50 Server" || math.Abs(*f.Baseline-0.0515) > 1e-9 || math.Abs(*f.Candidate-1.23) > 1e-9 ||
		!strings.Contains(f.Text, "0.051 ms on the baseline, 1.230 ms on the candidate") || !strings.Contains(f.Text, "issued queries late on the candidate") ||
		!strings.Contains(f.Text, "the issuing thread's CPU (share of a core) was 5.0% on the baseline, 7.5% on the candidate") {
		t.Errorf("finding = %+v", f)
	}

	// SingleStream's latency counts from the actual issue: no finding,
	// however late the generator.
	c = fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, generatorRuns(inference.SingleStream, 1.6, 50_000, 1_200_000), Options{})
	if fs := Attribute(c); len(fs) != 0 {
		t.Errorf("SingleStream: findings %+v; want none", fs)
	}
	// The late side did better: the lag explains no gap.
	c = fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, generatorRuns(inference.Server, 0.8, 50_000, 1_200_000), Options{})
	if fs := Attribute(c); len(fs) != 0 {
		t.Errorf("the faster side lagged: findings %+v; want none", fs)
	}
}

// A vGPU guest that cannot read power, PCIe or throttle reasons: each is
// named once, with the reason, and ranked after the measured findings.
func TestAttributeUnavailable(t *testing.T) {
	guest := healthy
	guest.steal = 4
	guest.unavailable = map[string]string{"power_w": "not supported", "pcie_link_gen": "not supported", "pcie_link_width": "not supported", "clock_event_reasons": "not supported"}
	var runs []fxRun
	runs = append(runs, fxPairs(4, withTel(func(k int) tel { return wobble(healthy, k) }), withTel(func(k int) tel { return wobble(guest, k) }))...)
	c := fxTree(t, []fxHost{bm("baremetal"), vm("vgpu-guest")}, runs, Options{})
	fs := Attribute(c)
	want := []string{FindingCPUSteal, FindingUnavailable, FindingUnavailable, FindingUnavailable}
	if fmt.Sprint(kinds(fs)) != fmt.Sprint(want) {
		t.Fatalf("findings %v, want %v:\n%+v", kinds(fs), want, fs)
	}
	texts := ""
	for i, f := range fs {
		if f.Rank != i+1 {
			t.Errorf("finding %d has rank %d", i, f.Rank)
		}
		texts += f.Text + "\n"
	}
	for _, w := range []string{
		"power unavailable on the candidate (vGPU guest: not supported): cannot tell whether power capping lowered its clocks.",
		"clock-event (throttle) reasons unavailable on the candidate (vGPU guest: not supported)",
		"PCIe link unavailable on the candidate (vGPU guest: not supported): cannot tell whether its PCIe link trained down.",
	} {
		if !strings.Contains(texts, w) {
			t.Errorf("findings lack %q:\n%s", w, texts)
		}
	}
	if f, _ := findKind(fs[1:], FindingUnavailable); f.Scenario != "" {
		t.Errorf("an unavailable metric is a finding about the side, not one scenario: %+v", f)
	}
	pw := fs[slicesIndex(fs, func(f Finding) bool { return f.Metric == "power_w" })]
	if pw.Baseline == nil || *pw.Baseline != 380 || pw.Candidate != nil || pw.Unit != "W" {
		t.Errorf("power finding = %+v; want the baseline's 380 W and no candidate value", pw)
	}
}

func slicesIndex(fs []Finding, f func(Finding) bool) int {
	for i, x := range fs {
		if f(x) {
			return i
		}
	}
	return -1
}

// A side without any telemetry is one finding, not one per GPU metric;
// its steal is unknown too. Without a link reading, the passthrough VM's
// fingerprint (system max Gen3 under a Gen4 GPU) is a low-ranked hint.
func TestAttributeNoTelemetry(t *testing.T) {
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")},
		fxPairs(2, withTel(func(k int) tel { return wobble(healthy, k) }), nil), Options{})
	fs := Attribute(c)
	if fmt.Sprint(kinds(fs)) != fmt.Sprint([]string{FindingPCIe, FindingUnavailable, FindingUnavailable}) {
		t.Fatalf("findings %v:\n%+v", kinds(fs), fs)
	}
	for i, want := range []string{
		"NVML reports that the candidate's system caps the PCIe link at Gen3 while its GPU supports Gen4; no link reading under load confirms it",
		"no GPU telemetry on the candidate (result.json has no telemetry: sampling was off on the agent, or the agent predates it)",
		"CPU steal unavailable on the candidate (not measured)",
	} {
		if !strings.Contains(fs[i].Text, want) {
			t.Errorf("finding %d: %q lacks %q", i+1, fs[i].Text, want)
		}
	}
	if fs[0].Scenario != "" || *fs[0].Candidate != 3 || *fs[0].Baseline != 4 {
		t.Errorf("PCIe hint = %+v", fs[0])
	}
}

// Deltas within the repetitions' spread, or under the floors, are no
// findings.
func TestAttributeWithinNoise(t *testing.T) {
	// SM clocks 35 MHz apart in the means (above the 2% floor of 28 MHz)
	// with a spread of about 95 MHz per side: Welch's t needs about
	// 2.45 × 67 = 164 MHz. Utilization 2 points apart (under the 5-point
	// floor); steal 0.5 points (under 1).
	bSM := []float64{1450, 1300, 1480, 1290}
	cSM := []float64{1300, 1420, 1250, 1410}
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, fxPairs(4,
		withTel(func(k int) tel { x := healthy; x.sm = bSM[k]; return x }),
		withTel(func(k int) tel { x := healthy; x.sm = cSM[k]; x.util -= 2; x.steal += 0.5; return x })), Options{})
	fs := Attribute(c)
	if fs == nil || len(fs) != 0 {
		t.Errorf("findings = %+v; want none (and an empty, non-nil list: telemetry was read)", fs)
	}
}

// Two findings rank by score: an 11% clock drop above 3 points of steal.
// A starved GPU is a finding only on the side that did worse.
func TestAttributeRankingAndStarvation(t *testing.T) {
	capped := tel{sm: 1250, util: 70, power: 300, temp: 60, capShare: 40, linkGen: 4, linkWidth: 16, steal: 3.1}
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")},
		fxPairs(4, withTel(func(k int) tel { return wobble(healthy, k) }), withTel(func(k int) tel { return wobble(capped, k) })), Options{})
	fs := Attribute(c)
	// Scores: power capping 1.0 × 160/1410 = 0.113; starved 0.9 × 25/100
	// = 0.225; steal 1.0 × 3/100 = 0.03.
	want := []string{FindingGPUStarved, FindingPowerCapping, FindingCPUSteal}
	if fmt.Sprint(kinds(fs)) != fmt.Sprint(want) {
		t.Fatalf("findings %v, want %v", kinds(fs), want)
	}
	if !strings.Contains(fs[0].Text, "GPU utilization 95% on the baseline, 70% on the candidate: the candidate's GPU waited for work (starved)") {
		t.Errorf("text %q", fs[0].Text)
	}

	// The candidate is faster and less busy: no starvation.
	idle := healthy
	idle.util = 60
	runs := fxPairs(4, withTel(func(k int) tel { return wobble(healthy, k) }), withTel(func(k int) tel { return wobble(idle, k) }))
	for i := range runs {
		if runs[i].host == "vm" {
			runs[i].value = 1100
		}
	}
	c = fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")}, runs, Options{})
	if fs := Attribute(c); len(fs) != 0 {
		t.Errorf("findings = %+v; a faster candidate with a less busy GPU is not starved", fs)
	}
}

func TestAttributeGPUErrors(t *testing.T) {
	bad := healthy
	bad.xids = []uint64{79, 79, 48}
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")},
		fxPairs(2, withTel(func(k int) tel { return healthy }), withTel(func(k int) tel { return bad })), Options{})
	fs := Attribute(c)
	if len(fs) != 1 || fs[0].Kind != FindingGPUErrors || !strings.Contains(fs[0].Text, "the candidate's GPU logged 3.0 XID error event(s) per run on average (the baseline none); XID 48, 79") {
		t.Errorf("findings = %+v", fs)
	}
}

// beyondNoise against a hand computation: two sides of 4 runs, sd 1: the
// standard error of the difference is sqrt(1/4 + 1/4) = 0.7071, Welch's
// df = 0.25 / (2 × 0.0625 / 3) = 6, and t(0.975, 6) = 2.446912 (any t
// table), so the threshold is 1.7302.
func TestBeyondNoise(t *testing.T) {
	a := agg{mean: 10, sd: 1, n: 4}
	for _, tc := range []struct {
		c     agg
		floor float64
		want  bool
	}{
		{agg{mean: 11.74, sd: 1, n: 4}, 0.1, true},
		{agg{mean: 11.72, sd: 1, n: 4}, 0.1, false},
		{agg{mean: 11.74, sd: 1, n: 4}, 2, false}, // under the floor
		{agg{mean: 10.5, n: 1}, 0.1, false},       // one run borrows sd 1: se = sqrt(1/4 + 1) = 1.118
		{agg{mean: 10.5, n: 1}, 0.4, false},
		{agg{mean: 10.5, n: 1}, 0.6, false},
	} {
		if got := beyondNoise(a, tc.c, tc.floor); got != tc.want {
			t.Errorf("beyondNoise(%+v, %+v, floor %g) = %v, want %v", a, tc.c, tc.floor, got, tc.want)
		}
	}
	// One run per side: the floor alone decides.
	if !beyondNoise(agg{mean: 10, n: 1}, agg{mean: 10.5, n: 1}, 0.4) || beyondNoise(agg{mean: 10, n: 1}, agg{mean: 10.5, n: 1}, 0.6) {
		t.Error("one run per side must be judged on the floor")
	}
}

// Neither side recorded telemetry: one finding says so.
func TestAttributeNoTelemetryEitherSide(t *testing.T) {
	c := fxTree(t, []fxHost{bm("baremetal"), vm("mig")}, fxPairs(2, nil, nil), Options{})
	fs := Attribute(c)
	if len(fs) != 1 || fs[0].Kind != FindingUnavailable ||
		fs[0].Text != "no GPU telemetry on either side (result.json has no telemetry: sampling was off on the agent, or the agent predates it); a gap cannot be attributed to the GPU." {
		t.Errorf("findings = %+v", fs)
	}
}

// A link trained down that carried little traffic explains little: it
// ranks below an 11% clock drop, and says how busy it was.
func TestAttributePCIeByTraffic(t *testing.T) {
	base := healthy
	base.pcieKBps = 1.5e6
	cand := tel{sm: 1250, util: 95, power: 300, temp: 60, capShare: 40, linkGen: 3, linkWidth: 16, steal: 0.1, pcieKBps: 1.575e6}
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")},
		fxPairs(4, withTel(func(k int) tel { return wobble(base, k) }), withTel(func(k int) tel { return wobble(cand, k) })), Options{})
	fs := Attribute(c)
	if fmt.Sprint(kinds(fs)) != fmt.Sprint([]string{FindingPowerCapping, FindingPCIe}) {
		t.Fatalf("findings %v:\n%+v", kinds(fs), fs)
	}
	// Gen3 x16 carries 15.75 GB/s; 1.575 GB/s is 10% of it.
	if !strings.Contains(fs[1].Text, "the candidate's link carried 1.57 GB/s, 10% of its capacity") {
		t.Errorf("text %q", fs[1].Text)
	}
}

// With GPM on both sides, SM active decides starvation: NVML's
// utilization (the share of time any kernel ran) can read the same on a
// GPU whose SMs sat half idle.
func TestAttributeStarvationFromGPM(t *testing.T) {
	busy := healthy
	busy.smActive, busy.tensorActive = 80, 60
	thin := busy
	thin.smActive, thin.tensorActive = 50, 35
	c := fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")},
		fxPairs(4, withTel(func(k int) tel { x := wobble(busy, k); x.smActive += float64(k); return x }),
			withTel(func(k int) tel { x := wobble(thin, k); x.smActive += float64(k); return x })), Options{})
	fs := Attribute(c)
	if len(fs) != 1 || fs[0].Kind != FindingGPUStarved || fs[0].Metric != "prof_sm_active_pct" {
		t.Fatalf("findings = %+v; want one gpu-starved finding on prof_sm_active_pct", fs)
	}
	if want := "SM active (GPM) 82% on the baseline, 52% on the candidate: the candidate's GPU waited for work (starved)"; !strings.Contains(fs[0].Text, want) {
		t.Errorf("text %q; want it to contain %q", fs[0].Text, want)
	}
	if !strings.Contains(fs[0].Text, "tensor pipes active 60% on the baseline, 35% on the candidate") {
		t.Errorf("text %q; want the tensor pipes", fs[0].Text)
	}

	// NVML utilization lower on the candidate, SM active the same: GPM
	// wins, and the GPU was not starved.
	lowUtil := busy
	lowUtil.util = 70
	c = fxTree(t, []fxHost{bm("baremetal"), vm("passthrough")},
		fxPairs(4, withTel(func(k int) tel { return wobble(busy, k) }), withTel(func(k int) tel { return wobble(lowUtil, k) })), Options{})
	if fs := Attribute(c); len(fs) != 0 {
		t.Errorf("findings = %+v; SM active was the same on both sides", fs)
	}
}
