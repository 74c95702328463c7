package inference

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// LoadGen waits for outstanding samples forever. gpuperf guards against a
// dead backend instead, and sizes the guard from the run itself so that a
// healthy backend, however slow or however long its run, is never cut off:
//
//   - a stall: no sample completed for stallFactor × the run's expected
//     time per query (its expected latency, or its latency bound), and at
//     least drain_timeout_ms; a dead backend stops completing, a slow one
//     does not;
//   - a runaway: the wait has lasted limitFactor × the run's expected
//     duration (Offline: its query at the expected QPS; otherwise
//     min_duration), and at least drain_timeout_ms: a hint far off the
//     backend's rate, which a re-run with the observed rate fixes.
const (
	stallFactor = 10
	limitFactor = 10
)

// drainGuard bounds one wait for outstanding samples.
type drainGuard struct {
	stall time.Duration // the longest a wait may go without a completion
	limit time.Duration // the longest a wait may last at all
}

// drainEnd says how a wait ended.
type drainEnd int

const (
	drained   drainEnd = iota // everything completed
	stalled                   // no completion for the stall limit
	overLimit                 // the wait reached its overall limit
	cancelled                 // the run was cancelled (no grace)
)

// newDrainGuard derives the guard from the run's effective settings.
func newDrainGuard(s TestSettings, e EffectiveSettings) drainGuard {
	floor := time.Duration(s.DrainTimeoutMs) * time.Millisecond
	perQuery := time.Duration(0)
	expected := time.Duration(e.MinDurationMs) * time.Millisecond
	switch e.Scenario {
	case SingleStream, MultiStream:
		if e.TargetQPS > 0 {
			perQuery = time.Duration(1e9 / e.TargetQPS)
		}
	case Server:
		perQuery = time.Duration(e.TargetLatencyNs)
	case Offline:
		if e.TargetQPS > 0 {
			expected = time.Duration(float64(e.SamplesPerQuery) / e.TargetQPS * 1e9)
		}
	}
	return drainGuard{
		stall: max(floor, stallFactor*perQuery),
		limit: max(floor, limitFactor*expected, stallFactor*perQuery),
	}
}

// String words the guard for messages.
func (g drainGuard) String() string {
	if g.stall == g.limit {
		return fmt.Sprintf("%s drain limit", g.stall)
	}
	return fmt.Sprintf("drain limits (%s without a completion, %s in all)", g.stall, g.limit)
}

// describe says why a wait that did not drain ended.
func (g drainGuard) describe(end drainEnd) string {
	switch end {
	case stalled:
		return fmt.Sprintf("no sample completed for %s (the stall limit: the backend looks dead)", g.stall)
	case overLimit:
		return fmt.Sprintf("the drain reached its %s limit (%d× the run's expected duration): the backend is far slower than the run's hint", g.limit, limitFactor)
	case cancelled:
		return "the run was cancelled"
	}
	return "drained"
}

// wait waits for done, watching completed for progress. A cancelled ctx
// does not end the wait early when grace is set: the backend still gets the
// guard's time to return what it has, so the run ends quickly but whole.
func (g drainGuard) wait(ctx context.Context, done <-chan struct{}, completed *atomic.Uint64, grace bool) drainEnd {
	select {
	case <-done:
		return drained
	default:
	}
	tick := min(max(g.stall/20, time.Millisecond), 100*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	last, lastAt := completed.Load(), start
	ctxDone := ctx.Done()
	for {
		select {
		case <-done:
			return drained
		case <-ctxDone:
			if !grace {
				return cancelled
			}
			ctxDone = nil
		case now := <-t.C:
			if n := completed.Load(); n != last {
				last, lastAt = n, now
			}
			switch {
			case now.Sub(lastAt) >= g.stall:
				return stalled
			case now.Sub(start) >= g.limit:
				return overLimit
			}
		}
	}
}
