package sim

import (
	"context"
	"errors"
	"fmt"
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

// Backend is one user of a simulated device: a device of its own, or one
// it shares by name (option device) with every Backend of the process
// that names it. Create it with New or NewWithConfig.
type Backend struct {
	cfg Config
	dev *device
	// set is the run's seed set (see Reseed), under dev.mu.
	set int

	// Under dev.mu: the tenant and session it is attached to while started.
	t    *tenant
	sess *session
	// last is the session it was last attached to, so that Stop after a
	// cancelled context still waits for that session's loop.
	last *session
	// stopCtx ends the watch on StartWith's context.
	stopCtx func() bool

	// report serializes completions to c with Stop: the loop holds it
	// while it reports, and once Stop has set stopped under it no
	// completion follows.
	report  sync.Mutex
	stopped bool
	c       backend.Completer
	at      atCompleter
}

var (
	_ inference.Backend        = (*Backend)(nil)
	_ backend.Starter          = (*Backend)(nil)
	_ inference.Reseeder       = (*Backend)(nil)
	_ inference.OptionReporter = (*Backend)(nil)
)

// New returns a simulated device configured by options: servers, latency,
// dist, sigma, batch, seed, stall, stall_every and device (see Config and
// the package documentation).
func New(opts map[string]string) (*Backend, error) {
	c, err := ParseConfig(opts)
	if err != nil {
		return nil, err
	}
	return NewWithConfig(c)
}

// NewWithConfig returns a simulated device configured by c. With c.Device
// set, the device is shared: every Backend of the process naming the same
// device uses the same servers, and they must agree on the rest of c.
func NewWithConfig(c Config) (*Backend, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Device == "" {
		return &Backend{cfg: c, dev: &device{cfg: c}}, nil
	}
	d, err := sharedDevice(c)
	if err != nil {
		return nil, err
	}
	return &Backend{cfg: c, dev: d}, nil
}

// Config returns the device's configuration.
func (b *Backend) Config() Config { return b.cfg }

// Reseed draws the service times of the runs that follow from seed set
// set: the configured seed for set 0, inference.DeriveSeed of it
// otherwise. It returns that seed.
func (b *Backend) Reseed(set int) uint64 {
	b.dev.mu.Lock()
	defer b.dev.mu.Unlock()
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

// StartWith starts using the device, reporting to c, until Stop or until
// ctx is done. A device that no one was using starts idle, with its
// service-time RNG freshly seeded; a shared device in use goes on as it
// is, its servers taking this Backend's samples in turn with the others'.
func (b *Backend) StartWith(ctx context.Context, c backend.Completer) error {
	d := b.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if b.t != nil {
		return errors.New("sim: start: already started")
	}
	r := d.cur
	if r == nil {
		// A device no one uses starts fresh, its service times drawn
		// from the starting user's seed set.
		drawn := d.cfg
		drawn.Seed = inference.DeriveSeed(drawn.Seed, b.set)
		r = newSession(drawn)
		d.cur = r
		go d.loop(r)
	}
	b.t = &tenant{user: b}
	b.sess, b.last = r, r
	r.q.add(b.t)
	r.users++
	b.report.Lock()
	b.c, b.stopped = c, false
	b.at, _ = c.(atCompleter)
	b.report.Unlock()
	// A cancelled context leaves the device at once: from then on
	// arrivals are dropped, and nothing more is reported.
	b.stopCtx = context.AfterFunc(ctx, func() { b.leave() })
	return nil
}

// IssueQuery stamps the samples' arrival and queues them; it never waits
// for the device. Before Start and after Stop it drops them.
func (b *Backend) IssueQuery(samples []inference.Sample) {
	d := b.dev
	d.mu.Lock()
	if t := b.t; t != nil {
		// The stamp is read under the lock, so the loop, which reads
		// the clock under it too, never misses an arrival it has passed.
		t.q.push(clock.Now(), samples)
		if r := b.sess; r.hungry {
			r.hungry = false
			select {
			case r.wake <- struct{}{}:
			default:
			}
		}
	}
	d.mu.Unlock()
}

// FlushQueries does nothing: servers never wait for a batch to fill.
func (b *Backend) FlushQueries() {}

// Stop stops using the device. Samples still queued or in service are
// dropped, never reported; once it returns nothing more is reported. The
// last user of a device also waits for its event loop to end.
func (b *Backend) Stop() error {
	last := b.leave()
	if b.stopCtx != nil {
		b.stopCtx()
	}
	b.report.Lock()
	b.stopped = true
	b.report.Unlock()
	if last != nil {
		<-last.done
	}
	return nil
}

// leave detaches b from the device and returns the session b was last part
// of when that session has ended (or ends now) for want of users, so the
// caller may wait for its loop.
func (b *Backend) leave() *session {
	d := b.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := b.t; t != nil {
		r := b.sess
		t.user = nil
		r.q.remove(t)
		r.users--
		if r.users == 0 {
			r.stop()
			if d.cur == r {
				d.cur = nil
			}
		}
		b.t, b.sess = nil, nil
	}
	if b.last != nil && b.last.users == 0 {
		return b.last
	}
	return nil
}

// deliver reports one completion of b's samples, unless b has stopped.
func (b *Backend) deliver(at int64, resps []inference.Response) {
	b.report.Lock()
	defer b.report.Unlock()
	switch {
	case b.stopped:
	case b.at != nil:
		// Stamp the virtual instant: a late wake-up of the loop (a busy
		// host, a GC pause) must not show as device latency.
		b.at.CompleteAt(at, resps)
	case len(resps) == 1:
		b.c.Complete(resps[0])
	default:
		b.c.CompleteBatch(resps)
	}
}

// device is the simulated hardware: its configuration and, while anyone
// uses it, the session of its model.
type device struct {
	cfg Config

	// mu protects the runs' queues and users, and the Backends' links to
	// them; the event loop holds it while it advances the model.
	mu  sync.Mutex
	cur *session // nil when no one uses the device
}

// session is one continuous use of a device, from its first user's start to
// its last user's stop: the model, the users' queues, and the event loop.
type session struct {
	core   *core
	q      tenants
	users  int
	hungry bool          // the loop wants to hear of the next arrival
	wake   chan struct{} // cap 1: an arrival for a hungry loop
	ctx    context.Context
	stop   context.CancelFunc
	done   chan struct{} // closed when the loop has returned
}

func newSession(c Config) *session {
	ctx, stop := context.WithCancel(context.Background())
	return &session{core: newCore(c), wake: make(chan struct{}, 1), ctx: ctx, stop: stop, done: make(chan struct{})}
}

// sharedDevices are the process's named devices (option device). A name
// stays bound to its configuration for the life of the process.
var sharedDevices = struct {
	sync.Mutex
	m map[string]*device
}{m: map[string]*device{}}

// sharedDevice returns the device c names, creating it on first use; a
// different configuration under a name in use is an error.
func sharedDevice(c Config) (*device, error) {
	sharedDevices.Lock()
	defer sharedDevices.Unlock()
	d, ok := sharedDevices.m[c.Device]
	if !ok {
		d = &device{cfg: c}
		sharedDevices.m[c.Device] = d
		return d, nil
	}
	if d.cfg != c {
		return nil, fmt.Errorf("sim: %s=%q is already a device with %s; every backend sharing it must give the same options (this one gives %s)",
			OptDevice, c.Device, d.cfg.options(), c.options())
	}
	return d, nil
}

// atCompleter is the part of *inference.Recorder that takes a completion's
// instant from the caller. The sim reports its virtual completion instants
// through it, so the oracle's latencies are exact on a noisy host.
type atCompleter interface {
	CompleteAt(at int64, resps []inference.Response)
}

var _ atCompleter = (*inference.Recorder)(nil)

// loop runs r's model in real time until the session ends (its last user
// left), reporting each completion to the user whose sample it was.
func (d *device) loop(r *session) {
	defer close(r.done)
	k := r.core
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var users []*Backend
	for {
		d.mu.Lock()
		k.advance(clock.Now(), &r.q)
		deadline, ok := k.next(&r.q)
		r.hungry = k.hungry(&r.q)
		// Whose each completion is, read under the lock: a user that
		// left gets nothing.
		users = users[:0]
		for _, t := range k.outOwner {
			users = append(users, t.user)
		}
		d.mu.Unlock()

		// The completions are due: report them, outside the lock (a slow
		// Completer must not hold up the device or Stop).
		start := 0
		for i, end := range k.outEnd {
			if r.ctx.Err() != nil {
				return
			}
			if u := users[i]; u != nil {
				u.deliver(k.outAt[i], k.out[start:end])
			}
			start = end
		}
		k.clearOut()
		clear(users)

		if !r.wait(timer, deadline, ok) {
			return
		}
	}
}

// wait returns true at the deadline (if any) or on an arrival for a hungry
// loop, false when ctx is done. It sleeps until spinWindow before the
// deadline and spins, yielding the processor every yieldEvery, for the rest.
func (r *session) wait(timer *time.Timer, deadline int64, ok bool) bool {
	ctx := r.ctx
	if !ok {
		select {
		case <-r.wake:
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
			case <-r.wake:
			case <-ctx.Done():
				timer.Stop()
				return false
			}
			timer.Stop()
			return true
		}
		select {
		case <-r.wake:
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
