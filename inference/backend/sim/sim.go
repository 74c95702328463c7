package sim

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
	"github.com/gpuperf/gpuperf/inference/backend/internal/clock"
)

// spinWindow is how long before an instant the event loop stops sleeping
// and starts spinning: Go's timers overshoot by up to about a millisecond.
const spinWindow = 2 * time.Millisecond

// yieldEvery is how often the spinning loop yields the processor. Yielding
// on every turn makes the spin contend for the scheduler's global run
// queue, and on a two-processor host that costs millisecond stalls when
// the load generator spins too; once per 10 µs still lets other goroutines
// on this processor run.
const yieldEvery = 10 * time.Microsecond

// Backend is the simulated device. Create it with New or NewWithConfig.
type Backend struct {
	cfg Config
	// set is the run's seed set (see Reseed).
	set int

	// mu protects the fields below; the event loop holds it while it
	// advances the model.
	mu      sync.Mutex
	q       queue
	core    *core
	hungry  bool // the loop wants to hear of the next arrival
	running bool
	ended   bool          // the loop returned: its context is done
	wake    chan struct{} // cap 1: an arrival for a hungry loop
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

var (
	_ inference.Backend        = (*Backend)(nil)
	_ backend.Starter          = (*Backend)(nil)
	_ inference.Reseeder       = (*Backend)(nil)
	_ inference.OptionReporter = (*Backend)(nil)
)

// New returns a simulated device configured by options: servers, latency,
// dist, sigma, batch, seed, stall and stall_every (see Config and the
// package documentation).
func New(opts map[string]string) (*Backend, error) {
	c, err := ParseConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Backend{cfg: c, wake: make(chan struct{}, 1)}, nil
}

// NewWithConfig returns a simulated device configured by c.
func NewWithConfig(c Config) (*Backend, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Backend{cfg: c, wake: make(chan struct{}, 1)}, nil
}

// Config returns the device's configuration.
func (b *Backend) Config() Config { return b.cfg }

// Reseed draws the service times of the runs that follow from seed set
// set: the configured seed for set 0, inference.DeriveSeed of it
// otherwise. It returns that seed.
func (b *Backend) Reseed(set int) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.set = set
	return inference.DeriveSeed(b.cfg.Seed, set)
}

// EffectiveOptions returns every option the device runs with, defaults
// included; seed is the configured one.
func (b *Backend) EffectiveOptions() map[string]string { return b.cfg.Options() }

// Name returns "sim".
func (b *Backend) Name() string { return "sim" }

// Start starts the device, reporting to rec.
func (b *Backend) Start(ctx context.Context, rec *inference.Recorder) error {
	if rec == nil {
		return errors.New("sim: start: nil recorder")
	}
	return b.StartWith(ctx, rec)
}

// StartWith starts the device, reporting to c. Every run starts idle, with
// the service-time RNG freshly seeded.
func (b *Backend) StartWith(ctx context.Context, c backend.Completer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running {
		return errors.New("sim: start: already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	b.running, b.ended, b.cancel = true, false, cancel
	drawn := b.cfg
	drawn.Seed = inference.DeriveSeed(drawn.Seed, b.set)
	b.core = newCore(drawn)
	b.hungry = false
	select {
	case <-b.wake:
	default:
	}
	b.wg.Add(1)
	go b.loop(ctx, b.core, c)
	return nil
}

// IssueQuery stamps the samples' arrival and queues them; it never waits
// for the device. Before Start and after Stop it drops them.
func (b *Backend) IssueQuery(samples []inference.Sample) {
	b.mu.Lock()
	if b.running && !b.ended {
		// The stamp is read under the lock, so the loop, which reads
		// the clock under it too, never misses an arrival it has passed.
		b.q.push(clock.Now(), samples)
		if b.hungry {
			b.hungry = false
			select {
			case b.wake <- struct{}{}:
			default:
			}
		}
	}
	b.mu.Unlock()
}

// FlushQueries does nothing: servers never wait for a batch to fill.
func (b *Backend) FlushQueries() {}

// Stop stops the device and waits for its event loop. Samples still queued
// or in service are dropped, never reported.
func (b *Backend) Stop() error {
	b.mu.Lock()
	if !b.running {
		b.mu.Unlock()
		return nil
	}
	b.running = false
	b.cancel()
	b.mu.Unlock()

	b.wg.Wait()

	b.mu.Lock()
	b.q.reset()
	b.core = nil
	b.mu.Unlock()
	return nil
}

// atCompleter is the part of *inference.Recorder that takes a completion's
// instant from the caller. The sim reports its virtual completion instants
// through it, so the oracle's latencies are exact on a noisy host.
type atCompleter interface {
	CompleteAt(at int64, resps []inference.Response)
}

var _ atCompleter = (*inference.Recorder)(nil)

// loop runs the model in real time until ctx is done.
func (b *Backend) loop(ctx context.Context, k *core, c backend.Completer) {
	defer b.wg.Done()
	defer func() {
		// A cancelled parent context ends the loop before Stop does;
		// from then on arrivals are dropped, not queued.
		b.mu.Lock()
		b.ended = true
		b.mu.Unlock()
	}()
	at, _ := c.(atCompleter)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		b.mu.Lock()
		k.advance(clock.Now(), &b.q)
		deadline, ok := k.next(&b.q)
		b.hungry = k.hungry(&b.q)
		b.mu.Unlock()

		// The completions are due: report them, outside the lock, unless
		// Stop has been called (a slow Completer must not hold Stop up).
		start := 0
		for i, end := range k.outEnd {
			if ctx.Err() != nil {
				return
			}
			switch {
			case at != nil:
				// Stamp the virtual instant: a late wake-up of this loop
				// (a busy host, a GC pause) must not show as device latency.
				at.CompleteAt(k.outAt[i], k.out[start:end])
			case end-start == 1:
				c.Complete(k.out[start])
			default:
				c.CompleteBatch(k.out[start:end])
			}
			start = end
		}
		k.clearOut()

		if !b.wait(ctx, timer, deadline, ok) {
			return
		}
	}
}

// wait returns true at the deadline (if any) or on an arrival for a hungry
// loop, false when ctx is done. It sleeps until spinWindow before the
// deadline and spins, yielding the processor every yieldEvery, for the rest.
func (b *Backend) wait(ctx context.Context, timer *time.Timer, deadline int64, ok bool) bool {
	if !ok {
		select {
		case <-b.wake:
			return true
		case <-ctx.Done():
			return false
		}
	}
	lastYield := clock.Now()
	for {
		left := time.Duration(deadline - clock.Now())
		if left <= 0 {
			return true
		}
		if left > spinWindow {
			timer.Reset(left - spinWindow)
			select {
			case <-timer.C:
				continue
			case <-b.wake:
			case <-ctx.Done():
				timer.Stop()
				return false
			}
			timer.Stop()
			return true
		}
		select {
		case <-b.wake:
			return true
		case <-ctx.Done():
			return false
		default:
		}
		if now := clock.Now(); now-lastYield >= int64(yieldEvery) {
			runtime.Gosched()
			lastYield = now
		}
	}
}
