package interference

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
)

// gpuIndexes is how many distinct data-set indexes a gpu load cycles
// through: any backend's data set has at least this many.
const gpuIndexes = 64

// startGPU drives one of the agent's backends as a co-tenant would: open
// loop at QPS (Poisson arrivals, late ones issued at once so the rate
// holds on a busy host), or flat out with Concurrency samples in flight.
func startGPU(l *Load, env Env) (func(*Report, time.Duration), error) {
	if env.Backend == nil {
		return nil, errors.New("this agent cannot build backends for a neighbour")
	}
	b, err := env.Backend(l.spec.Backend)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", l.spec.Backend, err)
	}
	st, ok := b.(backend.Starter)
	if !ok {
		return nil, fmt.Errorf("backend %q (%s) cannot be driven as a neighbour", l.spec.Backend, b.Name())
	}
	c := &counter{}
	if l.spec.QPS == 0 {
		c.tokens = make(chan struct{}, l.spec.Concurrency)
	}
	// The backend finishes what was issued after the load's context ends;
	// Stop ends it.
	if err := st.StartWith(context.WithoutCancel(l.ctx), c); err != nil {
		return nil, fmt.Errorf("start backend %q: %w", l.spec.Backend, err)
	}
	var issued atomic.Uint64
	issue := func(id uint64) {
		b.IssueQuery([]inference.Sample{{ID: id, Index: uint32(id % gpuIndexes)}})
		issued.Add(1)
	}
	// The arrivals count from here, not from when the issuing goroutine
	// first runs: on a busy host that may be much later, and the arrivals
	// due meanwhile are then issued at once.
	start := time.Now()
	l.wg.Go(func() {
		defer func() {
			if err := b.Stop(); err != nil {
				l.fail(fmt.Errorf("stop backend %q: %w", l.spec.Backend, err))
			}
		}()
		if l.spec.QPS > 0 {
			poisson(l.ctx, start, l.spec.QPS, l.spec.Seed, issue)
			return
		}
		for id := range uint64(l.spec.Concurrency) {
			issue(id)
		}
		for id := uint64(l.spec.Concurrency); ; id++ {
			select {
			case <-c.tokens:
				issue(id)
			case <-l.ctx.Done():
				return
			}
		}
	})
	return func(r *Report, d time.Duration) {
		r.Unit = "samples/s"
		r.Target = l.spec.QPS
		r.Achieved = float64(c.completed.Load()) / d.Seconds()
		r.Counters["issued"] = float64(issued.Load())
		r.Counters["completed"] = float64(c.completed.Load())
		r.Counters["errors"] = float64(c.errors.Load())
	}, nil
}

// poisson issues samples at exponentially distributed intervals of mean
// 1/qps from start until ctx is done. Arrivals are planned from start, so
// a late wake-up issues every arrival that fell due meanwhile.
func poisson(ctx context.Context, start time.Time, qps float64, seed uint64, issue func(id uint64)) {
	rng := rand.New(rand.NewPCG(seed, 0x6e6569676862)) // "neighb"
	var at time.Duration
	for id := uint64(0); ; id++ {
		at += time.Duration(rng.ExpFloat64() / qps * float64(time.Second))
		if !sleepCtx(ctx, time.Until(start.Add(at))) {
			return
		}
		issue(id)
	}
}

// counter counts a gpu load's completions; flat out it hands back a token
// per completed sample so another is issued.
type counter struct {
	completed, errors atomic.Uint64
	tokens            chan struct{}
}

func (c *counter) Complete(r inference.Response) { c.CompleteBatch([]inference.Response{r}) }

func (c *counter) CompleteBatch(rs []inference.Response) {
	for _, r := range rs {
		if r.Err != nil {
			c.errors.Add(1)
		}
	}
	c.completed.Add(uint64(len(rs)))
	if c.tokens == nil {
		return
	}
	for range rs {
		select {
		case c.tokens <- struct{}{}:
		default:
		}
	}
}
