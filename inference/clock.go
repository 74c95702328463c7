package inference

import (
	"runtime"
	"time"
	_ "unsafe" // for go:linkname
)

// nanotime is the runtime's monotonic clock (CLOCK_MONOTONIC on Linux) in
// nanoseconds. LoadGen uses CLOCK_REALTIME, which NTP and hypervisors can
// step in the middle of a run; a monotonic clock cannot be stepped, so a
// time-sync jump inside a VM never lands in a latency.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// spinWindow is how far ahead of a deadline waitUntil stops sleeping and
// starts spinning. Go's timers overshoot sub-millisecond sleeps by about a
// millisecond, so only a spin meets a deadline to within microseconds.
const spinWindow = 2 * time.Millisecond

// yieldEvery spaces the spin's yields. Yielding on every turn makes two
// spinning threads on a small VM stall each other for milliseconds; once
// every 10 µs leaves the other goroutines their turn without that.
const yieldEvery = 10 * time.Microsecond

// waitUntil returns at or just after the monotonic instant deadline, or
// early when stop is closed. It sleeps while the deadline is far and spins
// for the last spinWindow, yielding the processor every yieldEvery.
func waitUntil(deadline int64, stop <-chan struct{}) bool {
	lastYield := nanotime()
	for {
		now := nanotime()
		left := deadline - now
		if left <= 0 {
			return true
		}
		if left > int64(spinWindow) {
			t := time.NewTimer(time.Duration(left) - spinWindow)
			select {
			case <-t.C:
			case <-stop:
				t.Stop()
				return false
			}
			continue
		}
		if now-lastYield >= int64(yieldEvery) {
			select {
			case <-stop:
				return false
			default:
			}
			runtime.Gosched()
			lastYield = nanotime()
		}
	}
}
