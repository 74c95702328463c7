package backend

import (
	"context"

	"github.com/gpuperf/gpuperf/inference"
)

// Completer receives a backend's completions: the part of
// *inference.Recorder a backend calls. Both methods may be called from any
// goroutine. Tests pass a fake in its place (see package backendtest).
type Completer interface {
	// Complete reports one finished sample.
	Complete(resp inference.Response)
	// CompleteBatch reports samples that finished together. The callee
	// does not keep the slice.
	CompleteBatch(resps []inference.Response)
}

var _ Completer = (*inference.Recorder)(nil)

// Starter is implemented by every backend in this tree. StartWith is
// inference.Backend's Start with any Completer in place of the engine's
// Recorder; Start(ctx, rec) is StartWith(ctx, rec).
type Starter interface {
	StartWith(ctx context.Context, c Completer) error
}

// SyncBackend is a synchronous model call: Infer returns when the whole
// batch is done. NewAsync turns it into an inference.Backend.
type SyncBackend interface {
	// Name is the SUT name written to the logs.
	Name() string
	// Infer runs one batch. It is called from several goroutines at once,
	// and must not keep the batch slice after it returns. An error fails
	// every sample of the batch.
	Infer(ctx context.Context, batch []inference.Sample) error
}
