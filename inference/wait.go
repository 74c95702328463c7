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
	// MinSleepNs is the CPU one sleep costs, measured before the first
	// arrival. SpinBelowNs: a wait up to this long spins instead of
	// sleeping, since the sleep (MinSleepNs, and the spin left after it
	// wakes) would cost more; arrivals this close share one wake-up. At
	// least the margin; zero for never.
	MinSleepNs  int64 `json:"min_sleep_ns"`
	SpinBelowNs int64 `json:"spin_below_ns"`
	// SleepOvershoot is how late each sleep woke past the instant it asked
	// for, calibration included: the host's timer precision under load.
	SleepOvershoot Quantiles `json:"sleep_overshoot"`
	// Sleeps counts the sleeps; SpinNs is the time spent spinning.
	Sleeps uint64 `json:"sleeps"`
	SpinNs int64  `json:"spin_ns"`
	// ThreadCPUPct is the issuing goroutine's own CPU time over the
	// issue loop (read on its thread between yields) as a share of one
	// core; -1 for always, which yields too often to read it, or where it
	// cannot be measured.
	ThreadCPUPct float64 `json:"issue_thread_cpu_percent"`
}

// Tuning of auto, chosen with BenchmarkWaiter (BENCHMARKS.md).
const (
	// marginQuantile of the recent overshoots is the margin: the share of
	// sleeps that wake before the margin ends.
	marginQuantile = 0.9
	// spinBudget caps the spin after each sleep at this share of a core
	// (the waits too short to sleep through are spun besides).
	spinBudget = 0.01
	// maxMargin bounds the margin on a host whose timer is very coarse.
	maxMargin = int64(2 * time.Millisecond)
	// maxSleep bounds one sleep so cancellation is seen promptly.
	maxSleep = int64(20 * time.Millisecond)
	// calibrationSleeps sleeps of 100 to 250 µs open a run: about 6 ms.
	calibrationSleeps = 32
	// window is how many recent overshoots the margin is taken from, and
	// refresh how often (in sleeps) it is taken.
	window  = 128
	refresh = 16
	// idleYieldEvery spaces the waiting thread's yields while nothing is
	// outstanding: well under the runtime's 10 ms preemption slice.
	idleYieldEvery = int64(4 * time.Millisecond)
	// busySpinYieldEvery spaces the yields of a spin while a query is
	// outstanding.
	busySpinYieldEvery = int64(100 * time.Microsecond)
	// tickEvery spaces a saturated loop's CPU readings.
	tickEvery = int64(10 * time.Millisecond)
)

// waiter waits for the Server schedule's arrivals under a policy. It is
// used by one goroutine and allocates nothing after begin.
//
// auto and never block their thread in a system call until an absolute
// instant (see sleeper), yielding the processor just before while a query
// is outstanding: the Go runtime leaves a processor with a thread blocked
// in a system call, so whatever the last issue woke (a backend's worker,
// queued on this processor) would otherwise wait out the sleep (1 to 2 ms
// at the median in BenchmarkSleepersHandoff, against 1 µs with the yield).
// Yields every few milliseconds besides keep the runtime from taking the
// processor away after 10 ms (see wait). The goroutine is not locked to
// its thread: a locked thread's yield hands the processor to another
// thread and back, 1 to 11 points of a core more at 5,000 QPS
// (BENCHMARKS.md).
type waiter struct {
	policy SpinPolicy
	rate   float64 // arrivals per second, for the spin budget
	// Tuning; newWaiter sets the constants above.
	quantile, budget float64

	sl    sleeper
	cpu   cpuMeter
	yield func() // runtime.Gosched; a test counts the yields

	margin, calMargin, marginMax, minSleep int64
	// spinBelow: a wait up to this long spins (see retune); zero for never.
	spinBelow int64
	yielded   int64 // when the thread last yielded

	recent    [window]int64
	sorted    [window]int64
	seen      uint64
	overshoot histogram
	sleeps    uint64
	spinNs    int64
}

func newWaiter(policy SpinPolicy, rate float64) *waiter {
	return &waiter{policy: policy.orAuto(), rate: rate, quantile: marginQuantile, budget: spinBudget, yield: runtime.Gosched}
}

// begin opens the sleeper and measures the host's sleep overshoot and the
// CPU one sleep costs (auto's minimum sleep), then starts metering the
// issuing goroutine's CPU.
func (w *waiter) begin() {
	if w.policy == SpinAlways {
		w.margin, w.calMargin, w.marginMax = int64(spinWindow), int64(spinWindow), int64(spinWindow)
		return
	}
	w.sl = openSleeper()
	var costs [calibrationSleeps]int64
	n := 0
	for i := range calibrationSleeps {
		// Lengths spread over 100..250 µs so the samples do not share a
		// phase with a periodic tick.
		t := nanotime() + int64(100*time.Microsecond) + int64(i*4703)%int64(150*time.Microsecond)
		tid0, c0, ok0 := threadTime()
		w.sl.until(t)
		w.observe(nanotime() - t)
		if tid1, c1, ok1 := threadTime(); ok0 && ok1 && tid1 == tid0 {
			costs[n] = c1 - c0
			n++
		}
	}
	if w.policy == SpinAuto && n > 0 {
		slices.Sort(costs[:n])
		w.minSleep = costs[n/2]
	}
	w.retune()
	w.calMargin = w.margin
	w.cpu.resume()
}

// end closes the sleeper.
func (w *waiter) end() {
	if w.policy == SpinAlways {
		return
	}
	w.cpu.pause()
	w.sl.close()
}

// wait returns at or just after the monotonic instant deadline, or false
// as soon as stop is closed. busy says a query is outstanding.
//
// Before it blocks, the thread yields its processor when a query is
// outstanding (a backend goroutine woken by an issue may be queued on this
// processor, and would wait out the sleep) and otherwise at least every
// idleYieldEvery. A yield wakes a second thread that finds nothing to do and
// sleeps again: before every sleep, that cost 5 to 6 points of a core at
// 5,000 QPS against an inline backend. Never yielding is worse: the
// runtime then sees one goroutine running for 10 ms, takes its processor
// in the middle of a sleep, and its monitor thread polls every 20 µs from
// then on (a quarter of the process's CPU in perf). BENCHMARKS.md has the
// figures.
func (w *waiter) wait(deadline int64, stop <-chan struct{}, busy bool) bool {
	if w.policy == SpinAlways {
		return waitUntil(deadline, stop)
	}
	for {
		now := nanotime()
		if deadline-now <= w.spinBelow {
			break
		}
		select {
		case <-stop:
			return false
		default:
		}
		if busy || now-w.yielded >= idleYieldEvery {
			w.cpu.pause()
			w.yield()
			w.cpu.resume()
			busy = false
			now = nanotime()
			w.yielded = now
			if deadline-now <= w.spinBelow {
				break
			}
		}
		t := min(deadline-w.margin, now+maxSleep)
		w.sl.until(t)
		w.observe(nanotime() - t)
	}
	if now := nanotime(); now < deadline {
		start := now
		for now < deadline {
			// Arrivals too close to sleep between can keep the thread
			// spinning from one to the next; what they woke still gets
			// this processor now and then.
			if busy && now-w.yielded >= busySpinYieldEvery {
				w.cpu.pause()
				w.yield()
				w.cpu.resume()
				w.yielded = nanotime()
			}
			now = nanotime()
		}
		w.spinNs += now - start
	}
	return true
}

// cpuMeter adds up the issuing goroutine's CPU time thread by thread: a
// goroutine that is not locked may move to another thread whenever it
// yields, so each stretch between yields is read on its own thread.
// A stretch in which the runtime moved it anyway is left out.
// The share is the CPU over the wall time of the stretches counted.
type cpuMeter struct {
	tid              int
	at, since        int64 // thread CPU and wall clock at resume
	total, totalWall int64
	running          bool
}

func (m *cpuMeter) resume() {
	m.tid, m.at, m.running = threadTime()
	m.since = nanotime()
}

func (m *cpuMeter) pause() {
	if !m.running {
		return
	}
	m.running = false
	tid, at, ok := threadTime()
	if ok && tid == m.tid && at >= m.at {
		m.total += at - m.at
		m.totalWall += nanotime() - m.since
	}
}

// tick closes the stretch and opens the next every tickEvery: a loop that
// never waits (a saturated generator) calls it now and then, so a move to
// another thread loses one stretch, not the whole run. Reading the thread's
// CPU is a system call; at 6 M QPS doing it every 1,024 queries cost the
// ceiling.
func (w *waiter) tick(now int64) {
	if w.policy != SpinAlways && now-w.cpu.since >= tickEvery {
		w.cpu.pause()
		w.cpu.resume()
	}
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
// or less where spinning through it would cost more than the spin budget
// (the spin after each sleep, averaged over the window). It also sets the
// break-even below which a wait spins rather than sleeps: a sleep costs
// minSleep of CPU plus the spin left after it wakes (the margin less the
// overshoot, on average over the window), and a spin costs its length.
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
	q := s[min(int(float64(n)*w.quantile), n-1)]
	m := q
	// The spin a margin m costs per arrival is the mean over the window of
	// m-o for the overshoots o below m. With the k smallest below it, that
	// is (k·m - their sum)/n, so the m at which it meets the budget solves
	// a linear equation between consecutive overshoots.
	perArrival := w.budget / w.rate * 1e9
	var sum float64
	for k, o := range s {
		if o >= q {
			break
		}
		sum += float64(o)
		next := q
		if k+1 < n {
			next = min(q, s[k+1])
		}
		if at := (perArrival*float64(n) + sum) / float64(k+1); at < float64(next) {
			m = int64(at)
			break
		}
	}
	w.margin = max(0, min(m, maxMargin))
	w.marginMax = max(w.marginMax, w.margin)
	var left int64
	for _, o := range s {
		if o >= w.margin {
			break
		}
		left += w.margin - o
	}
	// Within the margin there is no instant left to sleep until.
	w.spinBelow = max(w.margin, w.minSleep+left/int64(n))
}

// health reports how the run waited.
func (w *waiter) health() *WaitHealth {
	h := &WaitHealth{
		Spin: w.policy, Sleeper: w.sl.name,
		CalibratedMarginNs: w.calMargin, MarginNs: w.margin, MarginMaxNs: w.marginMax, MinSleepNs: w.minSleep, SpinBelowNs: w.spinBelow,
		SleepOvershoot: w.overshoot.summary(), Sleeps: w.sleeps, SpinNs: w.spinNs, ThreadCPUPct: -1,
	}
	if w.policy == SpinAlways {
		h.Sleeper = "Go timer until 2 ms before, then spin"
	}
	if w.policy != SpinAlways && w.cpu.totalWall > 0 {
		h.ThreadCPUPct = 100 * float64(w.cpu.total) / float64(w.cpu.totalWall)
	}
	return h
}
