package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/gpuperf/gpuperf/inference"
)

// How the coordinator tells a live agent from a frozen or vanished one.
// An agent sends an event about once a second while it runs (its
// heartbeat); the watchdog fails a run that has heard nothing for the
// plan's watchdog (DefaultWatchdog). Keepalive pings find a connection
// that died without closing (a partition, a host gone): after
// keepaliveTime without a frame the coordinator pings, and a ping not
// answered within keepaliveTimeout closes the connection. So a frozen
// agent becomes a failed run within the watchdog of its last event, and a
// vanished one within keepaliveTime+keepaliveTimeout (25 s) or the
// watchdog, whichever is first; a run that goes on sending events but
// never ends is stopped at its deadline (runDeadline).
const (
	DefaultWatchdog  = 30 * time.Second
	MinWatchdog      = time.Second
	MaxWatchdog      = time.Hour
	keepaliveTime    = 15 * time.Second // the agent allows a ping every 10 s
	keepaliveTimeout = 10 * time.Second
)

// clientKeepalive is the dial option's keepalive.
var clientKeepalive = keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTimeout, PermitWithoutStream: true}

// Retries wait between attempts: backoffBase, doubling per attempt up to
// backoffMax, each drawn at random from its upper half (jitter), so that
// agents restarting together are not all asked again at one instant.
const (
	backoffBase = time.Second
	backoffMax  = 30 * time.Second
)

// backoff is the wait before attempt (1 for the first retry).
func backoff(attempt int) time.Duration {
	d := backoffBase
	for i := 1; i < attempt && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	return d/2 + rand.N(d/2+1)
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Deadline parts: a run may take ten times what its settings plan (a
// backend ten times slower than its hint still finishes), plus its
// warm-up and drain, plus time to prepare and summarize; a peak search
// gets that for each of its probes.
const (
	deadlineSlowdown = 10
	deadlineSlack    = 2 * time.Minute
	peakProbes       = 48
)

// runDeadline bounds one RunRequest, from its settings.
func runDeadline(s inference.TestSettings, findPeak bool) time.Duration {
	ms := func(v uint64) time.Duration { return time.Duration(v) * time.Millisecond }
	expected := ms(s.MinDurationMs)
	switch s.Scenario {
	case inference.Offline:
		expected = expected * 11 / 10
	case inference.Server:
		if s.ServerTargetQPS > 0 {
			expected = max(expected, time.Duration(float64(s.MinQueryCount)/s.ServerTargetQPS*1e9))
		}
	case inference.SingleStream:
		expected = max(expected, time.Duration(float64(s.MinQueryCount)*s.SingleStreamExpectedLatencyNs))
	case inference.MultiStream:
		expected = max(expected, time.Duration(float64(s.MinQueryCount)*s.MultiStreamExpectedLatencyNs))
	}
	if s.MaxDurationMs > 0 {
		expected = min(expected, ms(s.MaxDurationMs))
	}
	limit := ms(inference.MaxDurationMs)
	expected = min(max(expected, 0), limit)
	d := ms(s.WarmupMs) + deadlineSlowdown*expected + ms(s.DrainTimeoutMs) + deadlineSlack
	if findPeak {
		d *= peakProbes
	}
	return min(d, limit)
}

// frozenError is a run the watchdog stopped.
type frozenError struct {
	agent string
	quiet time.Duration
	state connectivity.State
}

func (e *frozenError) Error() string {
	if e.state != connectivity.Ready {
		return fmt.Sprintf("agent %s unreachable: no answer for %s (connection %s); the run was given up (watchdog)", e.agent, e.quiet, e.state)
	}
	return fmt.Sprintf("agent %s sent nothing for %s: frozen, or its host is; the run was given up (watchdog)", e.agent, e.quiet)
}

// deadlineError is a run stopped at its overall deadline.
type deadlineError struct {
	agent    string
	deadline time.Duration
}

func (e *deadlineError) Error() string {
	return fmt.Sprintf("agent %s: the run did not end within %s, ten times what its settings plan plus warm-up, drain and slack; it was stopped", e.agent, e.deadline)
}

// storeError is a run measured but not stored: a local I/O error. It is
// never retried (measuring again would not store it either); ENOSPC and
// EIO stop the plan.
type storeError struct{ err error }

func (e *storeError) Error() string { return fmt.Sprintf("storing the run: %v", e.err) }
func (e *storeError) Unwrap() error { return e.err }

// fatalLocal reports a local I/O error after which nothing more can be
// stored: the disk is full or failing.
func fatalLocal(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EROFS)
}

// incompleteError is a result that is missing samples, or claims what it
// cannot: an agent's result is checked, not trusted.
type incompleteError struct {
	agent string
	why   string
}

func (e *incompleteError) Error() string {
	return fmt.Sprintf("agent %s returned an unusable result: %s", e.agent, e.why)
}

// retryable says whether another attempt of a run that failed with err can
// do better, and whether the failure says the agent itself is gone.
func retryable(err error) (retry, agentGone bool) {
	var fe *frozenError
	var de *deadlineError
	var se *storeError
	switch {
	case errors.As(err, &se):
		return false, false
	case errors.As(err, &fe):
		return true, true
	case errors.As(err, &de):
		// Ten times the plan overran: another try costs as much again.
		return false, false
	case errors.Is(err, fs.ErrNotExist):
		return false, false
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.Unauthenticated, codes.PermissionDenied, codes.Unimplemented:
		// The agent refused the request itself; it would again.
		return false, false
	case codes.Unavailable:
		return true, true
	}
	return true, false
}

// unavailableError is an agent's Unavailable status in words, keeping the
// status for errors.As and status.Code.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string {
	return "agent unavailable: " + status.Convert(e.err).Message()
}
func (e *unavailableError) Unwrap() error { return e.err }

// runGuard watches one RunRequest: a watchdog reset by every event and an
// overall deadline. Its context ends with a *frozenError or a
// *deadlineError as its cause.
type runGuard struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	stopDL context.CancelFunc
	timer  *time.Timer
	quiet  time.Duration
}

// guard starts watching a run on agent a, with settings s.
func (r *Runner) guard(parent context.Context, a *agentConn, s inference.TestSettings, findPeak bool) *runGuard {
	quiet := r.Plan.watchdog()
	deadline := runDeadline(s, findPeak)
	ctx, cancel := context.WithCancelCause(parent)
	ctx, stop := context.WithTimeoutCause(ctx, deadline, &deadlineError{agent: a.spec.Name, deadline: deadline})
	g := &runGuard{ctx: ctx, cancel: cancel, stopDL: stop, quiet: quiet}
	g.timer = time.AfterFunc(quiet, func() {
		state := connectivity.Ready
		if a.conn != nil {
			state = a.conn.GetState()
		}
		cancel(&frozenError{agent: a.spec.Name, quiet: quiet, state: state})
	})
	return g
}

// alive resets the watchdog: the agent said something.
func (g *runGuard) alive() { g.timer.Reset(g.quiet) }

// stop releases the guard's timers.
func (g *runGuard) stop() {
	g.timer.Stop()
	g.stopDL()
	g.cancel(nil)
}

// explain returns the guard's reason when it stopped the run, else err.
func (g *runGuard) explain(err error) error {
	var fe *frozenError
	var de *deadlineError
	if cause := context.Cause(g.ctx); errors.As(cause, &fe) || errors.As(cause, &de) {
		return cause
	}
	return err
}
