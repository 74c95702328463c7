package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// hypervisorConn is the agent on a candidate's vGPU hypervisor host.
type hypervisorConn struct {
	spec   AgentSpec
	conn   *grpc.ClientConn
	client gpuperfv1.AgentClient
}

// watchTimeout bounds the hypervisor's answers (started, and the summary
// after the window closes), so a dead hypervisor agent never holds a run.
const watchTimeout = 10 * time.Second

// dialHypervisor connects to a candidate's hypervisor agent and checks,
// with an empty window, that it can watch vGPUs: a plan that asks for it
// fails before any run rather than quietly losing the host's view.
func dialHypervisor(ctx context.Context, a AgentSpec) (*hypervisorConn, error) {
	spec := a.Hypervisor.Spec(a)
	conn, err := dial(spec)
	if err != nil {
		return nil, fmt.Errorf("agent %s: hypervisor %s: %w", a.Name, spec.Address, err)
	}
	h := &hypervisorConn{spec: spec, conn: conn, client: gpuperfv1.NewAgentClient(conn)}
	w := h.start(ctx, "probe", nil)
	if w.err == nil {
		_, w.err = w.summary()
	}
	w.cancel()
	if w.err != nil {
		conn.Close()
		return nil, fmt.Errorf("agent %s: hypervisor %s: %w", a.Name, spec.Address, describeStatus(w.err))
	}
	return h, nil
}

// vgpuWatch is one open window on the hypervisor.
type vgpuWatch struct {
	stream grpc.BidiStreamingClient[gpuperfv1.WatchVgpuRequest, gpuperfv1.WatchVgpuEvent]
	stop   context.CancelFunc
	err    error
	log    *slog.Logger
	runID  string
}

// start opens a window and waits for the hypervisor to confirm it. A
// failure is kept in the watch: the candidate's run goes on without it.
func (h *hypervisorConn) start(ctx context.Context, runID string, log *slog.Logger) *vgpuWatch {
	ctx, stop := context.WithCancel(ctx)
	w := &vgpuWatch{stop: stop, log: log, runID: runID}
	w.stream, w.err = h.client.WatchVgpu(ctx)
	if w.err == nil {
		w.err = w.stream.Send(&gpuperfv1.WatchVgpuRequest{RunId: runID})
	}
	if w.err == nil {
		var ev *gpuperfv1.WatchVgpuEvent
		if ev, w.err = recvWithin(ctx, w.stream); w.err == nil && !ev.GetStarted() {
			w.err = errors.New("the hypervisor agent did not start its window")
		}
	}
	if w.err != nil && log != nil {
		log.Warn("vGPU watch failed to start; the run goes on without the hypervisor's view", "run", runID, "hypervisor", h.spec.Address, "err", w.err)
	}
	return w
}

// summary closes the window and returns the hypervisor's summary JSON.
func (w *vgpuWatch) summary() ([]byte, error) {
	if err := w.stream.CloseSend(); err != nil {
		return nil, err
	}
	ev, err := recvWithin(w.stream.Context(), w.stream)
	if err != nil {
		return nil, err
	}
	if b := ev.GetSummaryJson(); b != nil {
		return b, nil
	}
	return nil, errors.New("the hypervisor agent sent no summary")
}

// finish closes the window and returns the summary, or nil (logged) when
// the hypervisor could not provide one.
func (w *vgpuWatch) finish() []byte {
	if w.err != nil {
		return nil
	}
	b, err := w.summary()
	if err != nil && w.log != nil {
		w.log.Warn("vGPU watch lost; the run is kept without the hypervisor's view", "run", w.runID, "err", err)
	}
	return b
}

// cancel releases the stream; safe on a nil watch and more than once.
func (w *vgpuWatch) cancel() {
	if w != nil {
		w.stop()
	}
}

// recvWithin receives one event, giving up after watchTimeout. On a
// timeout the receiving goroutine ends when the caller cancels the stream,
// which every caller does.
func recvWithin(ctx context.Context, s grpc.BidiStreamingClient[gpuperfv1.WatchVgpuRequest, gpuperfv1.WatchVgpuEvent]) (*gpuperfv1.WatchVgpuEvent, error) {
	type got struct {
		ev  *gpuperfv1.WatchVgpuEvent
		err error
	}
	ch := make(chan got, 1)
	go func() {
		ev, err := s.Recv()
		if err == io.EOF {
			err = errors.New("the hypervisor agent closed the watch")
		}
		ch <- got{ev, err}
	}()
	t := time.NewTimer(watchTimeout)
	defer t.Stop()
	select {
	case g := <-ch:
		return g.ev, g.err
	case <-t.C:
		return nil, fmt.Errorf("no answer from the hypervisor agent within %s", watchTimeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
