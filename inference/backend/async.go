package backend

import (
	"context"
	"fmt"
	"sync"

	"github.com/gpuperf/gpuperf/inference"
)

// NewAsync turns a synchronous backend into an asynchronous one: a Pool of
// workers goroutines, each serving up to maxBatch samples per Infer call.
// Values below 1 count as 1.
//
// A worker reports a batch's samples in one call, with Err set
// on every response when Infer failed. When Infer failed because the pool
// stopped, the batch is dropped instead: incomplete, not failed.
func NewAsync(b SyncBackend, workers, maxBatch int) *Pool {
	return NewPool(&syncServer{sync: b}, workers, maxBatch)
}

// syncServer serves a SyncBackend's batches.
type syncServer struct {
	sync  SyncBackend
	resps sync.Pool // *[]inference.Response, so a batch costs no allocation
}

func (s *syncServer) Name() string { return s.sync.Name() }

func (s *syncServer) Serve(ctx context.Context, batch []inference.Sample, c Completer) {
	err := s.sync.Infer(ctx, batch)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		err = fmt.Errorf("%s: infer: %w", s.sync.Name(), err)
	}
	if len(batch) == 1 {
		c.Complete(inference.Response{ID: batch[0].ID, Err: err})
		return
	}
	rp, _ := s.resps.Get().(*[]inference.Response)
	if rp == nil {
		rp = new([]inference.Response)
	}
	resps := (*rp)[:0]
	for _, smp := range batch {
		resps = append(resps, inference.Response{ID: smp.ID, Err: err})
	}
	c.CompleteBatch(resps)
	*rp = resps
	s.resps.Put(rp)
}
