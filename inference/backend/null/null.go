// Package null is the backend that does nothing: it completes every sample
// inline, inside IssueQuery, so a run against it measures the load
// generator's own ceiling (issue rate, completion bookkeeping, logging)
// with no system under test in the way.
package null

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
)

// chunk is the most responses one CompleteBatch call carries. An Offline
// query of millions of samples is reported chunk by chunk, so the backend's
// buffer stays small.
const chunk = 256

// Backend is the null backend. The zero value is not ready; use New.
type Backend struct {
	sink atomic.Pointer[sink] // nil when not started

	mu  sync.Mutex // protects buf
	buf []inference.Response
}

type sink struct{ c backend.Completer }

var (
	_ inference.Backend = (*Backend)(nil)
	_ backend.Starter   = (*Backend)(nil)
)

// New returns a null backend. It has no options.
func New(opts map[string]string) (*Backend, error) {
	if err := backend.CheckKnown(opts); err != nil {
		return nil, err
	}
	return &Backend{buf: make([]inference.Response, chunk)}, nil
}

// Name returns "null".
func (b *Backend) Name() string { return "null" }

// Start starts reporting to rec.
func (b *Backend) Start(ctx context.Context, rec *inference.Recorder) error {
	if rec == nil {
		return errors.New("null: start: nil recorder")
	}
	return b.StartWith(ctx, rec)
}

// StartWith starts reporting to c.
func (b *Backend) StartWith(_ context.Context, c backend.Completer) error {
	if !b.sink.CompareAndSwap(nil, &sink{c: c}) {
		return errors.New("null: start: already started")
	}
	return nil
}

// IssueQuery completes the samples before it returns: one Complete for a
// single sample, CompleteBatch calls of up to 256 samples otherwise. Before
// Start and after Stop it drops them.
func (b *Backend) IssueQuery(samples []inference.Sample) {
	s := b.sink.Load()
	if s == nil {
		return
	}
	if len(samples) == 1 {
		s.c.Complete(inference.Response{ID: samples[0].ID})
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(samples) > 0 {
		n := min(len(samples), len(b.buf))
		for i, smp := range samples[:n] {
			b.buf[i] = inference.Response{ID: smp.ID}
		}
		s.c.CompleteBatch(b.buf[:n])
		samples = samples[n:]
	}
}

// FlushQueries does nothing.
func (b *Backend) FlushQueries() {}

// Stop stops reporting. It waits for nothing: the backend has no goroutines.
func (b *Backend) Stop() error {
	b.sink.Store(nil)
	return nil
}
