package backend_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

// fakeSync is a SyncBackend whose Infer runs fn, if set, and records batch
// sizes.
type fakeSync struct {
	fn       func(ctx context.Context, batch []inference.Sample) error
	calls    atomic.Int64
	maxBatch atomic.Int64
}

func (f *fakeSync) Name() string { return "fake" }

func (f *fakeSync) Infer(ctx context.Context, batch []inference.Sample) error {
	f.calls.Add(1)
	for {
		m := f.maxBatch.Load()
		if int64(len(batch)) <= m || f.maxBatch.CompareAndSwap(m, int64(len(batch))) {
			break
		}
	}
	if f.fn != nil {
		return f.fn(ctx, batch)
	}
	return nil
}

// checkOnce fails unless the fake saw IDs 0..n-1 exactly once each.
func checkOnce(t *testing.T, recs []backendtest.Record, n int) {
	t.Helper()
	seen := make([]bool, n)
	for _, r := range recs {
		if r.ID >= uint64(n) {
			t.Fatalf("completion for unknown ID %d", r.ID)
		}
		if seen[r.ID] {
			t.Fatalf("ID %d completed twice", r.ID)
		}
		seen[r.ID] = true
	}
	if len(recs) != n {
		t.Fatalf("%d completions; want %d", len(recs), n)
	}
}

func TestAsyncCompletesEverySampleOnce(t *testing.T) {
	fs := &fakeSync{}
	b := backend.NewAsync(fs, 4, 8)
	if b.Name() != "fake" {
		t.Errorf("Name() = %q; want %q", b.Name(), "fake")
	}
	f := backendtest.Start(t, b)

	// Queries of 1 to 20 samples from three goroutines, reusing their
	// slices at once, as the engine does.
	const perG, gs = 2000, 3
	var wg sync.WaitGroup
	var next atomic.Uint64
	for range gs {
		wg.Go(func() {
			buf := make([]inference.Sample, 20)
			left := perG
			for left > 0 {
				k := min(left, 1+int(next.Load()%20))
				for i := range k {
					buf[i] = inference.Sample{ID: next.Add(1) - 1}
				}
				b.IssueQuery(buf[:k])
				clear(buf) // the caller reuses the slice
				left -= k
			}
		})
	}
	wg.Wait()
	b.FlushQueries()
	n := int(next.Load())
	if err := f.Wait(n, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	checkOnce(t, f.Records(), n)
	if m := fs.maxBatch.Load(); m > 8 {
		t.Errorf("largest batch = %d; want at most 8", m)
	}
	for _, r := range f.Records() {
		if r.Err != nil {
			t.Fatalf("ID %d: Err = %v; want nil", r.ID, r.Err)
		}
	}
}

func TestAsyncOfflineBurst(t *testing.T) {
	const n = 1 << 20
	fs := &fakeSync{}
	b := backend.NewAsync(fs, 2, 64)
	var c backendtest.Counter
	backendtest.StartWith(t, b, &c)
	samples := make([]inference.Sample, n)
	for i := range samples {
		samples[i] = inference.Sample{ID: uint64(i), Index: uint32(i % 1024)}
	}
	start := time.Now()
	b.IssueQuery(samples)
	issue := time.Since(start)
	if err := c.Wait(n, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("IssueQuery of %d samples took %v; all done after %v, %d Infer calls", n, issue, time.Since(start), fs.calls.Load())
	if got := fs.maxBatch.Load(); got != 64 {
		t.Errorf("largest batch = %d; want 64", got)
	}
}

func TestAsyncIssueQueryDoesNotWaitForInference(t *testing.T) {
	release := make(chan struct{})
	fs := &fakeSync{fn: func(ctx context.Context, _ []inference.Sample) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}}
	b := backend.NewAsync(fs, 1, 1)
	f := backendtest.Start(t, b)
	start := time.Now()
	for i := range 1000 {
		b.IssueQuery([]inference.Sample{{ID: uint64(i)}})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("1000 IssueQuery calls with a blocked worker took %v", d)
	}
	if got := f.Len(); got != 0 {
		t.Fatalf("%d completions before release; want 0", got)
	}
	close(release)
	if err := f.Wait(1000, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	checkOnce(t, f.Records(), 1000)
}

func TestAsyncInferErrorFailsWholeBatch(t *testing.T) {
	fs := &fakeSync{fn: func(_ context.Context, batch []inference.Sample) error {
		if batch[0].Index == 7 {
			return backendtest.ErrInfer
		}
		return nil
	}}
	b := backend.NewAsync(fs, 1, 4)
	f := backendtest.Start(t, b)
	// One query of four samples: the idle worker takes it as one batch.
	b.IssueQuery([]inference.Sample{{ID: 0, Index: 7}, {ID: 1}, {ID: 2}, {ID: 3}})
	b.IssueQuery([]inference.Sample{{ID: 4}})
	if err := f.Wait(5, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Records() {
		failed := r.ID < 4
		if got := errors.Is(r.Err, backendtest.ErrInfer); got != failed {
			t.Errorf("ID %d: Err = %v; want failed = %t", r.ID, r.Err, failed)
		}
	}
}

func TestAsyncStopDropsQueuedAndWaits(t *testing.T) {
	started := make(chan struct{}, 1)
	var finished atomic.Bool
	fs := &fakeSync{fn: func(ctx context.Context, _ []inference.Sample) error {
		started <- struct{}{}
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // a model that is slow to notice
		finished.Store(true)
		return ctx.Err()
	}}
	b := backend.NewAsync(fs, 1, 1)
	f := new(backendtest.Fake)
	if err := b.StartWith(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		b.IssueQuery([]inference.Sample{{ID: uint64(i)}})
	}
	<-started
	start := time.Now()
	if err := b.Stop(); err != nil {
		t.Fatalf("Stop() = %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Stop() took %v", d)
	}
	if !finished.Load() {
		t.Error("Stop returned before the worker's Infer call did")
	}
	backendtest.WaitGone(t, "backend.(*Pool).work")
	if n := f.Len(); n != 0 {
		t.Errorf("%d completions; want 0 (the cancelled batch is incomplete, the queue dropped)", n)
	}
	// Queries after Stop are dropped, and a second Stop is harmless.
	b.IssueQuery([]inference.Sample{{ID: 1000}})
	if err := b.Stop(); err != nil {
		t.Errorf("second Stop() = %v", err)
	}
}

func TestAsyncRestart(t *testing.T) {
	b := backend.NewAsync(&fakeSync{}, 2, 2)
	var s backend.Starter = b
	for run := range 3 {
		f := new(backendtest.Fake)
		if err := s.StartWith(context.Background(), f); err != nil {
			t.Fatalf("run %d: StartWith() = %v", run, err)
		}
		if err := s.StartWith(context.Background(), f); err == nil {
			t.Fatalf("run %d: second StartWith() = nil; want an error", run)
		}
		b.IssueQuery([]inference.Sample{{ID: 1}, {ID: 2}, {ID: 3}})
		if err := f.Wait(3, 5*time.Second); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if err := b.Stop(); err != nil {
			t.Fatalf("run %d: Stop() = %v", run, err)
		}
	}
}

func TestAsyncParentCancelStopsWorkers(t *testing.T) {
	b := backend.NewAsync(&fakeSync{}, 3, 1)
	ctx, cancel := context.WithCancel(context.Background())
	f := new(backendtest.Fake)
	if err := b.StartWith(ctx, f); err != nil {
		t.Fatal(err)
	}
	// The name waitGone looks for is the workers' (so it cannot pass by
	// looking for a function that no longer exists).
	for deadline := time.Now().Add(time.Second); backendtest.Goroutines("backend.(*Pool).work") < 3; {
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("no 3 workers running after 1s")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	backendtest.WaitGone(t, "backend.(*Pool).work")
	if err := b.Stop(); err != nil {
		t.Fatalf("Stop() = %v", err)
	}
}

func TestAsyncStartNilRecorder(t *testing.T) {
	b := backend.NewAsync(&fakeSync{}, 1, 1)
	if err := b.Start(context.Background(), nil); err == nil {
		t.Fatal("Start(ctx, nil) = nil; want an error")
	}
}

// BenchmarkAsyncIssueQuery measures IssueQuery of one sample through to its
// completion with a no-op Infer: ns/op is the adapter's cost per sample.
func BenchmarkAsyncIssueQuery(b *testing.B) {
	for _, bc := range []struct{ workers, batch int }{
		{1, 1}, {1, 8}, {runtime.GOMAXPROCS(0), 1}, {runtime.GOMAXPROCS(0), 8},
	} {
		b.Run(fmt.Sprintf("workers=%d/batch=%d", bc.workers, bc.batch), func(b *testing.B) {
			fs := &fakeSync{}
			be := backend.NewAsync(fs, bc.workers, bc.batch)
			var c backendtest.Counter
			backendtest.StartWith(b, be, &c)
			q := []inference.Sample{{}}
			b.ReportAllocs()
			var n uint64
			for b.Loop() {
				q[0].ID = n
				be.IssueQuery(q)
				n++
			}
			if err := c.Wait(n, time.Minute); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(n)/float64(fs.calls.Load()), "samples/batch")
		})
	}
}
