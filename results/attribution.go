package results

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/gpu/host"
)

// Finding is one ranked explanation of a gap between the sides, drawn from
// telemetry or the load generator's health: the metric on each side, its
// relative delta, and a plain-language sentence.
type Finding struct {
	// Scenario is "benchmark/Scenario"; empty for a finding about the whole
	// side (e.g. a PCIe link trained down, from the fingerprint).
	Scenario string `json:"scenario,omitempty"`
	// Kind classifies the finding (power-capping, thermal, cpu-steal, ...).
	Kind   string `json:"kind"`
	Metric string `json:"metric"`
	// Baseline and Candidate are the metric's values; nil when a side does
	// not report it.
	Baseline  *float64 `json:"baseline"`
	Candidate *float64 `json:"candidate"`
	Unit      string   `json:"unit"`
	// DeltaPct is 100 × (candidate − baseline) / baseline; nil when
	// undefined.
	DeltaPct *float64 `json:"delta_pct"`
	// Rank is 1 for the finding that best explains the gap.
	Rank int    `json:"rank"`
	Text string `json:"text"`
}

// Finding kinds.
const (
	FindingPowerCapping = "power-capping"
	FindingThermal      = "thermal"
	FindingSMClock      = "sm-clock"
	FindingGPUStarved   = "gpu-starved"
	FindingCPUSteal     = "cpu-steal"
	FindingPCIe         = "pcie-downtrained"
	FindingGeneratorLag = "generator-lag"
	FindingGPUErrors    = "gpu-errors"
	FindingUnavailable  = "unavailable"
	FindingNeighbours   = "vgpu-neighbours"
)

// Noise floors: a delta at or below its floor is never a finding, however
// tight the repetitions; above it, it must also exceed the repetitions'
// spread (see beyondNoise).
const (
	floorClockRel    = 0.02 // SM clock: 2% of the higher side
	floorSharePts    = 5.0  // throttle-reason shares: 5 points of the window
	floorUtilPts     = 5.0  // GPU utilization: 5 points
	floorStealPts    = 1.0  // CPU steal: 1 point of all CPU time
	floorIssueMs     = 0.1  // issue delay p99: 100 µs ...
	minIssueRatio    = 2.0  // ... and twice the other side's
	powerCapReasons  = "sw_power_cap|hw_power_brake_slowdown"
	thermalReasons   = "sw_thermal_slowdown|hw_thermal_slowdown|hw_slowdown"
	weightClock      = 1.0
	weightUtil       = 0.9
	weightSteal      = 1.0
	weightPCIeBlind  = 0.3 // a lost bandwidth share when the traffic is unknown
	weightIssueDelay = 0.9
	scoreGPUErrors   = 0.5
)

// Attribute explains the gaps between the sides from what each run
// recorded: the telemetry summary in result.json (and telemetry.csv), the
// load generator's health, and the host fingerprints. Each finding compares
// the counted runs' means of one metric and is kept only when the delta
// exceeds both a floor and the repetitions' spread (a Welch t test at 95%
// on the per-run values; with one run per side, the floor alone).
//
// Findings are ranked by a score that estimates how much of a throughput
// gap the delta can explain: the relative SM-clock drop (power capping and
// thermal, or half the throttle share's growth when larger or when the
// clock is unreadable: weight 1; an unexplained drop 0.8), the drop in GPU utilization in
// points/100 (0.9), CPU steal in points/100 (1), the lost PCIe bandwidth
// share times how busy the slower link was (0.3 without traffic readings), the issue delay's growth as a share of the scenario's
// percentile latency (0.9, at most 1), GPU errors 0.5, the server's statistics
// (see serverFindings: relative differences, weight 1); metrics one side
// could not read rank last (score 0).
func Attribute(c *Comparison) []Finding {
	bRuns := loadRuns(c.cache, c.Baseline, c.Scenarios, RoleBaseline)
	cRuns := loadRuns(c.cache, c.Candidate, c.Scenarios, RoleCandidate)
	if len(bRuns) == 0 && len(cRuns) == 0 {
		return nil
	}
	bSide := sideContext(c.Baseline, RoleBaseline)
	cSide := sideContext(c.Candidate, RoleCandidate)
	var all []scored
	for _, sc := range c.Scenarios {
		name := sc.Benchmark + " " + sc.Scenario
		b := observe(counted(bRuns, name))
		k := observe(counted(cRuns, name))
		if b.n == 0 || k.n == 0 {
			continue
		}
		all = append(all, scenarioFindings(name, sc, b, k, bSide, cSide)...)
		all = append(all, serverFindings(name, sc, b, k)...)
	}
	all = append(all, neighbourFindings(c, cRuns)...)
	bAll, cAll := observe(bRuns), observe(cRuns)
	all = append(all, pcieCapFindings(bSide, cSide, bAll, cAll)...)
	all = append(all, probeFindings(c)...) // the cuda probe's numbers, when both sides have them
	if len(bRuns) > 0 && len(cRuns) > 0 {
		all = append(all, unavailableFindings(bAll, cAll, bSide, cSide)...)
	}
	slices.SortStableFunc(all, func(x, y scored) int { return cmp.Compare(y.score, x.score) })
	out := make([]Finding, len(all))
	for i, s := range all {
		s.f.Rank = i + 1
		out[i] = s.f
	}
	return out
}

type scored struct {
	f     Finding
	score float64
}

// sideInfo is what the fingerprint says about a side, for the text.
type sideInfo struct {
	role      string
	vgpuGuest bool
	// maxGen and maxWidth are the GPUs' own PCIe maxima (lowest over the
	// side's GPUs); sysGen the lowest system maximum.
	maxGen, maxWidth, sysGen int
}

func sideContext(s Side, role string) sideInfo {
	si := sideInfo{role: role}
	for _, h := range s.Hosts {
		fp, ok := hostFingerprint(h)
		if !ok {
			continue
		}
		si.vgpuGuest = si.vgpuGuest || fp.Virtualization.Verdict.Platform == host.VGPUVM
		for _, d := range fp.GPUs {
			si.vgpuGuest = si.vgpuGuest || d.Virtualization == "vgpu"
			si.maxGen = minPositive(si.maxGen, d.PCIeMaxGen)
			si.maxWidth = minPositive(si.maxWidth, d.PCIeMaxWidth)
			si.sysGen = minPositive(si.sysGen, d.PCIeSystemGen)
		}
	}
	return si
}

func minPositive(a, b int) int {
	switch {
	case b <= 0:
		return a
	case a <= 0:
		return b
	}
	return min(a, b)
}

func counted(runs []runFile, scenario string) []runFile {
	var out []runFile
	for _, r := range runs {
		if r.Scenario == scenario && r.Rep.Counted {
			out = append(out, r)
		}
	}
	return out
}

// Observed metrics (internal keys).
const (
	mSMClock  = "sm_clock_mhz"
	mMemClock = "mem_clock_mhz"
	mUtil     = "gpu_util_pct"
	// GPM (Hopper and newer): the share of SM time busy and of the
	// tensor pipes active, the DCGM profiling metrics' equivalents.
	mSMActive     = "prof_sm_active_pct"
	mTensorActive = "prof_pipe_tensor_active_pct"
	mPower        = "power_w"
	mTemp         = "gpu_temp_c"
	mLinkGen      = "pcie_link_gen"
	mLinkWidth    = "pcie_link_width"
	mPCIeGBps     = "pcie_traffic_gbps"
	mCapShare     = "power_cap_share_pct"
	mThermShare   = "thermal_share_pct"
	mSteal        = "host_steal_pct"
	mIssueP99     = "issue_delay_p99_ms"
	mGenCPU       = "generator_cpu_pct"
	mGenThreadCPU = "generator_thread_cpu_pct"
	mLatency      = "latency_ms"
	mSMCapped     = "sm_clock_while_capped_mhz"
	mXID          = "xid_events"
	mECC          = "ecc_uncorrected"
	// The generator's host: Server's latency bound, the CPUs other work
	// took, and the host's CPU count.
	mBound     = "latency_bound_ms"
	mOtherCPUs = "other_work_cpus"
	mHostCPUs  = "host_cpus"
)

// generatorCPUText puts the generator's CPU beside its issue delay: its
// issuing thread's share of a core where the runs measured it, else the
// whole process's (an in-process backend included).
func generatorCPUText(b, c sideObs) string {
	if p := both(b, c, mGenThreadCPU); p.ok() {
		return "; the issuing thread's CPU (share of a core) was " + p.bothText("%", 1)
	}
	if p := both(b, c, mGenCPU); p.ok() {
		return "; the generator process's CPU (share of a core, in-process backend included) was " + p.bothText("%", 0)
	}
	return ""
}

// sideObs aggregates one side's counted runs of one scenario.
type sideObs struct {
	n     int
	vals  map[string][]float64
	why   map[string]string // metric → why it is unavailable (last run's reason)
	xids  []uint64
	state []*gpu.Preflight
}

// agg is a metric over a side's runs.
type agg struct {
	mean, sd float64
	n        int
}

func (o sideObs) get(m string) (agg, bool) {
	v := o.vals[m]
	if len(v) == 0 {
		return agg{}, false
	}
	a := agg{n: len(v)}
	for _, x := range v {
		a.mean += x
	}
	a.mean /= float64(len(v))
	if len(v) > 1 {
		if sd, err := sampleSD(v); err == nil {
			a.sd = sd
		}
	}
	return a, true
}

func observe(runs []runFile) sideObs {
	o := sideObs{n: len(runs), vals: map[string][]float64{}, why: map[string]string{}}
	put := func(m string, v float64) { o.vals[m] = append(o.vals[m], v) }
	for _, r := range runs {
		h := r.Res.Health
		if h.IssueDelay.Count > 0 {
			put(mIssueP99, float64(h.IssueDelay.P99Ns)/1e6)
		}
		if h.GeneratorCPUPct > 0 {
			put(mGenCPU, h.GeneratorCPUPct)
		}
		if h.Wait != nil && h.Wait.ThreadCPUPct >= 0 {
			put(mGenThreadCPU, h.Wait.ThreadCPUPct)
		}
		if r.Res.TargetLatencyNs > 0 {
			put(mLatency, float64(r.Res.TargetLatencyNs)/1e6)
		}
		if b := r.Res.Effective.TargetLatencyNs; b > 0 {
			put(mBound, float64(b)/1e6)
		}
		if h.HostBusyPct != nil && h.HostCPUs > 0 {
			others := *h.HostBusyPct/100*float64(h.HostCPUs) - h.GeneratorCPUPct/100
			put(mOtherCPUs, math.Max(0, others))
			put(mHostCPUs, float64(h.HostCPUs))
		}
		observeServer(&o, r, put)
		tel := r.Tel
		switch {
		case tel != nil && tel.Host.Unavailable == "":
			put(mSteal, tel.Host.StealPct)
		case h.HostStealPct >= 0 && h.HostStealNote == "":
			put(mSteal, h.HostStealPct)
		default:
			o.why[mSteal] = cmpOr(h.HostStealNote, "no /proc/stat")
			if tel != nil && tel.Host.Unavailable != "" {
				o.why[mSteal] = tel.Host.Unavailable
			}
		}
		o.state = append(o.state, r.State)
		if tel == nil {
			why := cmpOr(r.TelErr, "result.json has no telemetry: sampling was off on the agent, or the agent predates it")
			for _, m := range gpuMetrics {
				o.why[m] = why
			}
			o.why["telemetry"] = why
			continue
		}
		if !tel.NVML.Available || len(tel.Devices) == 0 {
			why := "NVML unavailable: " + cmpOr(tel.NVML.Unavailable, "no GPU")
			for _, m := range gpuMetrics {
				o.why[m] = why
			}
			o.why["telemetry"] = why
			continue
		}
		observeDevices(&o, tel, put)
		if sm, ok := smWhileCapped(filepath.Join(r.Dir, telemetryCSV)); ok {
			put(mSMCapped, sm)
		}
	}
	return o
}

// gpuMetrics are the GPU metrics whose absence on one side is a finding.
var gpuMetrics = []string{mPower, mSMClock, mUtil, "clock_event_reasons", mTemp, mLinkGen}

// observeDevices adds one run's device telemetry: means over the GPUs of
// each metric's window mean; the link is the lowest GPU's highest reading
// (a link trains down at idle, so its peak under load is what it can do).
func observeDevices(o *sideObs, tel *gpu.Summary, put func(string, float64)) {
	means := map[string][]float64{}
	for _, d := range tel.Devices {
		if tx, rx := d.Metrics["pcie_tx_kbps"], d.Metrics["pcie_rx_kbps"]; tx.Stats != nil && rx.Stats != nil {
			// NVML's PCIe throughput is in KB/s; the busier direction.
			means[mPCIeGBps] = append(means[mPCIeGBps], math.Max(tx.Stats.Mean, rx.Stats.Mean)/1e6)
		}
		for _, m := range []string{mSMClock, mMemClock, mUtil, mPower, mTemp, mLinkGen, mLinkWidth} {
			ms, ok := d.Metrics[m]
			switch {
			case !ok:
			case ms.Stats == nil:
				o.why[m] = cmpOr(ms.Unavailable, "no readings")
			case m == mLinkGen || m == mLinkWidth:
				means[m] = append(means[m], ms.Stats.Max)
			default:
				means[m] = append(means[m], ms.Stats.Mean)
			}
		}
		for _, m := range []string{mSMActive, mTensorActive} {
			// The value over the whole window when GPM gave one.
			if ms, ok := d.Metrics[m]; ok && ms.WindowValue != nil {
				means[m] = append(means[m], *ms.WindowValue)
			} else if ok && ms.Stats != nil {
				means[m] = append(means[m], ms.Stats.Mean)
			}
		}
		if d.Throttle.Unavailable != "" {
			o.why["clock_event_reasons"] = d.Throttle.Unavailable
		} else {
			means[mCapShare] = append(means[mCapShare], reasonShare(d.Throttle, powerCapReasons))
			means[mThermShare] = append(means[mThermShare], reasonShare(d.Throttle, thermalReasons))
		}
		if d.XID.Unavailable == "" {
			for _, e := range d.XID.Events {
				o.xids = append(o.xids, e.XID)
			}
			means[mXID] = append(means[mXID], float64(len(d.XID.Events)))
		}
		if d.ECC.Unavailable == "" {
			means[mECC] = append(means[mECC], float64(d.ECC.Uncorrected))
		}
	}
	for m, vs := range means {
		switch m {
		case mLinkGen, mLinkWidth:
			put(m, slices.Min(vs))
		case mXID, mECC:
			var s float64
			for _, v := range vs {
				s += v
			}
			put(m, s)
		default:
			var s float64
			for _, v := range vs {
				s += v
			}
			put(m, s/float64(len(vs)))
		}
	}
}

// reasonShare is the largest share among the named clock-event reasons
// (they overlap in time, so their sum could pass 100%).
func reasonShare(t gpu.ThrottleSummary, names string) float64 {
	var share float64
	for _, r := range t.Reasons {
		if slices.Contains(strings.Split(names, "|"), r.Reason) {
			share = max(share, r.SharePct)
		}
	}
	return share
}

// powerCapBits are the clock-event bits of power capping (sw_power_cap,
// hw_power_brake_slowdown).
const powerCapBits = 0x4 | 0x80

// smWhileCapped reads telemetry.csv and returns the mean SM clock over the
// ticks when power capping was active; ok is false without such ticks.
func smWhileCapped(path string) (float64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil {
		return 0, false
	}
	smCol, evCol := slices.Index(head, mSMClock), slices.Index(head, "clock_event_reasons")
	if smCol < 0 || evCol < 0 {
		return 0, false
	}
	var sum float64
	var n int
	for {
		rec, err := r.Read()
		if err != nil {
			break
		}
		if len(rec) <= max(smCol, evCol) || rec[smCol] == "" || rec[evCol] == "" {
			continue
		}
		bits, err := strconv.ParseUint(strings.TrimPrefix(rec[evCol], "0x"), 16, 64)
		if err != nil || bits&powerCapBits == 0 {
			continue
		}
		v, err := strconv.ParseFloat(rec[smCol], 64)
		if err != nil {
			continue
		}
		sum += v
		n++
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// beyondNoise reports whether two sides' means of a metric differ by more
// than floor and by more than the repetitions' spread: |Δ| above the
// 97.5% Student t quantile (Welch's degrees of freedom) times the standard
// error of the difference. A side with one run borrows the other side's
// spread; with one run on each side the floor alone decides.
func beyondNoise(b, c agg, floor float64) bool {
	d := math.Abs(c.mean - b.mean)
	if !(d > floor) {
		return false
	}
	if b.n < 2 && c.n < 2 {
		return true
	}
	sb, sc := b.sd, c.sd
	if b.n < 2 {
		sb = sc
	}
	if c.n < 2 {
		sc = sb
	}
	nb, nc := float64(b.n), float64(c.n)
	vb, vc := sb*sb/nb, sc*sc/nc
	se := math.Sqrt(vb + vc)
	if se == 0 {
		return true
	}
	df := welchDF(vb, vc, max(nb, 2), max(nc, 2))
	return d > tQuantile(0.975, df)*se
}

// pair is one metric on both sides.
type pair struct {
	b, c   agg
	bo, co bool // present on each side
}

func both(b, c sideObs, m string) pair {
	var p pair
	p.b, p.bo = b.get(m)
	p.c, p.co = c.get(m)
	return p
}

func (p pair) ok() bool { return p.bo && p.co }

func (p pair) finding(scenario, kind, metric, unit, text string) Finding {
	f := Finding{Scenario: scenario, Kind: kind, Metric: metric, Unit: unit, Text: text}
	if p.bo {
		v := p.b.mean
		f.Baseline = &v
	}
	if p.co {
		v := p.c.mean
		f.Candidate = &v
	}
	if p.bo && p.co && p.b.mean != 0 {
		d := 100 * (p.c.mean - p.b.mean) / p.b.mean
		f.DeltaPct = &d
	}
	return f
}

// lower names the side with the lower mean, and the other.
func (p pair) lower() (lo, hi string, loV, hiV float64) {
	if p.c.mean < p.b.mean {
		return RoleCandidate, RoleBaseline, p.c.mean, p.b.mean
	}
	return RoleBaseline, RoleCandidate, p.b.mean, p.c.mean
}

func (p pair) bothText(unit string, prec int) string {
	return fmt.Sprintf("%s on the baseline, %s on the candidate", num(p.b.mean, unit, prec), num(p.c.mean, unit, prec))
}

func num(v float64, unit string, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	switch unit {
	case "":
		return s
	case "%":
		return s + "%"
	}
	return s + " " + unit
}

func signedPct(p pair) string {
	if p.b.mean == 0 {
		return ""
	}
	return fmt.Sprintf(" (%+.1f%%)", 100*(p.c.mean-p.b.mean)/p.b.mean)
}

// scenarioFindings compares one scenario's two sides.
func scenarioFindings(name string, sc ScenarioComparison, b, c sideObs, bs, cs sideInfo) []scored {
	var out []scored
	add := func(f Finding, score float64) { out = append(out, scored{f, score}) }
	sm := both(b, c, mSMClock)
	smLower := sm.ok() && beyondNoise(sm.b, sm.c, floorClockRel*math.Max(sm.b.mean, sm.c.mean))
	smRel := 0.0
	if sm.ok() && math.Max(sm.b.mean, sm.c.mean) > 0 {
		smRel = math.Abs(sm.c.mean-sm.b.mean) / math.Max(sm.b.mean, sm.c.mean)
	}
	explained := false

	// Power capping and thermal slowdown: a throttle reason held one side's
	// clocks longer, and that side's SM clock is lower (or unreadable).
	for _, t := range []struct {
		kind, metric, what string
	}{
		{FindingPowerCapping, mCapShare, "power capping"},
		{FindingThermal, mThermShare, "thermal slowdown"},
	} {
		sh := both(b, c, t.metric)
		if !sh.ok() || !beyondNoise(sh.b, sh.c, floorSharePts) {
			continue
		}
		_, hiSide, _, _ := sh.lower()
		smLowOnHi := smLower && ((hiSide == RoleCandidate) == (sm.c.mean < sm.b.mean))
		smMissing := (hiSide == RoleCandidate && !sm.co) || (hiSide == RoleBaseline && !sm.bo)
		if !smLowOnHi && !smMissing {
			continue
		}
		share := fmt.Sprintf("%s was active %.0f%% of the run on the %s (%.0f%% on the %s)", t.what,
			pick(sh, hiSide), hiSide, pick(sh, other(hiSide)), other(hiSide))
		var text string
		var f Finding
		if smLowOnHi {
			text = fmt.Sprintf("lower SM clock under %s: %s%s; %s", t.what, sm.bothText("MHz", 0), signedPct(sm), share)
			if t.kind == FindingPowerCapping {
				if capped, ok := (map[string]sideObs{RoleBaseline: b, RoleCandidate: c})[hiSide].get(mSMCapped); ok {
					text += fmt.Sprintf("; while capped the %s's SM clock averaged %.0f MHz", hiSide, capped.mean)
				}
				if pw := both(b, c, mPower); pw.ok() {
					text += fmt.Sprintf("; power %s", pw.bothText("W", 0))
				}
			} else if tc := both(b, c, mTemp); tc.ok() {
				text += fmt.Sprintf("; GPU temperature %s", tc.bothText("°C", 0))
			}
			f = sm.finding(name, t.kind, mSMClock, "MHz", text+".")
		} else {
			text = fmt.Sprintf("%s held the %s's clocks: %s; its SM clock is unavailable, so the cost cannot be measured", t.what, hiSide, share)
			f = sh.finding(name, t.kind, t.metric, "%", text+".")
		}
		score := weightClock * math.Max(smRel, math.Abs(sh.c.mean-sh.b.mean)/100/2)
		if !smLowOnHi {
			score = weightClock * math.Abs(sh.c.mean-sh.b.mean) / 100 / 2
		}
		add(f, score)
		explained = true
	}

	// How busy the GPU was: GPM's SM active where both sides have it (the
	// share of SM time with work, which a kernel that occupies few SMs
	// does not inflate), else NVML's utilization (the share of time any
	// kernel ran).
	util, busyMetric, busyWords := both(b, c, mSMActive), mSMActive, "SM active (GPM)"
	if !util.ok() {
		util, busyMetric, busyWords = both(b, c, mUtil), mUtil, "GPU utilization"
	}
	utilLow := util.ok() && beyondNoise(util.b, util.c, floorUtilPts)

	// An SM clock drop no throttle reason explains.
	if smLower && !explained && !utilLow {
		lo, _, _, _ := sm.lower()
		text := fmt.Sprintf("SM clock %s%s with no power or thermal throttling recorded", sm.bothText("MHz", 0), signedPct(sm))
		if pinned(map[string]sideObs{RoleBaseline: b, RoleCandidate: c}[lo]) {
			text += fmt.Sprintf("; the %s's application clocks are pinned", lo)
		}
		add(sm.finding(name, FindingSMClock, mSMClock, "MHz", text+"."), weightClock*smRel*0.8)
	}

	// The GPU waited for work: lower utilization on the side that did no
	// better (at a fixed load, a faster GPU is less busy, which is no
	// finding).
	if utilLow {
		lo, _, _, _ := util.lower()
		r := sc.RetainedPct
		didWorse := r == nil || (lo == RoleCandidate && *r < 100) || (lo == RoleBaseline && *r > 100)
		if didWorse {
			text := fmt.Sprintf("%s %s: the %s's GPU waited for work (starved), so its gap lies in feeding the GPU (CPU, PCIe, the load generator), not in the GPU itself", busyWords, util.bothText("%", 0), lo)
			if ta := both(b, c, mTensorActive); ta.ok() {
				text += fmt.Sprintf("; tensor pipes active %s", ta.bothText("%", 0))
			}
			add(util.finding(name, FindingGPUStarved, busyMetric, "%", text+"."), weightUtil*math.Abs(util.c.mean-util.b.mean)/100)
		}
	}

	// CPU steal.
	if st := both(b, c, mSteal); st.ok() && beyondNoise(st.b, st.c, floorStealPts) {
		_, hi, _, _ := st.lower()
		text := fmt.Sprintf("CPU steal %s (share of all CPU time): the hypervisor ran other work on the %s's vCPUs, which slows its load generator and the host side of inference", st.bothText("%", 1), hi)
		add(st.finding(name, FindingCPUSteal, mSteal, "%", text+"."), weightSteal*math.Abs(st.c.mean-st.b.mean)/100)
	}

	// PCIe link under load.
	if f, score, ok := pcieFinding(name, b, c, bs, cs); ok {
		add(f, score)
	}

	// The load generator issued late on one side. Only Server's metric
	// counts from the scheduled issue, so only there can a late generator
	// explain a gap, and only on the side that did worse.
	if sc.Scenario == "Server" {
		if d := both(b, c, mIssueP99); d.ok() {
			_, hi, loV, hiV := d.lower()
			r := sc.RetainedPct
			didWorse := r == nil || (hi == RoleCandidate && *r < 100) || (hi == RoleBaseline && *r > 100)
			if didWorse && hiV >= minIssueRatio*loV && beyondNoise(d.b, d.c, floorIssueMs) {
				text := fmt.Sprintf("the load generator's issue delay p99 was %s: it issued queries late on the %s, so the generator lagged, not the GPU", d.bothText("ms", 3), hi)
				hiObs := map[string]sideObs{RoleBaseline: b, RoleCandidate: c}[hi]
				if st, ok := hiObs.get(mSteal); ok && st.mean >= floorStealPts {
					text += fmt.Sprintf(" (CPU steal there %.1f%%)", st.mean)
				}
				text += generatorCPUText(b, c)
				score := 0.1
				if lat, ok := hiObs.get(mLatency); ok && lat.mean > 0 {
					score = math.Min(1, (hiV-loV)/lat.mean)
				}
				add(d.finding(name, FindingGeneratorLag, mIssueP99, "ms", text+"."), weightIssueDelay*score)
			}
		}
	}

	// GPU errors during the runs.
	for _, e := range []struct{ metric, what string }{{mXID, "XID error event(s)"}, {mECC, "uncorrected ECC error(s)"}} {
		p := both(b, c, e.metric)
		if !p.ok() || (p.b.mean == 0) == (p.c.mean == 0) {
			continue
		}
		_, hi, _, hiV := p.lower()
		text := fmt.Sprintf("the %s's GPU logged %s per run on average (the %s none)", hi, num(hiV, "", 1)+" "+e.what, other(hi))
		if e.metric == mXID {
			ids := map[string]sideObs{RoleBaseline: b, RoleCandidate: c}[hi].xids
			var s []string
			for _, id := range slices.Compact(slices.Sorted(slices.Values(ids))) {
				s = append(s, strconv.FormatUint(id, 10))
			}
			text += "; XID " + strings.Join(s, ", ")
		}
		add(p.finding(name, FindingGPUErrors, e.metric, "", text+"."), scoreGPUErrors)
	}
	return out
}

func other(role string) string {
	if role == RoleCandidate {
		return RoleBaseline
	}
	return RoleCandidate
}

func pick(p pair, role string) float64 {
	if role == RoleCandidate {
		return p.c.mean
	}
	return p.b.mean
}

func pinned(o sideObs) bool {
	for _, st := range o.state {
		if st == nil {
			continue
		}
		for _, d := range st.Devices {
			if d.ClocksPinned != nil && *d.ClocksPinned {
				return true
			}
		}
	}
	return false
}

// pcieGTs is each PCIe generation's transfer rate per lane (GT/s), and
// pcieEncoding its line-code efficiency.
var pcieGTs = map[int]float64{1: 2.5, 2: 5, 3: 8, 4: 16, 5: 32, 6: 64}

func pcieGBps(gen, width float64) float64 {
	rate, ok := pcieGTs[int(gen)]
	if !ok || width <= 0 {
		return 0
	}
	enc := 128.0 / 130
	if gen <= 2 {
		enc = 0.8
	}
	return rate * enc * width / 8
}

func link(gen, width float64) string { return fmt.Sprintf("Gen%.0f x%.0f", gen, width) }

// pcieFinding compares the PCIe links the two sides ran at under load (the
// highest generation and width each GPU reported in the window), and a
// side's link against what its GPU supports.
func pcieFinding(name string, b, c sideObs, bs, cs sideInfo) (Finding, float64, bool) {
	bg, bgo := b.get(mLinkGen)
	bw, bwo := b.get(mLinkWidth)
	cg, cgo := c.get(mLinkGen)
	cw, cwo := c.get(mLinkWidth)
	bOK, cOK := bgo && bwo, cgo && cwo
	supports := func(s sideInfo) string {
		if s.maxGen > 0 && s.maxWidth > 0 {
			return fmt.Sprintf("; its GPU supports Gen%d x%d", s.maxGen, s.maxWidth)
		}
		return ""
	}
	// The lost bandwidth explains only as much as the traffic needed: the
	// score is the lost share times how busy the slower link was (the
	// busier direction's mean over its capacity, at most 1), or a blind
	// 0.3 times the lost share without traffic readings.
	traffic := func(role string, capacity float64) (float64, string) {
		o := b
		if role == RoleCandidate {
			o = c
		}
		t, ok := o.get(mPCIeGBps)
		if !ok || capacity <= 0 {
			return weightPCIeBlind, ""
		}
		busy := math.Min(1, t.mean/capacity)
		return busy, fmt.Sprintf("; the %s's link carried %.2f GB/s, %.0f%% of its capacity", role, t.mean, 100*busy)
	}
	mk := func(text string, lostShare, weight float64) (Finding, float64, bool) {
		f := Finding{Scenario: name, Kind: FindingPCIe, Metric: "pcie_link_bandwidth", Unit: "GB/s", Text: text}
		if bOK {
			v := pcieGBps(bg.mean, bw.mean)
			f.Baseline = &v
		}
		if cOK {
			v := pcieGBps(cg.mean, cw.mean)
			f.Candidate = &v
		}
		if f.Baseline != nil && f.Candidate != nil && *f.Baseline > 0 {
			d := 100 * (*f.Candidate - *f.Baseline) / *f.Baseline
			f.DeltaPct = &d
		}
		return f, weight * lostShare, true
	}
	switch {
	case bOK && cOK:
		bb, cb := pcieGBps(bg.mean, bw.mean), pcieGBps(cg.mean, cw.mean)
		if bb == cb || bb == 0 || cb == 0 {
			return Finding{}, 0, false
		}
		lo, loLink, hiLink, loInfo := RoleCandidate, link(cg.mean, cw.mean), link(bg.mean, bw.mean), cs
		loBW, hiBW := cb, bb
		if bb < cb {
			lo, loLink, hiLink, loInfo = RoleBaseline, link(bg.mean, bw.mean), link(cg.mean, cw.mean), bs
			loBW, hiBW = bb, cb
		}
		w, busy := traffic(lo, loBW)
		text := fmt.Sprintf("the %s's PCIe link ran at %s under load, the %s's at %s%s: %.0f%% of the bandwidth (%.1f vs %.1f GB/s per direction)%s",
			lo, loLink, other(lo), hiLink, supports(loInfo), 100*loBW/hiBW, loBW, hiBW, busy)
		return mk(text+".", 1-loBW/hiBW, w)
	case bOK != cOK:
		// One side has link telemetry: judge it against its GPU's maximum.
		role, g, w, info := RoleBaseline, bg.mean, bw.mean, bs
		if cOK {
			role, g, w, info = RoleCandidate, cg.mean, cw.mean, cs
		}
		full := pcieGBps(float64(info.maxGen), float64(info.maxWidth))
		got := pcieGBps(g, w)
		if full == 0 || got >= full {
			return Finding{}, 0, false
		}
		wt, busy := traffic(role, got)
		text := fmt.Sprintf("the %s's PCIe link ran at %s under load%s (%.0f%% of its bandwidth)%s; the %s reports no link to compare",
			role, link(g, w), supports(info), 100*got/full, busy, other(role))
		return mk(text+".", 1-got/full, wt)
	}
	return Finding{}, 0, false
}

// pcieCapFindings report, from the fingerprints, a side whose system caps
// the PCIe link below its GPU's generation, when no run measured the link
// under load (a VM's virtual root port may report less than the physical
// link, so this stays a low-ranked hint).
func pcieCapFindings(bs, cs sideInfo, bAll, cAll sideObs) []scored {
	var out []scored
	for _, s := range []struct {
		info, oth sideInfo
		all       sideObs
	}{{bs, cs, bAll}, {cs, bs, cAll}} {
		i := s.info
		if i.sysGen == 0 || i.maxGen == 0 || i.sysGen >= i.maxGen || (s.oth.sysGen > 0 && s.oth.sysGen <= i.sysGen) {
			continue
		}
		if s.all.vals[mLinkGen] != nil {
			continue
		}
		text := fmt.Sprintf("NVML reports that the %s's system caps the PCIe link at Gen%d while its GPU supports Gen%d; no link reading under load confirms it (a VM's virtual root port may report less than the physical link).",
			i.role, i.sysGen, i.maxGen)
		f := Finding{Kind: FindingPCIe, Metric: "pcie_system_max_gen", Unit: "", Text: text}
		v, o := float64(i.sysGen), float64(s.oth.sysGen)
		if i.role == RoleCandidate {
			f.Candidate = &v
			if o > 0 {
				f.Baseline = &o
			}
		} else {
			f.Baseline = &v
			if o > 0 {
				f.Candidate = &o
			}
		}
		out = append(out, scored{f, 0.01})
	}
	return out
}

// consequence says what a missing metric hides.
var consequence = map[string]string{
	mPower:                "cannot tell whether power capping lowered its clocks",
	mSMClock:              "cannot tell whether its GPU ran at lower clocks",
	mUtil:                 "cannot tell whether its GPU was starved",
	"clock_event_reasons": "cannot tell whether it was throttled (power or thermal)",
	mTemp:                 "cannot tell whether it ran hot",
	mLinkGen:              "cannot tell whether its PCIe link trained down",
	mSteal:                "cannot tell whether the hypervisor stole CPU time",
}

var metricWords = map[string]string{
	mPower: "power", mSMClock: "SM clock", mUtil: "GPU utilization", "clock_event_reasons": "clock-event (throttle) reasons",
	mTemp: "GPU temperature", mLinkGen: "PCIe link", mSteal: "CPU steal",
}

// unavailableFindings name each metric one side reported in some run and
// the other in none, over all scenarios, with the reason the other side
// gave.
func unavailableFindings(bo, co sideObs, bs, cs sideInfo) []scored {
	if noGPU(bo) && noGPU(co) {
		why := fmt.Sprintf("baseline: %s; candidate: %s", bo.why["telemetry"], co.why["telemetry"])
		if bo.why["telemetry"] == co.why["telemetry"] {
			why = bo.why["telemetry"]
		}
		text := fmt.Sprintf("no GPU telemetry on either side (%s); a gap cannot be attributed to the GPU.", why)
		return []scored{{Finding{Kind: FindingUnavailable, Metric: "telemetry", Text: text}, 0}}
	}
	var out []scored
	for _, s := range []struct {
		has, lacks sideObs
		info       sideInfo
	}{{bo, co, cs}, {co, bo, bs}} {
		guest := ""
		if s.info.vgpuGuest {
			guest = "vGPU guest: "
		}
		// No GPU telemetry at all on one side: one finding, not six.
		if noGPU(s.lacks) {
			text := fmt.Sprintf("no GPU telemetry on the %s (%s%s); its side of the gap cannot be attributed to the GPU.", s.info.role, guest, s.lacks.why["telemetry"])
			out = append(out, scored{Finding{Kind: FindingUnavailable, Metric: "telemetry", Text: text}, 0})
		} else {
			for _, m := range gpuMetrics {
				if s.has.vals[m] == nil && !(m == "clock_event_reasons" && s.has.vals[mCapShare] != nil) {
					continue
				}
				if s.lacks.vals[m] != nil || (m == "clock_event_reasons" && s.lacks.vals[mCapShare] != nil) {
					continue
				}
				out = append(out, scored{unavailable(m, s.has, s.lacks, s.info, guest), 0})
			}
		}
		if s.has.vals[mSteal] != nil && s.lacks.vals[mSteal] == nil {
			out = append(out, scored{unavailable(mSteal, s.has, s.lacks, s.info, guest), 0})
		}
	}
	return out
}

// noGPU: no run of the side recorded a GPU metric.
func noGPU(o sideObs) bool {
	_, none := o.why["telemetry"]
	return none && o.vals[mSMClock] == nil && o.vals[mPower] == nil && o.vals[mUtil] == nil
}

func unavailable(m string, has, lacks sideObs, info sideInfo, guest string) Finding {
	why := cmpOr(lacks.why[m], "not reported")
	text := fmt.Sprintf("%s unavailable on the %s (%s%s): %s.", metricWords[m], info.role, guest, why, consequence[m])
	f := Finding{Kind: FindingUnavailable, Metric: m, Text: text}
	src := m
	if m == "clock_event_reasons" {
		src = mCapShare
	}
	if a, ok := has.get(src); ok {
		v := a.mean
		if info.role == RoleCandidate {
			f.Baseline = &v
		} else {
			f.Candidate = &v
		}
		f.Unit = map[string]string{mPower: "W", mSMClock: "MHz", mUtil: "%", mCapShare: "%", mTemp: "°C", mLinkGen: "", mSteal: "%"}[src]
	}
	return f
}
