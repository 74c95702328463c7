package inference

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// SpinPolicy says how the Server generator waits for each scheduled
// arrival: the trade between issuing on time and the CPU it takes from
// the system it measures.
type SpinPolicy string

// The policies. The empty policy is auto.
const (
	// SpinAuto sleeps until a margin before each arrival, the margin
	// being the host's measured sleep overshoot (kept under a CPU
	// budget), and spins only inside it.
	SpinAuto SpinPolicy = "auto"
	// SpinAlways spins for the last 2 ms before every arrival (gpuperf's
	// generator before --spin existed): the lowest issue delay at the cost
	// of a core above a few hundred QPS.
	SpinAlways SpinPolicy = "always"
	// SpinNever sleeps until each arrival and never spins: the least CPU,
	// and the timer's overshoot lands in the issue delay.
	SpinNever SpinPolicy = "never"
)

// ParseSpinPolicy checks a policy name; "" is auto.
func ParseSpinPolicy(v string) (SpinPolicy, error) {
	switch p := SpinPolicy(strings.ToLower(strings.TrimSpace(v))); p {
	case "", SpinAuto:
		return SpinAuto, nil
	case SpinAlways, SpinNever:
		return p, nil
	}
	return "", fmt.Errorf("unknown spin policy %q (want auto, always or never)", v)
}

// orAuto is the policy that runs: the empty policy is auto.
func (p SpinPolicy) orAuto() SpinPolicy {
	if p == "" {
		return SpinAuto
	}
	return p
}

// WaitHealth is how the Server generator waited for its arrivals.
type WaitHealth struct {
	// Spin is the policy that ran; Sleeper the way it slept.
	Spin    SpinPolicy `json:"spin"`
	Sleeper string     `json:"sleeper"`
	// CalibratedMarginNs is the spin margin measured before the first
	// arrival; MarginNs the margin at the end, MarginMaxNs the largest it
	// was. Zero for never, 2 ms for always.
	CalibratedMarginNs int64 `json:"calibrated_margin_ns"`
	MarginNs           int64 `json:"margin_ns"`
	MarginMaxNs        int64 `json:"margin_max_ns"`
	// MinSleepNs: a wait shorter than this (past the margin) spins instead
	// of sleeping, since the sleep costs more CPU than the spin; this is how
	// arrivals close together share one wake-up.
	MinSleepNs int64 `json:"min_sleep_ns"`
	// SleepOvershoot is how late each sleep woke past the instant it asked
	// for, calibration included: the host's timer precision under load.
	SleepOvershoot Quantiles `json:"sleep_overshoot"`
	// Sleeps counts the sleeps; SpinNs is the time spent spinning.
	Sleeps uint64 `json:"sleeps"`
	SpinNs int64  `json:"spin_ns"`
	// ThreadCPUPct is the issuing thread's own CPU time over the issue
	// loop as a share of one core; -1 where the thread is not locked
	// (always) or cannot be measured.
	ThreadCPUPct float64 `json:"issue_thread_cpu_percent"`
}

// Tuning of auto, chosen with BenchmarkWaiter (BENCHMARKS.md).
const (
	// marginQuantile of the recent overshoots is the margin: the share of
	// sleeps that wake before the margin ends.
	marginQuantile = 0.9
	// spinBudget caps the spin at this share of a core: the margin stays
	// within spinBudget/rate of the median overshoot.
	spinBudget = 0.05
	// maxMargin bounds the margin on a host whose timer is very coarse.
	maxMargin = int64(2 * time.Millisecond)
	// maxSleep bounds one sleep so cancellation is seen promptly.
	maxSleep = int64(20 * time.Millisecond)
	// yieldAfter: a locked thread that never yields looks stuck to the Go
	// runtime, which then takes its processor away on every system call
	// after 10 ms and polls every 20 µs for a while (about 10% of a core
	// at 5,000 sleeps a second). A yield that often keeps it quiet.
	yieldAfter = int64(4 * time.Millisecond)
	// yieldRoom is the least time left before the wake-up instant for a
	// yield, which hands the thread's processor away and back (about
	// 12 µs p50, 26 µs p99 on the development VM).
	yieldRoom = int64(300 * time.Microsecond)
	// calibrationSleeps sleeps of 100 to 250 µs open a run: about 6 ms.
	calibrationSleeps = 32
	// window is how many recent overshoots the margin is taken from, and
	// refresh how often (in sleeps) it is taken.
	window  = 128
	refresh = 16
)

// waiter waits for the Server schedule's arrivals under a policy. It is
// used by one goroutine, allocates nothing after newWaiter, and owns the
// OS thread it locks from begin to end.
type waiter struct {
	policy SpinPolicy
	rate   float64 // arrivals per second, for the spin budget
	// Tuning; newWaiter sets the constants above.
	quantile, budget float64

	locked   bool
	slack    int   // the thread's timer slack before begin; -1 when unset
	cpu0     int64 // thread CPU at the loop's start
	cpuNs    int64 // thread CPU over the loop
	cpuOK    bool
	loopWall int64

	margin, calMargin, marginMax, minSleep int64
	lastYield                              int64

	recent    [window]int64
	sorted    [window]int64
	seen      uint64
	overshoot histogram
	sleeps    uint64
	spinNs    int64
}

func newWaiter(policy SpinPolicy, rate float64) *waiter {
	return &waiter{policy: policy.orAuto(), rate: rate, quantile: marginQuantile, budget: spinBudget, slack: -1}
}

// begin prepares the calling goroutine's thread (auto and never: locked,
// timer slack 1 ns) and measures the host's sleep overshoot and the CPU
// cost of a sleep.
func (w *waiter) begin() {
	if w.policy == SpinAlways {
		w.margin, w.calMargin, w.marginMax = int64(spinWindow), int64(spinWindow), int64(spinWindow)
		return
	}
	runtime.LockOSThread()
	w.locked = true
	w.slack = tightenTimerSlack()
	c0, ok0 := threadCPU()
	const sleeps = calibrationSleeps
	for i := range sleeps {
		// Lengths spread over 100..250 µs so the samples do not share a
		// phase with a periodic tick.
		t := nanotime() + int64(100*time.Microsecond) + int64(i*4703)%int64(150*time.Microsecond)
		sleepUntil(t)
		w.observe(nanotime() - t)
	}
	if c1, ok1 := threadCPU(); ok0 && ok1 && w.policy == SpinAuto {
		w.minSleep = (c1 - c0) / sleeps
	}
	w.retune()
	w.calMargin = w.margin
	w.lastYield = nanotime()
	w.cpu0, w.cpuOK = threadCPU()
}

// end restores the thread and records the loop's wall time for the CPU
// share.
func (w *waiter) end(loopWall int64) {
	w.loopWall = loopWall
	if !w.locked {
		return
	}
	c1, ok := threadCPU()
	w.cpuNs, w.cpuOK = c1-w.cpu0, ok && w.cpuOK
	if w.slack >= 0 {
		restoreTimerSlack(w.slack)
	}
	runtime.UnlockOSThread()
	w.locked = false
}

// wait returns at or just after the monotonic instant deadline, or false
// as soon as stop is closed.
func (w *waiter) wait(deadline int64, stop <-chan struct{}) bool {
	if w.policy == SpinAlways {
		return waitUntil(deadline, stop)
	}
	for {
		now := nanotime()
		target := deadline - w.margin
		left := target - now
		if left <= w.minSleep {
			break
		}
		select {
		case <-stop:
			return false
		default:
		}
		if now-w.lastYield >= yieldAfter && left >= yieldRoom {
			runtime.Gosched()
			w.lastYield = nanotime()
			continue
		}
		t := min(target, now+maxSleep)
		sleepUntil(t)
		w.observe(nanotime() - t)
	}
	if now := nanotime(); now < deadline {
		for nanotime() < deadline {
		}
		w.spinNs += nanotime() - now
	}
	return true
}

// observe records one sleep's overshoot and retunes the margin every
// refresh sleeps.
func (w *waiter) observe(over int64) {
	w.overshoot.record(over)
	w.recent[w.seen%window] = over
	w.seen++
	w.sleeps++
	if w.seen%refresh == 0 {
		w.retune()
	}
}

// retune sets auto's margin from the recent overshoots: their quantile,
// but no more than the spin budget above their median.
func (w *waiter) retune() {
	if w.policy != SpinAuto {
		return
	}
	n := int(min(w.seen, window))
	if n == 0 {
		return
	}
	s := w.sorted[:n]
	copy(s, w.recent[:n])
	slices.Sort(s)
	m := s[min(int(float64(n)*w.quantile), n-1)]
	if cap := w.budget / w.rate * 1e9; cap < float64(maxMargin) {
		m = min(m, s[n/2]+int64(cap))
	}
	w.margin = max(0, min(m, maxMargin))
	w.marginMax = max(w.marginMax, w.margin)
}

// health reports how the run waited.
func (w *waiter) health() *WaitHealth {
	h := &WaitHealth{
		Spin: w.policy, Sleeper: sleeperName,
		CalibratedMarginNs: w.calMargin, MarginNs: w.margin, MarginMaxNs: w.marginMax, MinSleepNs: w.minSleep,
		SleepOvershoot: w.overshoot.summary(), Sleeps: w.sleeps, SpinNs: w.spinNs, ThreadCPUPct: -1,
	}
	if w.policy == SpinAlways {
		h.Sleeper = "Go timer until 2 ms before, then spin"
	}
	if w.policy != SpinAlways && w.cpuOK && w.loopWall > 0 {
		h.ThreadCPUPct = 100 * float64(w.cpuNs) / float64(w.loopWall)
	}
	return h
}
