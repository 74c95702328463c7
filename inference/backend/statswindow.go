package backend

import (
	"context"
	"sync"

	"github.com/gpuperf/gpuperf/inference"
)

// StatsWindow does the timing of an inference.ServerStatsReporter: it
// reads a server's cumulative statistics at a timed run's edges (the
// start's read in the background, because the generator calls the start
// edge on its own goroutine, which must not wait; the end's at once) and
// keeps the difference until the next Open. R is one read, its error
// included; diff turns the start's and the end's reads into statistics.
type StatsWindow[R any] struct {
	read func(context.Context) R
	diff func(start, end R) *inference.ServerStats

	// mu protects everything below; wg counts the start's read.
	mu     sync.Mutex
	ctx    context.Context // nil when closed
	cancel context.CancelFunc
	start  chan R // the open window's start read; nil when none is open
	stats  *inference.ServerStats
	wg     sync.WaitGroup
}

// NewStatsWindow returns a closed window reading with read.
func NewStatsWindow[R any](read func(context.Context) R, diff func(start, end R) *inference.ServerStats) *StatsWindow[R] {
	return &StatsWindow[R]{read: read, diff: diff}
}

// Open readies the window for the timed runs of one Start and forgets the
// last run's statistics. Reads run under ctx until Close.
func (w *StatsWindow[R]) Open(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ctx, w.cancel = context.WithCancel(ctx)
	w.start, w.stats = nil, nil
}

// Edge reads at a timed run's start or end; the end keeps the difference.
// It does nothing while the window is closed, or at an end without a
// start.
func (w *StatsWindow[R]) Edge(start bool) {
	w.mu.Lock()
	ctx := w.ctx
	if ctx == nil {
		w.mu.Unlock()
		return
	}
	if start {
		ch := make(chan R, 1)
		w.start = ch
		// Under mu, so Close, which closes under mu before it waits,
		// never waits while a read is being added.
		w.wg.Go(func() { ch <- w.read(ctx) })
		w.mu.Unlock()
		return
	}
	first := w.start
	w.start = nil
	w.mu.Unlock()
	if first == nil {
		return
	}
	end := w.read(ctx)
	st := w.diff(<-first, end)
	w.mu.Lock()
	w.stats = st
	w.mu.Unlock()
}

// Stats returns what the server counted in the last timed run since
// Open, or nil.
func (w *StatsWindow[R]) Stats() *inference.ServerStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Close cancels a read still running and waits for it; the statistics
// stay until the next Open.
func (w *StatsWindow[R]) Close() {
	w.mu.Lock()
	if w.cancel != nil {
		w.cancel()
	}
	w.ctx, w.cancel, w.start = nil, nil, nil
	w.mu.Unlock()
	w.wg.Wait()
}
