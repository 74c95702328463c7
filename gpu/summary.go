package gpu

import (
	"math"
	"slices"
	"time"
)

// TelemetrySchema versions Summary's JSON.
const TelemetrySchema = "gpuperf.telemetry/v1"

// Summary is a run's telemetry: per device and metric the distribution
// over the window, the energy used, how long each clock-event reason held,
// ECC and XID errors; and the host's CPU steal, iowait and the agent's own
// CPU over the same window. It goes into result.json as "telemetry".
type Summary struct {
	Schema string `json:"schema"`
	// NVML says whether GPU data was available, and if not why.
	NVML       NVMLInfo `json:"nvml"`
	IntervalNs int64    `json:"interval_ns"`
	WindowNs   int64    `json:"window_ns"`
	Ticks      int      `json:"ticks"`
	// Overruns counts ticks skipped because reading took longer than the
	// interval.
	Overruns int `json:"overruns,omitempty"`
	// Sampler is the sampler's own cost over the window.
	Sampler SamplerCost     `json:"sampler"`
	Devices []DeviceSummary `json:"devices"`
	Host    HostSummary     `json:"host"`
}

// SamplerCost is what sampling itself took.
type SamplerCost struct {
	// BusyNs is the wall time spent reading.
	BusyNs int64 `json:"busy_ns"`
	// CPUNs is the CPU time of the sampler's thread (NVML included); -1
	// where the OS cannot tell.
	CPUNs int64 `json:"cpu_ns"`
	// CorePct is CPUNs as a share of one core over the window.
	CorePct float64 `json:"core_percent"`
}

// DeviceSummary is one GPU's telemetry over the window.
type DeviceSummary struct {
	Index int    `json:"index"`
	UUID  string `json:"uuid"`
	Name  string `json:"name"`
	// Metrics maps Metric.Name to its statistics or the reason it is
	// unavailable. Energy and clock events have their own fields.
	Metrics  map[string]MetricSummary `json:"metrics"`
	Energy   EnergySummary            `json:"energy"`
	Throttle ThrottleSummary          `json:"clock_events"`
	ECC      ECCSummary               `json:"ecc"`
	XID      XIDSummary               `json:"xid"`
}

// MetricSummary is one metric's distribution, or why there is none.
type MetricSummary struct {
	Unit string `json:"unit"`
	// Unavailable is set, and Stats nil, when the device could not report
	// the metric: a missing value is never 0.
	Unavailable string `json:"unavailable,omitempty"`
	Stats       *Stats `json:"stats,omitempty"`
	// Source is "nvml_samples" when utilization came from NVML's own
	// sample buffer, "poll" when read at each tick, "gpm" for the
	// profiling metrics (prof_*).
	Source string `json:"source,omitempty"`
	// WindowValue is a profiling metric over the whole window, from GPM
	// samples at its edges: the figure to report. Stats then describe its
	// interim values, each over the span since the previous GPM sample
	// (a second or more apart). nil where the edges gave none.
	WindowValue *float64 `json:"window_value,omitempty"`
}

// Stats are the mean, extremes and nearest-rank percentiles
// (sorted[floor(n·p)], as LoadGen's) of N values.
type Stats struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	P5   float64 `json:"p5"`
	P95  float64 `json:"p95"`
}

// EnergySummary is the energy used over the window.
type EnergySummary struct {
	Unavailable string `json:"unavailable,omitempty"`
	// Source is "counter" (NVML's energy counter, differenced) or
	// "power_integral" (power readings integrated over time).
	Source     string  `json:"source,omitempty"`
	Joules     float64 `json:"joules"`
	MeanPowerW float64 `json:"mean_power_w"`
	// JoulesPerSample is Joules over the run's completed samples, set by
	// PerSample.
	JoulesPerSample float64 `json:"joules_per_sample,omitempty"`
	// CounterResets and CounterWraps count decreases of the counter: a
	// reset (driver reload) restarts from 0, a wrap passes 2^64.
	CounterResets int `json:"counter_resets,omitempty"`
	CounterWraps  int `json:"counter_wraps,omitempty"`
}

// ThrottleSummary is the share of the window each clock-event reason was
// active.
type ThrottleSummary struct {
	Unavailable string `json:"unavailable,omitempty"`
	// Reasons lists every reason seen, with the share of the window (%).
	Reasons []ReasonShare `json:"reasons,omitempty"`
	// ThrottledPct is the share with any reason that lowers clocks (idle
	// and the application-clocks setting excluded).
	ThrottledPct float64 `json:"throttled_percent"`
}

// ReasonShare is one reason's share of the window.
type ReasonShare struct {
	Reason   string  `json:"reason"`
	Bit      uint64  `json:"bit"`
	SharePct float64 `json:"share_percent"`
}

// ECCSummary counts ECC errors over the window (volatile totals).
type ECCSummary struct {
	Unavailable string `json:"unavailable,omitempty"`
	Corrected   uint64 `json:"corrected"`
	Uncorrected uint64 `json:"uncorrected"`
}

// XIDSummary lists the XID errors seen.
type XIDSummary struct {
	Unavailable string     `json:"unavailable,omitempty"`
	Events      []XIDEvent `json:"events,omitempty"`
}

// HostSummary is the host's CPU over the window.
type HostSummary struct {
	Unavailable string `json:"unavailable,omitempty"`
	// StealPct and IOWaitPct are shares of all CPU time over the window.
	StealPct  float64 `json:"cpu_steal_percent"`
	IOWaitPct float64 `json:"cpu_iowait_percent"`
	// StealTick is the distribution of the per-tick steal share.
	StealTick *Stats `json:"cpu_steal_per_tick,omitempty"`
	// Agent CPU time over the window (the whole process: generator,
	// backend in-process, sampler).
	AgentCPUUserNs int64   `json:"agent_cpu_user_ns"`
	AgentCPUSysNs  int64   `json:"agent_cpu_system_ns"`
	AgentCPUPct    float64 `json:"agent_cpu_percent"`
}

// maxPlausibleW bounds a GPU's power: a counter decrease that, read as a
// wrap past 2^64, implies more than this is a reset instead.
const maxPlausibleW = 10_000

// Summary summarises the last window; nil before any window ended.
func (s *Sampler) Summary() *Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil || !s.w.ended {
		return nil
	}
	return summarize(s.n, s.cfg.Interval, s.w)
}

func summarize(n *NVML, interval time.Duration, w *window) *Summary {
	sum := &Summary{
		Schema: TelemetrySchema, NVML: n.info, IntervalNs: int64(interval),
		WindowNs: w.end - w.start, Ticks: len(w.ticks), Overruns: w.overruns,
		Sampler: SamplerCost{BusyNs: w.busyNs, CPUNs: -1},
	}
	if w.threadCPUOK {
		sum.Sampler.CPUNs = w.threadCPUNs
		if sum.WindowNs > 0 {
			sum.Sampler.CorePct = 100 * float64(w.threadCPUNs) / float64(sum.WindowNs)
		}
	}
	sum.Devices = make([]DeviceSummary, 0, len(n.devs))
	for i, d := range n.devs {
		sum.Devices = append(sum.Devices, summarizeDevice(i, d.info(), w))
	}
	sum.Host = summarizeHost(w)
	return sum
}

func summarizeDevice(i int, info DeviceInfo, w *window) DeviceSummary {
	ds := DeviceSummary{Index: info.Index, UUID: info.UUID, Name: info.Name, Metrics: map[string]MetricSummary{}}
	caps := info.Capabilities
	vals := make([]float64, 0, len(w.ticks))
	for m := Metric(0); m < NumMetrics; m++ {
		if m == Energy || m == ClockEvents {
			continue
		}
		ms := MetricSummary{Unit: m.Unit()}
		vals = vals[:0]
		fromSamples := false
		for _, t := range w.ticks {
			r := &t.devs[i]
			if v, ok := r.Get(m); ok {
				vals = append(vals, v)
				fromSamples = fromSamples || r.UtilFromSamples
			}
		}
		if (m == GPUUtil || m == MemUtil) && len(vals) > 0 {
			ms.Source = "poll"
			raw := w.raw[i].gpu
			if m == MemUtil {
				raw = w.raw[i].mem
			}
			if fromSamples && len(raw) >= len(vals) {
				// NVML's own samples are finer than the ticks, unless their
				// reads were spaced out for cost and the buffer overflowed.
				vals, ms.Source = append(vals[:0], raw...), "nvml_samples"
			}
		}
		var edge *edgeValues
		if m.Profiling() {
			ms.Source = "gpm"
			if i < len(w.edges) {
				edge = &w.edges[i]
				if v, ok := edge.Get(m); ok {
					ms.WindowValue = &v
				}
			}
		}
		switch {
		case len(vals) > 0:
			ms.Stats = stats(vals)
		case ms.WindowValue != nil:
		case edge != nil && edge.why[m] != "" && caps.Of(m).OK():
			ms.Unavailable = edge.why[m]
		default:
			ms.Unavailable = unavailableReason(caps.Of(m))
		}
		if ms.Unavailable != "" {
			ms.Source = ""
		}
		ds.Metrics[m.Name()] = ms
	}
	ds.Energy = energy(i, caps, w)
	ds.Throttle = throttle(i, caps, w)
	switch c := caps[CapECC]; {
	case !c.OK():
		ds.ECC.Unavailable = unavailableReason(c)
	case !w.ecc0[i].ok || !w.ecc1[i].ok:
		ds.ECC.Unavailable = "no reading at the window's edges"
	default:
		// Volatile counters reset only with the driver; a decrease means
		// that happened, and the count since is the new total.
		ds.ECC.Corrected = counterDelta(w.ecc0[i].corrected, w.ecc1[i].corrected)
		ds.ECC.Uncorrected = counterDelta(w.ecc0[i].uncorrected, w.ecc1[i].uncorrected)
	}
	if c := caps[CapXID]; !c.OK() {
		ds.XID.Unavailable = unavailableReason(c)
	} else {
		ds.XID.Events = w.xids[i]
	}
	return ds
}

func unavailableReason(c Capability) string {
	if c.OK() {
		return "no readings in the window"
	}
	if c.Status == "" {
		return "not probed"
	}
	return c.Reason()
}

func counterDelta(a, b uint64) uint64 {
	if b >= a {
		return b - a
	}
	return b
}

// energy differences the energy counter over the window, or integrates
// power where there is no counter.
func energy(i int, caps Capabilities, w *window) EnergySummary {
	var e EnergySummary
	secs := float64(w.end-w.start) / 1e9
	var prev uint64
	var prevAt int64
	have := false
	var mj float64
	for _, t := range w.ticks {
		r := &t.devs[i]
		if !r.Has(Energy) {
			continue
		}
		if have {
			switch cur := r.EnergyMJ; {
			case cur >= prev:
				mj += float64(cur - prev)
			default:
				// A decrease: a wrap past 2^64 if the modular difference is
				// a plausible amount of energy for the time passed, else a
				// reset (driver reload) from which the counter restarted at 0.
				mod := cur - prev // modular arithmetic
				dt := float64(t.at-prevAt)/1e9 + 1
				if float64(mod) <= maxPlausibleW*1000*dt {
					mj += float64(mod)
					e.CounterWraps++
				} else {
					mj += float64(cur)
					e.CounterResets++
				}
			}
		}
		prev, prevAt, have = r.EnergyMJ, t.at, true
	}
	if have && caps.Of(Energy).OK() {
		e.Source, e.Joules = "counter", mj/1000
	} else {
		// Trapezoids between consecutive power readings.
		var j float64
		var pw float64
		var pat int64
		n := 0
		for _, t := range w.ticks {
			v, ok := t.devs[i].Get(Power)
			if !ok {
				continue
			}
			if n > 0 {
				j += (v + pw) / 2 * float64(t.at-pat) / 1e9
			}
			pw, pat = v, t.at
			n++
		}
		if n < 2 {
			why := unavailableReason(caps.Of(Energy))
			if !caps.Of(Power).OK() {
				why = "energy " + why + "; power " + unavailableReason(caps.Of(Power))
			}
			return EnergySummary{Unavailable: why}
		}
		e.Source, e.Joules = "power_integral", j
	}
	if secs > 0 {
		e.MeanPowerW = e.Joules / secs
	}
	return e
}

// throttle accounts each clock-event reason's share of the window: a
// reading holds from its tick to the next one.
func throttle(i int, caps Capabilities, w *window) ThrottleSummary {
	var ts ThrottleSummary
	var total, throttled int64
	active := map[uint64]int64{}
	for k, t := range w.ticks {
		r := &t.devs[i]
		if !r.Has(ClockEvents) || k+1 >= len(w.ticks) {
			continue
		}
		d := w.ticks[k+1].at - t.at
		total += d
		for _, cr := range ClockEventReasons {
			if r.Reasons&cr.Bit != 0 {
				active[cr.Bit] += d
			}
		}
		if r.Reasons&^uint64(reasonIdle|0x2) != 0 {
			throttled += d
		}
	}
	if total == 0 {
		ts.Unavailable = unavailableReason(caps.Of(ClockEvents))
		if caps.Of(ClockEvents).OK() {
			ts.Unavailable = "fewer than two readings in the window"
		}
		return ts
	}
	for _, cr := range ClockEventReasons {
		if d := active[cr.Bit]; d > 0 {
			ts.Reasons = append(ts.Reasons, ReasonShare{Reason: cr.Name, Bit: cr.Bit, SharePct: 100 * float64(d) / float64(total)})
		}
	}
	ts.ThrottledPct = 100 * float64(throttled) / float64(total)
	return ts
}

func summarizeHost(w *window) HostSummary {
	var h HostSummary
	if !w.cpuOK {
		h.Unavailable = "no /proc/stat"
	} else {
		st, ok1 := shareOf(w, func(c cpuTimes) uint64 { return c.Steal })
		io, ok2 := shareOf(w, func(c cpuTimes) uint64 { return c.IOWait })
		if ok1 && ok2 {
			h.StealPct, h.IOWaitPct = st, io
		} else {
			h.Unavailable = "no CPU ticks passed in the window"
		}
		var per []float64
		for _, t := range w.ticks {
			if t.hostOK {
				per = append(per, t.steal)
			}
		}
		if len(per) > 0 {
			h.StealTick = stats(per)
		}
	}
	if w.selfOK {
		h.AgentCPUUserNs = int64(w.self1.User - w.self0.User)
		h.AgentCPUSysNs = int64(w.self1.System - w.self0.System)
		if d := w.end - w.start; d > 0 {
			h.AgentCPUPct = 100 * float64(h.AgentCPUUserNs+h.AgentCPUSysNs) / float64(d)
		}
	}
	return h
}

// stats computes Stats over vals (reordered in place).
func stats(vals []float64) *Stats {
	slices.Sort(vals)
	var sum float64
	for _, v := range vals {
		sum += v
	}
	n := len(vals)
	pct := func(p float64) float64 { return vals[min(int(math.Floor(float64(n)*p)), n-1)] }
	return &Stats{N: n, Mean: sum / float64(n), Min: vals[0], Max: vals[n-1], P5: pct(0.05), P95: pct(0.95)}
}

// PerSample sets each device's energy per inference sample, given the
// run's completed samples.
func (s *Summary) PerSample(samples uint64) {
	if s == nil || samples == 0 {
		return
	}
	for i := range s.Devices {
		if e := &s.Devices[i].Energy; e.Unavailable == "" {
			e.JoulesPerSample = e.Joules / float64(samples)
		}
	}
}
