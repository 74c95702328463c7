package backend

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/internal/ring"
)

// yieldEvery spaces the yields of a worker that finds work waiting batch
// after batch. Go preempts a running goroutine for a woken one only every
// 10 ms: with as many computing workers as processors (the cpu backend on
// a small VM), the Server generator, woken by its timer, waited that long
// to issue (issue delay p99 2.2 ms at 20,000 QPS on two cores, 0.4 ms
// with the yield; BENCHMARKS.md). A worker that waited for its batch has
// just given its processor up and does not yield.
const yieldEvery = 200 * time.Microsecond

// keepQueue is the queue capacity, in samples, that survives Stop; a larger
// buffer (an Offline burst) is released.
const keepQueue = 1 << 16

// ErrStopped is the cause of the context a batch is served under once the
// pool stops: its samples are dropped, not failed.
var ErrStopped = errors.New("backend stopped")

// BatchServer serves batches and reports each of their samples itself.
// It is the model call behind a Pool, for backends that report more than
// an error per sample (output tokens, the first token's time); a plain
// synchronous call is a SyncBackend, served by NewAsync.
type BatchServer interface {
	// Name is the SUT name written to the logs.
	Name() string
	// Serve runs one batch and reports every sample of it to c, unless
	// ctx ended first (the pool stopped), when it reports none of them.
	// It is called from several goroutines at once and must not keep the
	// batch slice after it returns.
	Serve(ctx context.Context, batch []inference.Sample, c Completer)
}

// Pool is an asynchronous backend: IssueQuery queues samples and returns
// at once, and workers goroutines take up to maxBatch queued samples each
// and hand them to the BatchServer. A sample's time in the queue counts as
// the SUT's latency, as LoadGen requires; a free worker does not wait for a
// batch to fill.
//
// Stop cancels the context batches are served under (its cause is
// ErrStopped) and waits for the workers; the samples still queued are
// dropped. A query issued before Start or after Stop is dropped too. A
// Pool may be started again after Stop.
type Pool struct {
	server   BatchServer
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
	cancel  context.CancelCauseFunc
	wg      sync.WaitGroup

	yield func() // runtime.Gosched; a test counts the yields
}

var (
	_ inference.Backend = (*Pool)(nil)
	_ Starter           = (*Pool)(nil)
)

// NewPool returns a stopped pool of workers serving batches of up to
// maxBatch samples with s. Values below 1 count as 1.
func NewPool(s BatchServer, workers, maxBatch int) *Pool {
	return &Pool{server: s, workers: max(workers, 1), maxBatch: max(maxBatch, 1), yield: runtime.Gosched}
}

// Name is the server's name.
func (p *Pool) Name() string { return p.server.Name() }

// Start starts the workers, reporting to rec.
func (p *Pool) Start(ctx context.Context, rec *inference.Recorder) error {
	if rec == nil {
		return fmt.Errorf("%s: start: nil recorder", p.server.Name())
	}
	return p.StartWith(ctx, rec)
}

// StartWith starts the workers, reporting to c.
func (p *Pool) StartWith(ctx context.Context, c Completer) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return fmt.Errorf("%s: start: already started", p.server.Name())
	}
	if p.wake.L == nil {
		p.wake.L = &p.mu
	}
	ctx, cancel := context.WithCancelCause(ctx)
	p.running, p.stopped, p.cancel = true, false, cancel
	p.gen++
	gen := p.gen
	p.wg.Add(p.workers)
	for range p.workers {
		go p.work(ctx, c)
	}
	// A cancelled parent context stops the workers as Stop does; Stop
	// still has to be called to wait for them.
	context.AfterFunc(ctx, func() {
		p.mu.Lock()
		if p.gen == gen {
			p.stopped = true
			p.wake.Broadcast()
		}
		p.mu.Unlock()
	})
	return nil
}

// IssueQuery queues the samples and wakes as many idle workers as the
// samples fill batches, so a burst does not wait for wake-ups passed on
// one worker at a time.
func (p *Pool) IssueQuery(samples []inference.Sample) {
	p.mu.Lock()
	if p.running && !p.stopped {
		p.queue.PushSlice(samples)
		for range min(p.idle, (len(samples)+p.maxBatch-1)/p.maxBatch) {
			p.wake.Signal()
		}
	}
	p.mu.Unlock()
}

// FlushQueries does nothing: workers never hold samples back to fill a batch.
func (p *Pool) FlushQueries() {}

// Stop cancels the batches being served and waits for the workers.
func (p *Pool) Stop() error {
	p.mu.Lock()
	if !p.running {
		p.mu.Unlock()
		return nil
	}
	p.running = false
	p.stopped = true
	p.cancel(ErrStopped)
	p.wake.Broadcast()
	p.mu.Unlock()

	p.wg.Wait()

	p.mu.Lock()
	p.queue.Reset(keepQueue)
	p.mu.Unlock()
	return nil
}

// work serves batches until the pool stops.
func (p *Pool) work(ctx context.Context, c Completer) {
	defer p.wg.Done()
	batch := make([]inference.Sample, p.maxBatch)
	busySince := time.Now()
	for {
		p.mu.Lock()
		waited := false
		for p.queue.Len() == 0 && !p.stopped {
			p.idle++
			p.wake.Wait()
			p.idle--
			waited = true
		}
		if p.stopped {
			p.mu.Unlock()
			return
		}
		n := p.queue.Pop(batch)
		if n > 0 && p.queue.Len() > 0 && p.idle > 0 {
			// More work than this worker takes: pass the wake-up on.
			p.wake.Signal()
		}
		p.mu.Unlock()

		if now := time.Now(); waited {
			busySince = now
		} else if now.Sub(busySince) >= yieldEvery {
			p.yield()
			busySince = now
		}
		serveRecovered(ctx, p.server, batch[:n], c)
		if ctx.Err() != nil {
			return
		}
	}
}

// serveRecovered serves a batch; a panic in the backend fails the batch's
// samples (their completions count once: any the backend already reported
// are duplicates the generator ignores) instead of ending the process.
func serveRecovered(ctx context.Context, s BatchServer, batch []inference.Sample, c Completer) {
	defer func() {
		if v := recover(); v != nil {
			err := fmt.Errorf("%s: the backend panicked: %v", s.Name(), v)
			resps := make([]inference.Response, len(batch))
			for i, smp := range batch {
				resps[i] = inference.Response{ID: smp.ID, Err: err}
			}
			c.CompleteBatch(resps)
		}
	}()
	s.Serve(ctx, batch, c)
}
