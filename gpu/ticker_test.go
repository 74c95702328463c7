package gpu

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// The ticker in fake time: a tick at the start, one per interval, missed
// ticks counted when a tick overruns, and the end delivered once.
func TestWindowTicker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		origin := time.Now()
		clock := func() int64 { return int64(time.Since(origin)) }
		const iv = 100 * time.Millisecond
		var mu sync.Mutex // protects the slices
		var opened, ticks, ends []int64
		missed := 0
		wt := &windowTicker{interval: iv, clock: clock, tickAtStart: true,
			open: func(at int64) { mu.Lock(); opened = append(opened, at); mu.Unlock() },
			tick: func(at int64, m int) {
				mu.Lock()
				ticks = append(ticks, at)
				missed += m
				n := len(ticks)
				mu.Unlock()
				if n == 3 {
					time.Sleep(3 * iv) // an overrun
				}
			},
			end: func(at int64) { mu.Lock(); ends = append(ends, at); mu.Unlock() },
		}
		wt.window(true, 0)
		time.Sleep(10 * iv)
		wt.window(false, clock())
		wt.window(false, clock()) // no window open: nothing happens
		wt.close()
		mu.Lock()
		if len(opened) != 1 || len(ends) != 1 || ends[0] != int64(10*iv) {
			t.Errorf("opened %v, ended %v; want one window ending at %d", opened, ends, int64(10*iv))
		}
		if len(ticks) < 6 || ticks[0] != 0 || ticks[1] != int64(iv) {
			t.Errorf("ticks at %v; want one at the start, then every interval", ticks)
		}
		if missed < 1 {
			t.Errorf("missed = %d; want the overrun's dropped ticks counted", missed)
		}
		mu.Unlock()

		// Close ends a window left open at the clock's now.
		wt.window(true, clock())
		time.Sleep(iv / 2)
		wt.close()
		mu.Lock()
		defer mu.Unlock()
		if len(opened) != 2 || len(ends) != 2 || ends[1] != clock() {
			t.Errorf("after close: opened %v, ended %v", opened, ends)
		}
	})
}
