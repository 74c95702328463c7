package gpu

import (
	"sync"
	"time"
)

// windowTicker runs one measurement window at a time on a goroutine of its
// own, for Sampler and VGPUHostSampler, which keep only what they measure:
// open runs when a window starts, tick at its start (if tickAtStart) and
// then every interval, end with the end instant Window(false) delivers.
type windowTicker struct {
	interval time.Duration
	clock    func() int64 // the generator's clock, ns
	// open starts a window at instant at; it runs before the goroutine.
	open func(at int64)
	// tick samples at instant at; missed counts the ticks the ticker
	// dropped since the previous one because a tick took too long.
	tick        func(at int64, missed int)
	end         func(at int64)
	tickAtStart bool

	mu   sync.Mutex // protects stop and done
	stop chan int64 // the window's end instant, to the loop
	done chan struct{}
}

// window starts (start true) or ends the window at instant at. A start
// ends a window still open and returns at once; an end waits for the
// goroutine's last call, end.
func (t *windowTicker) window(start bool, at int64) {
	if start {
		t.close()
		t.mu.Lock()
		t.open(at)
		t.stop, t.done = make(chan int64, 1), make(chan struct{})
		stop, done := t.stop, t.done
		t.mu.Unlock()
		go t.loop(at, stop, done)
		return
	}
	t.mu.Lock()
	stop, done := t.stop, t.done
	t.stop, t.done = nil, nil
	t.mu.Unlock()
	if stop == nil {
		return
	}
	stop <- at
	<-done
}

// close ends a window left open, taking its end as now.
func (t *windowTicker) close() {
	t.mu.Lock()
	open := t.stop != nil
	t.mu.Unlock()
	if open {
		t.window(false, t.clock())
	}
}

// loop ticks every interval from the window's start until stop delivers
// the end instant, then calls end and closes done.
func (t *windowTicker) loop(start int64, stop <-chan int64, done chan<- struct{}) {
	defer close(done)
	if t.tickAtStart {
		t.tick(start, 0)
	}
	tk := time.NewTicker(t.interval)
	defer tk.Stop()
	iv := int64(t.interval)
	next := start + iv
	for {
		select {
		case end := <-stop:
			t.end(end)
			return
		case <-tk.C:
			now := t.clock()
			missed := 0
			if now-next >= iv {
				// The ticker dropped ticks: a tick took longer than the
				// interval.
				missed = int((now - next) / iv)
			}
			next = now + iv
			t.tick(now, missed)
		}
	}
}
