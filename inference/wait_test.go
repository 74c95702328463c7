package inference

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseSpinPolicy(t *testing.T) {
	for in, want := range map[string]SpinPolicy{"": SpinAuto, "auto": SpinAuto, " Always ": SpinAlways, "never": SpinNever} {
		if got, err := ParseSpinPolicy(in); err != nil || got != want {
			t.Errorf("ParseSpinPolicy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseSpinPolicy("sometimes"); err == nil || !strings.Contains(err.Error(), "auto, always or never") {
		t.Errorf("ParseSpinPolicy(sometimes): %v", err)
	}
	s := DefaultTestSettings()
	if s.GeneratorSpin != SpinAuto {
		t.Errorf("default generator_spin %q, want auto", s.GeneratorSpin)
	}
	s.GeneratorSpin = "sometimes"
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "generator_spin") {
		t.Errorf("Validate with generator_spin sometimes: %v", err)
	}
}

// TestRetuneMargin: auto's margin is the quantile of the recent overshoots,
// lowered where the spin after each sleep would cost more than the budget,
// and within maxMargin; waits shorter than a sleep's cost spin.
func TestRetuneMargin(t *testing.T) {
	w := newWaiter(SpinAuto, 100)
	w.budget = 0.05 // 500 µs of spin per arrival at 100/s: the quantile binds
	for i := range 100 {
		w.observe(int64(i+1) * 1000) // 1..100 µs
	}
	w.retune()
	if w.margin != 91_000 { // quantile 0.9 of 1..100 µs
		t.Fatalf("margin %d ns, want 91000", w.margin)
	}
	// At 5,000/s the budget is 10 µs per arrival: the 45 overshoots of
	// 1..45 µs below a margin m cost (45m - 1035 µs)/100, which is 10 µs
	// at m = 45.222 µs.
	w.rate = 5000
	w.minSleep = 50_000
	w.retune()
	if w.margin != 45_222 {
		t.Fatalf("margin %d ns at 5,000/s, want the budget's 45222", w.margin)
	}
	var spin int64
	for i := range 100 {
		spin += max(0, w.margin-int64(i+1)*1000)
	}
	if spin/100 > 10_000 {
		t.Fatalf("margin %d spins %d ns per sleep, over the 10 µs budget", w.margin, spin/100)
	}
	// A sleep costs 50 µs plus the 10 µs spin after it: shorter waits spin.
	if w.spinBelow < 59_990 || w.spinBelow > 60_000 {
		t.Fatalf("spins waits under %d ns, want 60 µs", w.spinBelow)
	}
	if w.marginMax != 91_000 {
		t.Fatalf("largest margin %d, want 91000", w.marginMax)
	}
	// A timer that overshoots by 10 ms is spun no more than maxMargin.
	w.rate = 1
	for range window {
		w.observe(int64(10 * time.Millisecond))
	}
	if w.margin != maxMargin {
		t.Fatalf("margin %d, want the %d cap", w.margin, maxMargin)
	}
	// Only the recent window counts: a quiet spell brings it back down.
	for range window {
		w.observe(20_000)
	}
	if w.margin != 20_000 {
		t.Fatalf("margin %d after a quiet window, want 20000", w.margin)
	}
	n := newWaiter(SpinNever, 1000)
	n.observe(50_000)
	n.retune()
	if n.margin != 0 {
		t.Fatalf("never has margin %d", n.margin)
	}
}

// TestWaiterPolicies waits for a few instants under each policy: never
// sleeps and never spins, auto spins only inside its margin, and every
// wait returns at or after its instant.
func TestWaiterPolicies(t *testing.T) {
	for _, p := range []SpinPolicy{SpinAuto, SpinNever, SpinAlways} {
		t.Run(string(p), func(t *testing.T) {
			w := newWaiter(p, 2000)
			w.begin()
			start := nanotime()
			for i := 1; i <= 20; i++ {
				due := start + int64(i)*int64(500*time.Microsecond)
				if !w.wait(due, nil, i%2 == 0) {
					t.Fatal("wait returned false without a stop")
				}
				if now := nanotime(); now < due {
					t.Fatalf("returned %d ns before the instant", due-now)
				}
			}
			w.end()
			h := w.health()
			if h.Spin != p {
				t.Errorf("health says spin %q", h.Spin)
			}
			switch p {
			case SpinNever:
				if h.SpinNs != 0 || h.MarginNs != 0 || h.MinSleepNs != 0 {
					t.Errorf("never spun %d ns (margin %d, min sleep %d)", h.SpinNs, h.MarginNs, h.MinSleepNs)
				}
				if h.Sleeps < calibrationSleeps+1 {
					t.Errorf("never slept %d times", h.Sleeps)
				}
			case SpinAuto:
				if h.CalibratedMarginNs < 0 || h.MarginNs > maxMargin || h.Sleeps < calibrationSleeps {
					t.Errorf("auto: %+v", h)
				}
			case SpinAlways:
				if h.MarginNs != int64(spinWindow) || h.ThreadCPUPct != -1 {
					t.Errorf("always: %+v", h)
				}
			}
			if p != SpinAlways && runtime.GOOS == "linux" && !(h.ThreadCPUPct >= 0 && h.ThreadCPUPct <= 110) {
				t.Errorf("issuing thread CPU %v%%", h.ThreadCPUPct)
			}
			if p != SpinAlways && h.SleepOvershoot.Count != h.Sleeps {
				t.Errorf("%d overshoots for %d sleeps", h.SleepOvershoot.Count, h.Sleeps)
			}
		})
	}
}

// TestWaiterYieldsWhenBusy: the thread yields before every sleep while a
// query is outstanding, and otherwise only every idleYieldEvery.
func TestWaiterYieldsWhenBusy(t *testing.T) {
	for _, busy := range []bool{false, true} {
		w := newWaiter(SpinNever, 2000)
		yields := 0
		w.yield = func() { yields++; runtime.Gosched() }
		w.begin()
		start := nanotime()
		const waits = 20 // 2 ms apart: 40 ms in all
		for i := 1; i <= waits; i++ {
			w.wait(start+int64(i)*int64(2*time.Millisecond), nil, busy)
		}
		w.end()
		// A wait already past its instant (a late wake-up) does not sleep,
		// and one whose yield ran late may not either.
		if slept := int(w.sleeps) - calibrationSleeps; busy && (yields < slept || slept == 0) {
			t.Errorf("busy: %d yields for %d sleeps in %d waits, want one before each sleep", yields, slept, waits)
		}
		// One yield at the start and one per 4 ms: about 11 in 40 ms.
		if elapsed := nanotime() - start; !busy && int64(yields) > 1+elapsed/idleYieldEvery {
			t.Errorf("idle: %d yields in %s", yields, time.Duration(elapsed))
		}
	}
}

// TestWaiterStops: a stop ends a long wait within a sleep slice.
func TestWaiterStops(t *testing.T) {
	for _, p := range []SpinPolicy{SpinAuto, SpinNever} {
		w := newWaiter(p, 1)
		w.begin()
		stop := make(chan struct{})
		close(stop)
		t0 := time.Now()
		if w.wait(nanotime()+int64(time.Minute), stop, true) {
			t.Fatalf("%s: wait returned true after a stop", p)
		}
		if d := time.Since(t0); d > 10*time.Duration(maxSleep) {
			t.Fatalf("%s: stop took %s", p, d)
		}
		w.end()
	}
}

// TestWaitAllocatesNothing: the hot path allocates nothing.
func TestWaitAllocatesNothing(t *testing.T) {
	for _, p := range []SpinPolicy{SpinAuto, SpinNever} {
		w := newWaiter(p, 10000)
		w.begin()
		stop := make(chan struct{})
		allocs := testing.AllocsPerRun(200, func() {
			w.wait(nanotime()+int64(50*time.Microsecond), stop, true)
		})
		w.end()
		if allocs != 0 {
			t.Errorf("%s: %v allocations per wait", p, allocs)
		}
	}
}
