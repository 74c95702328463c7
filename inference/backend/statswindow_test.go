package backend_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
)

// The window keeps the difference of its edges' reads, only between
// Open and Close, and Close waits out a start read that blocks.
func TestStatsWindow(t *testing.T) {
	var counter atomic.Uint64
	reads := make(chan uint64, 8) // each read's value, as it happens
	read := func(context.Context) uint64 {
		v := counter.Load()
		reads <- v
		return v
	}
	diff := func(a, b uint64) *inference.ServerStats { return &inference.ServerStats{Requests: b - a} }
	w := backend.NewStatsWindow(read, diff)

	w.Edge(true) // closed: nothing
	w.Edge(false)
	if w.Stats() != nil {
		t.Fatal("a closed window kept statistics")
	}

	w.Open(context.Background())
	counter.Store(10)
	w.Edge(true)
	if v := <-reads; v != 10 { // the start's read, in the background
		t.Fatalf("start read %d", v)
	}
	counter.Store(17)
	w.Edge(false)
	if st := w.Stats(); st == nil || st.Requests != 7 {
		t.Fatalf("Stats() = %+v; want 7 requests", st)
	}
	w.Edge(false) // an end without a start keeps the last
	if st := w.Stats(); st == nil || st.Requests != 7 {
		t.Fatalf("after a lone end: Stats() = %+v", st)
	}
	w.Close()
	if st := w.Stats(); st == nil || st.Requests != 7 {
		t.Errorf("after Close: Stats() = %+v; want the last run's", st)
	}
	w.Open(context.Background())
	if w.Stats() != nil {
		t.Error("Open kept the last run's statistics")
	}

	// A start read that blocks until cancelled: Close cancels and waits.
	blocked := backend.NewStatsWindow(func(ctx context.Context) uint64 { <-ctx.Done(); return 0 }, diff)
	blocked.Open(context.Background())
	blocked.Edge(true)
	done := make(chan struct{})
	go func() { blocked.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the start's read")
	}
}
