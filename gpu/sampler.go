package gpu

import (
	"log/slog"
	"sync"
	"time"

	"github.com/gpuperf/gpuperf/internal/procstat"
)

// DefaultInterval is the sampler's default tick.
const DefaultInterval = 100 * time.Millisecond

// SamplerConfig configures a Sampler.
type SamplerConfig struct {
	// Interval between ticks; 0 is DefaultInterval.
	Interval time.Duration
	// Clock is the load generator's monotonic clock in ns (inference.Now),
	// so sample times line up with the run's own; nil uses the process's
	// monotonic clock.
	Clock func() int64
	// ProcStat is the /proc/stat path for CPU steal and iowait; "" is
	// /proc/stat.
	ProcStat string
	Logger   *slog.Logger
}

// Sampler samples every device and the host's CPU steal inside one
// measurement window at a time. Window starts and ends it; the last window
// is what Summary and WriteCSV describe.
type Sampler struct {
	n   *NVML
	cfg SamplerConfig
	wt  *windowTicker // runs the window's goroutine

	mu      sync.Mutex // protects everything below and the series
	readers []deviceReader
	w       *window
}

// window is one measurement window's series.
type window struct {
	start, end int64 // generator clock
	ended      bool
	ticks      []tick
	raw        []utilSamples // per device
	xids       [][]XIDEvent  // per device
	overruns   int
	// edges of the window
	edges        []edgeValues // per device, GPM
	ecc0, ecc1   []eccTotals
	cpu0, cpu1   procstat.CPU
	cpuOK        bool
	self0, self1 procstat.Self
	selfOK       bool
	prevCPU      procstat.CPU
	prevCPUAt    int64 // since the start
	prevCPUOK    bool
	// the sampler's own cost
	busyNs      int64
	threadCPUNs int64
	threadCPUOK bool
}

type eccTotals struct {
	corrected, uncorrected uint64
	ok                     bool
}

// tick is one sampling instant.
type tick struct {
	at   int64 // ns since the window's start
	devs []Reading
	// host CPU shares since the previous tick, in percent
	steal, iowait float64
	hostOK        bool
}

// XIDEvent is one XID error seen during the window.
type XIDEvent struct {
	AtNs int64  `json:"at_ns"` // since the window's start
	XID  uint64 `json:"xid"`
}

// NewSampler returns an idle sampler over n's devices. With no NVML it
// still samples the host's CPU steal and iowait.
func (n *NVML) NewSampler(cfg SamplerConfig) *Sampler {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Clock == nil {
		origin := time.Now()
		cfg.Clock = func() int64 { return int64(time.Since(origin)) }
	}
	if cfg.ProcStat == "" {
		cfg.ProcStat = "/proc/stat"
	}
	if cfg.Logger == nil {
		cfg.Logger = n.log
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sampler{n: n, cfg: cfg}
	s.wt = &windowTicker{
		interval: cfg.Interval, clock: cfg.Clock, tickAtStart: true,
		open: func(at int64) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.begin(at)
		},
		tick: s.tick,
		end:  s.timedFinish,
	}
	for _, d := range n.devs {
		s.readers = append(s.readers, d.newReader())
	}
	return s
}

// Interval is the sampler's tick.
func (s *Sampler) Interval() time.Duration { return s.cfg.Interval }

// Window starts (start true) or ends the measurement window at instant at
// of the generator's clock. It matches inference.Config.Window. A start
// returns at once (the first sample is taken by the sampler's goroutine); an
// end waits for the goroutine's last sample. A new start discards the
// previous window, so after a peak search the confirmation run remains.
func (s *Sampler) Window(start bool, at int64) { s.wt.window(start, at) }

// Close ends a window left open (a run that failed inside it), taking its
// end as now.
func (s *Sampler) Close() { s.wt.close() }

// tick takes one sample at instant at, for the window's goroutine.
func (s *Sampler) tick(at int64, missed int) {
	if missed > 0 {
		s.mu.Lock()
		s.w.overruns += missed
		s.mu.Unlock()
	}
	s.timed(at)
}

// timed takes one sample at instant at, counting the time and CPU it
// took.
func (s *Sampler) timed(at int64) { s.measure(func() { s.sample(at) }) }

// timedFinish takes the last sample and closes the window.
func (s *Sampler) timedFinish(end int64) { s.measure(func() { s.finish(end) }) }

// measure runs f with mu held, adding its wall and CPU time to the
// window's. The goroutine is locked to its thread meanwhile, so the
// thread's CPU clock counts f's work alone (NVML's cgo calls included).
func (s *Sampler) measure(f func()) {
	lockThread()
	defer unlockThread()
	c0, ok0 := threadCPU()
	t0 := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
	s.w.busyNs += int64(time.Since(t0))
	if c1, ok1 := threadCPU(); ok0 && ok1 {
		s.w.threadCPUNs += int64(c1 - c0)
		s.w.threadCPUOK = true
	}
}

// begin opens a window at instant at: baselines for the counters that are
// differenced over it. Called with mu held.
func (s *Sampler) begin(at int64) {
	w := &window{start: at, raw: make([]utilSamples, len(s.n.devs)), xids: make([][]XIDEvent, len(s.n.devs))}
	s.w = w
	for _, r := range s.readers {
		r.prime()
	}
	if s.n.xid != nil {
		// Events from before the window are not the window's.
		s.n.xid.drain(func(int, uint64) {})
	}
	w.ecc0 = s.eccAll()
	if c, err := procstat.ReadCPU(s.cfg.ProcStat); err == nil {
		w.cpu0, w.prevCPU, w.cpuOK, w.prevCPUOK = c, c, true, true
	} else {
		s.cfg.Logger.Debug("telemetry: no host CPU times", "err", err)
	}
	if self, err := procstat.ReadSelf(); err == nil {
		w.self0, w.selfOK = self, true
	}
}

// sample reads every device and the host at instant at. Called with mu
// held.
func (s *Sampler) sample(at int64) { s.sampleAt(at, false) }

// hostEvery spaces the host CPU readings.
const hostEvery = int64(time.Second)

// sampleAt reads every device, and the host's CPU when a second has
// passed or final is set. Called with mu held.
func (s *Sampler) sampleAt(at int64, final bool) {
	w := s.w
	tk := tick{at: at - w.start, devs: make([]Reading, len(s.readers))}
	for i, r := range s.readers {
		r.read(at, final, &tk.devs[i], &w.raw[i])
	}
	if s.n.xid != nil {
		s.n.xid.drain(func(dev int, xid uint64) {
			if dev >= 0 && dev < len(w.xids) {
				w.xids[dev] = append(w.xids[dev], XIDEvent{AtNs: tk.at, XID: xid})
			}
		})
	}
	// /proc/stat is the costliest read of a tick and counts in 10 ms
	// ticks: once a second is as fine as it resolves.
	if w.prevCPUOK && (tk.at-w.prevCPUAt >= hostEvery || final) {
		if c, err := procstat.ReadCPU(s.cfg.ProcStat); err == nil {
			st, ok1 := procstat.Share(w.prevCPU, c, func(c procstat.CPU) uint64 { return c.Steal })
			io, ok2 := procstat.Share(w.prevCPU, c, func(c procstat.CPU) uint64 { return c.IOWait })
			if ok1 && ok2 {
				tk.steal, tk.iowait, tk.hostOK = st, io, true
				w.prevCPU = c
			}
			// Without a clock tick since, the next share spans both.
			w.prevCPUAt = tk.at
		}
	}
	w.ticks = append(w.ticks, tk)
}

// finish takes the last sample at the window's end and reads the closing
// counters. Called with mu held.
func (s *Sampler) finish(at int64) {
	w := s.w
	s.sampleAt(at, true)
	w.end, w.ended = at, true
	w.edges = make([]edgeValues, len(s.readers))
	for i, r := range s.readers {
		w.edges[i] = r.end()
	}
	w.ecc1 = s.eccAll()
	if w.cpuOK {
		if c, err := procstat.ReadCPU(s.cfg.ProcStat); err == nil {
			w.cpu1 = c
		} else {
			w.cpuOK = false
		}
	}
	if w.selfOK {
		if self, err := procstat.ReadSelf(); err == nil {
			w.self1 = self
		} else {
			w.selfOK = false
		}
	}
}

func (s *Sampler) eccAll() []eccTotals {
	out := make([]eccTotals, len(s.n.devs))
	for i, d := range s.n.devs {
		c, u, ok := d.ecc()
		out[i] = eccTotals{c, u, ok}
	}
	return out
}
