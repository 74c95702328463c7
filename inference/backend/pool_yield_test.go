package backend

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
)

// spinServer computes (spins) for d per batch, then reports its samples.
type spinServer struct{ d time.Duration }

func (spinServer) Name() string { return "spin" }

func (s spinServer) Serve(_ context.Context, batch []inference.Sample, c Completer) {
	for t := time.Now(); time.Since(t) < s.d; {
	}
	for _, smp := range batch {
		c.Complete(inference.Response{ID: smp.ID})
	}
}

// countCompleter counts completions and signals each one.
type countCompleter struct {
	n    atomic.Int64
	done chan struct{}
}

func (c *countCompleter) Complete(inference.Response) {
	c.n.Add(1)
	c.done <- struct{}{}
}

func (c *countCompleter) CompleteBatch(r []inference.Response) {
	for range r {
		c.Complete(inference.Response{})
	}
}

// TestPoolWorkerYieldsWhileWorkWaits: a worker that finds work waiting
// batch after batch yields its processor every yieldEvery, so a goroutine
// woken meanwhile (the Server generator) is not held off for the runtime's
// 10 ms slice; a worker that waited for each batch never yields.
func TestPoolWorkerYieldsWhileWorkWaits(t *testing.T) {
	for _, backlog := range []bool{true, false} {
		p := NewPool(spinServer{d: 100 * time.Microsecond}, 1, 1)
		var yields atomic.Int64
		p.yield = func() { yields.Add(1) }
		c := &countCompleter{done: make(chan struct{}, 1024)}
		if err := p.StartWith(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		const n = 200 // 20 ms of compute
		start := time.Now()
		if backlog {
			q := make([]inference.Sample, n)
			for i := range q {
				q[i].ID = uint64(i)
			}
			p.IssueQuery(q)
			for range n {
				<-c.done
			}
		} else {
			for i := range 20 {
				p.IssueQuery([]inference.Sample{{ID: uint64(i)}})
				<-c.done
				time.Sleep(5 * time.Millisecond) // the worker waits for the next
			}
		}
		elapsed := time.Since(start)
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
		got := yields.Load()
		if backlog && got < int64(elapsed/yieldEvery)/4 {
			t.Errorf("backlog: %d yields in %s of compute, want about one per %s", got, elapsed, yieldEvery)
		}
		if !backlog && got != 0 {
			t.Errorf("no backlog: %d yields, want none from a worker that waited for each batch", got)
		}
	}
}
