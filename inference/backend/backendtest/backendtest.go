// Package backendtest drives backends without the engine: a fake Completer
// that stamps every completion, a counting one for benchmarks, and a
// goroutine-leak check for TestMain.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
	"github.com/gpuperf/gpuperf/inference/backend/internal/clock"
)

// Now returns the monotonic clock that Fake stamps with and that
// inference.Recorder uses, in nanoseconds.
func Now() int64 { return clock.Now() }

// Record is one completion seen by a Fake.
type Record struct {
	ID     uint64
	Tokens int64
	Err    error
	// At is the clock (Now) read once on entry to the call, as the
	// Recorder reads it.
	At int64
	// Call numbers the Complete or CompleteBatch call, from 0; Batch is
	// how many responses that call carried.
	Call  int
	Batch int
}

// Fake is a backend.Completer that records every completion. The zero value
// is ready to use.
type Fake struct {
	mu     sync.Mutex // protects the fields below
	recs   []Record
	calls  int
	waiter chan struct{} // closed when len(recs) reaches want
	want   int
}

var _ backend.Completer = (*Fake)(nil)

// Complete records one response.
func (f *Fake) Complete(r inference.Response) {
	now := clock.Now()
	f.record(now, r)
}

// CompleteBatch records responses that finished together.
func (f *Fake) CompleteBatch(rs []inference.Response) {
	now := clock.Now()
	f.record(now, rs...)
}

// CompleteAt records responses stamped with the instant the backend gives,
// as inference.Recorder does for simulated devices.
func (f *Fake) CompleteAt(at int64, rs []inference.Response) {
	f.record(at, rs...)
}

func (f *Fake) record(now int64, rs ...inference.Response) {
	f.mu.Lock()
	for _, r := range rs {
		f.recs = append(f.recs, Record{ID: r.ID, Tokens: r.Tokens, Err: r.Err, At: now, Call: f.calls, Batch: len(rs)})
	}
	f.calls++
	var ch chan struct{}
	if f.waiter != nil && len(f.recs) >= f.want {
		// Wake the waiter only when its count is reached, so it does not
		// contend with the backend for the lock on every completion.
		ch, f.waiter = f.waiter, nil
	}
	f.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// Len returns the number of responses recorded so far.
func (f *Fake) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.recs)
}

// Records returns a copy of the responses recorded so far, in call order.
func (f *Fake) Records() []Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Record(nil), f.recs...)
}

// Wait returns once at least n responses are recorded, or an error after
// timeout. One goroutine at a time may wait.
func (f *Fake) Wait(n int, timeout time.Duration) error {
	f.mu.Lock()
	if len(f.recs) >= n {
		f.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	f.waiter, f.want = ch, n
	f.mu.Unlock()

	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		f.mu.Lock()
		defer f.mu.Unlock()
		f.waiter = nil
		return fmt.Errorf("wait: %d of %d completions after %v", len(f.recs), n, timeout)
	}
}

// Counter is a backend.Completer that only counts, for benchmarks. The zero
// value is ready to use. Wait blocks on a channel rather than polling, so
// it adds no CPU time of its own to what a benchmark measures.
type Counter struct {
	n      atomic.Uint64
	calls  atomic.Uint64
	failed atomic.Uint64
	want   atomic.Uint64 // what Wait waits for; 0 when nobody waits

	mu      sync.Mutex
	done    chan struct{} // closed when n reaches want
	lastErr error
}

var _ backend.Completer = (*Counter)(nil)

// Complete counts one response.
func (c *Counter) Complete(r inference.Response) {
	if r.Err != nil {
		c.fail(1, r.Err)
	}
	c.add(1)
}

// CompleteBatch counts responses that finished together.
func (c *Counter) CompleteBatch(rs []inference.Response) {
	for _, r := range rs {
		if r.Err != nil {
			c.fail(1, r.Err)
		}
	}
	c.add(uint64(len(rs)))
}

func (c *Counter) fail(k uint64, err error) {
	c.failed.Add(k)
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

func (c *Counter) add(k uint64) {
	n := c.n.Add(k)
	c.calls.Add(1)
	if w := c.want.Load(); w != 0 && n >= w {
		c.mu.Lock()
		if c.done != nil && n >= c.want.Load() {
			close(c.done)
			c.done = nil
		}
		c.mu.Unlock()
	}
}

// N returns the number of responses counted.
func (c *Counter) N() uint64 { return c.n.Load() }

// Calls returns the number of Complete and CompleteBatch calls.
func (c *Counter) Calls() uint64 { return c.calls.Load() }

// Failed returns how many responses carried an error, and the last error.
func (c *Counter) Failed() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed.Load(), c.lastErr
}

// Wait returns once at least n responses are counted, or an error after
// timeout. One goroutine may wait at a time.
func (c *Counter) Wait(n uint64, timeout time.Duration) error {
	c.mu.Lock()
	if c.n.Load() >= n {
		c.mu.Unlock()
		return nil
	}
	done := make(chan struct{})
	c.done = done
	c.want.Store(n)
	// A completion between the check above and want's store saw no
	// waiter: look again.
	if c.n.Load() >= n {
		close(done)
		c.done = nil
	}
	c.mu.Unlock()
	defer c.want.Store(0)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		c.mu.Lock()
		c.done = nil
		c.mu.Unlock()
		return fmt.Errorf("wait: %d of %d completions after %v", c.n.Load(), n, timeout)
	}
}

// Start starts b, which must implement backend.Starter, reporting to a new
// Fake, and stops it when the test ends.
func Start(tb testing.TB, b inference.Backend) *Fake {
	tb.Helper()
	f := new(Fake)
	StartWith(tb, b, f)
	return f
}

// StartWith starts b, which must implement backend.Starter, reporting to c,
// and stops it when the test ends.
func StartWith(tb testing.TB, b inference.Backend, c backend.Completer) {
	tb.Helper()
	s, ok := b.(backend.Starter)
	if !ok {
		tb.Fatalf("backend %s (%T) does not implement backend.Starter", b.Name(), b)
	}
	if err := s.StartWith(context.Background(), c); err != nil {
		tb.Fatalf("%s: StartWith() = %v", b.Name(), err)
	}
	tb.Cleanup(func() {
		if err := b.Stop(); err != nil {
			tb.Errorf("%s: Stop() = %v", b.Name(), err)
		}
	})
}

// Goroutines returns how many goroutines, other than the caller's, have a
// stack that mentions substr (a function or package name).
func Goroutines(substr string) int {
	n := 0
	for _, g := range stacks() {
		if bytes.Contains(g, []byte(substr)) {
			n++
		}
	}
	return n
}

// WaitGone fails the test unless no goroutine mentions fn within a
// second. (A goroutine lingers for a moment after the WaitGroup.Done that
// a Stop waits for.)
func WaitGone(tb testing.TB, fn string) {
	tb.Helper()
	deadline := time.Now().Add(time.Second)
	for Goroutines(fn) != 0 {
		if time.Now().After(deadline) {
			tb.Fatalf("goroutines in %s still alive after 1s", fn)
		}
		time.Sleep(time.Millisecond)
	}
}

// stacks returns the stack of every goroutine but the caller's.
func stacks() [][]byte {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	gs := bytes.Split(buf, []byte("\n\n"))
	return gs[1:] // the first is the caller's
}

// leakMarker is what every goroutine started by this tree's backends has
// on its stack.
const leakMarker = "gpuperf/inference/backend"

// CheckLeaks returns an error listing the goroutines of this tree's backends
// still alive after a grace period of a second.
func CheckLeaks() error {
	var leaked [][]byte
	for range 100 {
		leaked = leaked[:0]
		for _, g := range stacks() {
			if bytes.Contains(g, []byte(leakMarker)) {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("%d leaked goroutines:\n\n%s", len(leaked), bytes.Join(leaked, []byte("\n\n")))
}

// Main runs the tests, then fails the binary if backend goroutines leaked.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := CheckLeaks(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// ErrInfer is a ready-made error for fake backends to fail with.
var ErrInfer = errors.New("injected failure")
