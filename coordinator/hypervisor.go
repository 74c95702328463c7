package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// hypervisorConn is the agent on a candidate's vGPU hypervisor host.
type hypervisorConn struct {
	spec   AgentSpec
	conn   *grpc.ClientConn
	client gpuperfv1.AgentClient
	// desc is the hypervisor agent's Describe answer: its fingerprint
	// holds the vGPU manager's driver version.
	desc *gpuperfv1.DescribeResponse
	// timeout bounds each answer; watchTimeout unless a test shortens it.
	timeout time.Duration
}

// watchTimeout bounds the hypervisor's answers (started, and the summary
// after the window closes), so a dead hypervisor agent never holds a run.
const watchTimeout = 10 * time.Second

// dialHypervisor connects to a candidate's hypervisor agent, asks it to
// describe its host, and checks, with an empty window, that it can watch
// vGPUs: a plan that asks for it
// fails before any run rather than quietly losing the host's view.
func dialHypervisor(ctx context.Context, a AgentSpec) (*hypervisorConn, error) {
	spec := a.Hypervisor.Spec(a)
	conn, err := dial(spec)
	if err != nil {
		return nil, fmt.Errorf("agent %s: hypervisor %s: %w", a.Name, spec.Address, err)
	}
	h := &hypervisorConn{spec: spec, conn: conn, client: gpuperfv1.NewAgentClient(conn), timeout: watchTimeout}
	dctx, cancel := context.WithTimeout(ctx, describeTimeout)
	h.desc, err = h.client.Describe(dctx, &gpuperfv1.DescribeRequest{})
	cancel()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("agent %s: hypervisor %s: describe: %w", a.Name, spec.Address, describeStatus(err))
	}
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
	stream  grpc.BidiStreamingClient[gpuperfv1.WatchVgpuRequest, gpuperfv1.WatchVgpuEvent]
	stop    context.CancelFunc
	timeout time.Duration
	err     error
	log     *slog.Logger
	runID   string
}

// start opens a window and waits for the hypervisor to confirm it. A
// failure is kept in the watch: the candidate's run goes on without it.
func (h *hypervisorConn) start(ctx context.Context, runID string, log *slog.Logger) *vgpuWatch {
	ctx, stop := context.WithCancel(ctx)
	w := &vgpuWatch{stop: stop, timeout: h.timeout, log: log, runID: runID}
	w.stream, w.err = h.client.WatchVgpu(ctx)
	if w.err == nil {
		w.err = w.stream.Send(&gpuperfv1.WatchVgpuRequest{RunId: runID})
	}
	if w.err == nil {
		var ev *gpuperfv1.WatchVgpuEvent
		if ev, w.err = w.recv(); w.err == nil && !ev.GetStarted() {
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
	ev, err := w.recv()
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

// recv receives one event, giving up after the watch's timeout. A timeout
// cancels the stream, which ends the Recv: the watch is lost either way,
// and no goroutine is left waiting on a silent hypervisor.
func (w *vgpuWatch) recv() (*gpuperfv1.WatchVgpuEvent, error) {
	var timedOut atomic.Bool
	t := time.AfterFunc(w.timeout, func() {
		timedOut.Store(true)
		w.stop()
	})
	ev, err := w.stream.Recv()
	t.Stop()
	switch {
	case timedOut.Load():
		return nil, fmt.Errorf("no answer from the hypervisor agent within %s", w.timeout)
	case err == io.EOF:
		return nil, errors.New("the hypervisor agent closed the watch")
	}
	return ev, err
}
