package kserve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"

	inferencev2 "github.com/gpuperf/gpuperf/proto/inference"
)

// streamConn sends requests over ModelStreamInfer on one connection. Many
// requests share one stream; responses find their request by id. A
// stream that fails (the server ends it, a response matches no request,
// or a request gets no response within the timeout: a stalled stream) is
// abandoned: every request in flight on it fails with that error, and the
// next request opens a new stream.
type streamConn struct {
	client inferencev2.GRPCInferenceServiceClient
	parent context.Context // the session's: cancelled when it closes
	wg     *sync.WaitGroup // the session's: counts the readers
	seq    atomic.Uint64   // request ids

	mu  sync.Mutex // protects cur
	cur *stream
}

// stream is one ModelStreamInfer call and its reader.
type stream struct {
	s      grpc.BidiStreamingClient[inferencev2.ModelInferRequest, inferencev2.ModelStreamInferResponse]
	cancel context.CancelFunc

	sendMu sync.Mutex // gRPC allows one Send at a time

	mu      sync.Mutex // protects pending and err
	pending map[string]chan<- streamResult
	err     error // set when the stream failed
}

type streamResult struct {
	resp *inferencev2.ModelInferResponse
	err  error
}

// infer sends the request encode builds with an id of its own and waits
// for its response; ctx bounds the whole exchange.
func (c *streamConn) infer(ctx context.Context, encode func(id string) *wireRequest) (*inferencev2.ModelInferResponse, error) {
	st, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	id := strconv.FormatUint(c.seq.Add(1), 10)
	req := encode(id)
	ch := make(chan streamResult, 1)
	if err := st.add(id, ch); err != nil {
		return nil, err
	}
	// A request whose context ends first takes the stream down with it:
	// that unblocks a Send stuck on flow control, and a stream that let
	// one request wait this long is stalled for all of them.
	stop := context.AfterFunc(ctx, func() {
		err := ctx.Err()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("stream stalled: %w", err)
		}
		st.fail(err)
	})
	defer stop()
	st.sendMu.Lock()
	err = st.s.SendMsg(req)
	st.sendMu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) {
		// io.EOF means the server ended the stream: the reader gets its
		// status and fails every request with it.
		st.fail(fmt.Errorf("stream send: %w", err))
	}
	r := <-ch
	return r.resp, r.err
}

// get returns the current stream, opening one if there is none or the last
// one failed.
func (c *streamConn) get(ctx context.Context) (*stream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil && !c.cur.failed() {
		return c.cur, nil
	}
	sctx, cancel := context.WithCancel(c.parent)
	// Opening waits for the connection; the request's deadline bounds it.
	stop := context.AfterFunc(ctx, cancel)
	s, err := c.client.ModelStreamInfer(sctx, withWireCodec)
	stopped := stop()
	if err != nil || !stopped {
		cancel()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("ModelStreamInfer: %w", err)
	}
	st := &stream{s: s, cancel: cancel, pending: make(map[string]chan<- streamResult)}
	c.cur = st
	c.wg.Add(1)
	go c.read(st)
	return st, nil
}

// read delivers the stream's responses until it ends.
func (c *streamConn) read(st *stream) {
	defer c.wg.Done()
	for {
		r, err := st.s.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the server ended the stream")
			}
			st.fail(fmt.Errorf("ModelStreamInfer: %w", err))
			return
		}
		st.deliver(r)
	}
}

// deliver hands a response to its request. One that matches no request in
// flight cannot be placed, so it fails the stream.
func (st *stream) deliver(r *inferencev2.ModelStreamInferResponse) {
	id := r.GetInferResponse().GetId()
	st.mu.Lock()
	ch, ok := st.pending[id]
	delete(st.pending, id)
	st.mu.Unlock()
	switch {
	case !ok && r.GetErrorMessage() != "":
		st.fail(fmt.Errorf("server error on the stream (for no request in flight: id %q): %s", id, r.GetErrorMessage()))
	case !ok:
		st.fail(fmt.Errorf("%w: stream response id %q matches no request in flight", ErrMalformed, id))
	case r.GetErrorMessage() != "":
		ch <- streamResult{err: fmt.Errorf("server error: %s", r.GetErrorMessage())}
	default:
		ch <- streamResult{resp: r.GetInferResponse()}
	}
}

// add registers a request in flight, unless the stream has failed.
func (st *stream) add(id string, ch chan<- streamResult) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err != nil {
		return st.err
	}
	st.pending[id] = ch
	return nil
}

func (st *stream) failed() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err != nil
}

// fail ends the stream: every request in flight gets err (the first error
// the stream had, if it already failed).
func (st *stream) fail(err error) {
	st.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	err = st.err
	pending := st.pending
	st.pending = nil
	st.mu.Unlock()
	st.cancel()
	for _, ch := range pending {
		ch <- streamResult{err: err}
	}
}
