package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/internal/ring"
)

// keepQueue is the queue capacity, in samples, that survives Stop; a larger
// buffer (an Offline burst) is released.
const keepQueue = 1 << 16

// NewAsync turns a synchronous backend into an asynchronous one with a pool
// of workers goroutines, each serving up to maxBatch samples per Infer call.
// Values below 1 count as 1.
//
// IssueQuery copies the samples into an unbounded FIFO queue and returns at
// once; a sample's time in the queue counts as the SUT's latency, as
// LoadGen requires. A free worker takes up to maxBatch queued samples (it
// does not wait for a batch to fill), calls Infer, and reports them all with
// one CompleteBatch, with Err set on every response when Infer failed.
//
// Stop cancels the context Infer runs under and waits for the workers. The
// samples still queued are dropped, and so are those of a batch whose Infer
// failed because of that cancellation: they are incomplete, not failures.
// A query issued before Start or after Stop is dropped too.
func NewAsync(b SyncBackend, workers, maxBatch int) inference.Backend {
	return &async{sync: b, workers: max(workers, 1), maxBatch: max(maxBatch, 1)}
}

type async struct {
	sync     SyncBackend
	workers  int
	maxBatch int

	// mu protects everything below, and wake waits on it.
	mu      sync.Mutex
	wake    sync.Cond
	queue   ring.Ring[inference.Sample]
	idle    int // workers waiting on wake
	running bool
	stopped bool   // tells the workers to return
	gen     uint64 // counts runs, so a late AfterFunc cannot stop the next
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

var _ Starter = (*async)(nil)

func (a *async) Name() string { return a.sync.Name() }

func (a *async) Start(ctx context.Context, rec *inference.Recorder) error {
	if rec == nil {
		return errors.New("start: nil recorder")
	}
	return a.StartWith(ctx, rec)
}

// StartWith starts the workers, reporting to c.
func (a *async) StartWith(ctx context.Context, c Completer) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running {
		return fmt.Errorf("%s: start: already started", a.sync.Name())
	}
	if a.wake.L == nil {
		a.wake.L = &a.mu
	}
	ctx, cancel := context.WithCancel(ctx)
	a.running, a.stopped, a.cancel = true, false, cancel
	a.gen++
	gen := a.gen
	a.wg.Add(a.workers)
	for range a.workers {
		go a.work(ctx, c)
	}
	// A cancelled parent context stops the workers as Stop does; Stop
	// still has to be called to wait for them.
	context.AfterFunc(ctx, func() {
		a.mu.Lock()
		if a.gen == gen {
			a.stopped = true
			a.wake.Broadcast()
		}
		a.mu.Unlock()
	})
	return nil
}

func (a *async) IssueQuery(samples []inference.Sample) {
	a.mu.Lock()
	if a.running && !a.stopped {
		a.queue.PushSlice(samples)
		if a.idle > 0 {
			a.wake.Signal()
		}
	}
	a.mu.Unlock()
}

// FlushQueries does nothing: workers never hold samples back to fill a batch.
func (a *async) FlushQueries() {}

func (a *async) Stop() error {
	a.mu.Lock()
	if !a.running {
		a.mu.Unlock()
		return nil
	}
	a.running = false
	a.stopped = true
	a.cancel()
	a.wake.Broadcast()
	a.mu.Unlock()

	a.wg.Wait()

	a.mu.Lock()
	a.queue.Reset(keepQueue)
	a.mu.Unlock()
	return nil
}

// work serves batches until the backend stops.
func (a *async) work(ctx context.Context, c Completer) {
	defer a.wg.Done()
	batch := make([]inference.Sample, a.maxBatch)
	resps := make([]inference.Response, a.maxBatch)
	for {
		a.mu.Lock()
		for a.queue.Len() == 0 && !a.stopped {
			a.idle++
			a.wake.Wait()
			a.idle--
		}
		if a.stopped {
			a.mu.Unlock()
			return
		}
		n := a.queue.Pop(batch)
		if n > 0 && a.queue.Len() > 0 && a.idle > 0 {
			// More work than this worker takes: pass the wake-up on.
			a.wake.Signal()
		}
		a.mu.Unlock()

		err := a.sync.Infer(ctx, batch[:n])
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			err = fmt.Errorf("%s: infer: %w", a.sync.Name(), err)
		}
		for i, s := range batch[:n] {
			resps[i] = inference.Response{ID: s.ID, Err: err}
		}
		c.CompleteBatch(resps[:n])
	}
}
