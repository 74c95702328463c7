package backend_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
)

// tokenServer reports each sample itself, with its index as the token
// count, and sends each ctx's cause, once it ends, to causes.
type tokenServer struct {
	block   bool
	entered chan struct{}
	causes  chan error
}

func (tokenServer) Name() string { return "tokens" }

func (s tokenServer) Serve(ctx context.Context, batch []inference.Sample, c backend.Completer) {
	if s.block {
		s.entered <- struct{}{}
		<-ctx.Done()
		s.causes <- context.Cause(ctx)
		return
	}
	for _, smp := range batch {
		c.Complete(inference.Response{ID: smp.ID, Tokens: int64(smp.Index)})
	}
}

func TestPoolServerReportsItsOwnSamples(t *testing.T) {
	p := backend.NewPool(tokenServer{}, 3, 4)
	if p.Name() != "tokens" {
		t.Errorf("Name() = %q; want %q", p.Name(), "tokens")
	}
	f := backendtest.Start(t, p)
	const n = 1000
	q := make([]inference.Sample, 0, 7)
	for i := range n {
		q = append(q, inference.Sample{ID: uint64(i), Index: uint32(i + 1)})
		if len(q) == cap(q) || i == n-1 {
			p.IssueQuery(q)
			q = q[:0]
		}
	}
	if err := f.Wait(n, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	recs := f.Records()
	checkOnce(t, recs, n)
	for _, r := range recs {
		if r.Tokens != int64(r.ID)+1 {
			t.Fatalf("ID %d: Tokens = %d; want %d (the server's own report)", r.ID, r.Tokens, r.ID+1)
		}
	}
}

func TestPoolStopCancelsWithErrStopped(t *testing.T) {
	causes, entered := make(chan error, 2), make(chan struct{}, 2)
	p := backend.NewPool(tokenServer{block: true, entered: entered, causes: causes}, 2, 1)
	f := new(backendtest.Fake)
	if err := p.StartWith(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	p.IssueQuery([]inference.Sample{{ID: 1}, {ID: 2}, {ID: 3}})
	<-entered
	<-entered // both workers serve: the burst woke both
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop() = %v", err)
	}
	backendtest.WaitGone(t, "backend.(*Pool).work")
	close(causes)
	for c := range causes {
		if !errors.Is(c, backend.ErrStopped) {
			t.Errorf("cause = %v; want ErrStopped", c)
		}
	}
	if f.Len() != 0 {
		t.Errorf("%d completions; want 0", f.Len())
	}
}

// panicServer panics on every batch holding an odd index.
type panicServer struct{}

func (panicServer) Name() string { return "panicky" }

func (panicServer) Serve(_ context.Context, batch []inference.Sample, c backend.Completer) {
	for _, smp := range batch {
		if smp.Index%2 == 1 {
			panic("index out of range [7] with length 3")
		}
		c.Complete(inference.Response{ID: smp.ID})
	}
}

func TestPoolFailsTheSamplesOfABatchThatPanicked(t *testing.T) {
	p := backend.NewPool(panicServer{}, 2, 1)
	f := backendtest.Start(t, p)
	const n = 10
	for i := range n {
		p.IssueQuery([]inference.Sample{{ID: uint64(i), Index: uint32(i)}})
	}
	if err := f.Wait(n, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Records() {
		switch {
		case r.ID%2 == 1 && (r.Err == nil || !strings.Contains(r.Err.Error(), "panicky: the backend panicked: index out of range")):
			t.Errorf("sample %d: err %v; want the panic as its error", r.ID, r.Err)
		case r.ID%2 == 0 && r.Err != nil:
			t.Errorf("sample %d: err %v; want none", r.ID, r.Err)
		}
	}
}
