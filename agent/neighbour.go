package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/builtin"
	"github.com/gpuperf/gpuperf/interference"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// NeighbourConfig is agent.yaml's neighbours section: the loads this agent
// runs for a coordinator measuring a co-tenant (the Interfere call).
type NeighbourConfig struct {
	// Allow lists the kinds of load the agent runs (cpu,
	// memory-bandwidth, network, disk, gpu); empty allows every kind.
	Allow []string `mapstructure:"allow"`
	// TempDir is where a disk load writes its file; empty is the system's
	// temporary folder.
	TempDir string `mapstructure:"temp_dir"`
}

func (n NeighbourConfig) validate(where string) error {
	var errs []error
	for i, k := range n.Allow {
		if !slices.Contains(interference.Kinds(), k) {
			errs = append(errs, fmt.Errorf("%sneighbours.allow[%d]: unknown kind %q (want %s)", where, i, k, strings.Join(interference.Kinds(), ", ")))
		}
	}
	return errors.Join(errs...)
}

func (n NeighbourConfig) allows(kind string) bool {
	if kind == interference.KindNetworkSink {
		kind = interference.KindNetwork // a sink is a network load's other end
	}
	return len(n.Allow) == 0 || slices.Contains(n.Allow, kind)
}

// Limits of the Interfere call.
const (
	// maxNeighbours bounds the loads one agent runs at once.
	maxNeighbours = 8
	// maxNeighbourDeadline bounds how long a coordinator may ask a load to
	// run before the agent stops it on its own.
	maxNeighbourDeadline = 24 * time.Hour
)

// errNeighbourDeadline is the cause of a load's context ending at its
// deadline.
var errNeighbourDeadline = errors.New("the load's deadline passed")

// neighbours tracks the loads running on this agent.
type neighbours struct {
	mu    sync.Mutex
	loads map[*interference.Load]string // → the measured run's id
}

func (n *neighbours) add(l *interference.Load, runID string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.loads) >= maxNeighbours {
		return false
	}
	if n.loads == nil {
		n.loads = map[*interference.Load]string{}
	}
	n.loads[l] = runID
	return true
}

func (n *neighbours) remove(l *interference.Load) {
	n.mu.Lock()
	delete(n.loads, l)
	n.mu.Unlock()
}

// Neighbours describes the loads this agent is running now, one line each
// ("cpu: 2 cores busy 50% of the time, for run R"); none when idle.
func (s *Server) Neighbours() []string {
	s.nb.mu.Lock()
	defer s.nb.mu.Unlock()
	var out []string
	for l, run := range s.nb.loads {
		out = append(out, fmt.Sprintf("%s: %s, for run %s", l.Spec().Kind, l.Spec().Describe(), run))
	}
	slices.Sort(out)
	return out
}

// Interfere runs a neighbour load from the first request until the
// coordinator closes its side, the request's deadline passes or the
// stream is cancelled, and reports what the load achieved. It does not
// take the run slot.
func (s *Server) Interfere(stream grpc.BidiStreamingServer[gpuperfv1.InterfereRequest, gpuperfv1.InterfereEvent]) error {
	req, err := stream.Recv()
	if err != nil {
		return err
	}
	spec, deadline, err := s.neighbourRequest(req)
	if err != nil {
		return err
	}
	log := s.log.With("neighbour_for", req.GetRunId(), "load", spec.Kind)
	// The deadline holds whatever the coordinator does; cancelling the
	// stream (the coordinator interrupted, or gone) stops the load too.
	ctx, cancel := context.WithTimeoutCause(stream.Context(), deadline, errNeighbourDeadline)
	defer cancel()
	env := interference.Env{TempDir: s.cfg.Neighbours.TempDir, Backend: s.neighbourBackend, Logger: log}
	if p, ok := peer.FromContext(stream.Context()); ok && p.LocalAddr != nil {
		// A sink listens where the coordinator reached this agent, so a
		// peer that the coordinator can reach reaches it too.
		env.SinkHost, _, _ = net.SplitHostPort(p.LocalAddr.String())
	}
	load, err := interference.Start(ctx, spec, env)
	if err != nil {
		return status.Errorf(codes.FailedPrecondition, "neighbour load: %v", err)
	}
	if !s.nb.add(load, req.GetRunId()) {
		load.Stop()
		return status.Errorf(codes.ResourceExhausted, "this agent already runs %d neighbour loads", maxNeighbours)
	}
	defer s.nb.remove(load)
	defer load.Stop()
	log.Info("neighbour load started", "what", load.Spec().Describe(), "deadline", deadline)
	started := &gpuperfv1.InterfereEvent{Event: &gpuperfv1.InterfereEvent_Started{Started: true}}
	if sink, ok := load.Sink(); ok {
		b, err := json.Marshal(sink)
		if err != nil {
			return status.Errorf(codes.Internal, "encode the sink's address: %v", err)
		}
		started = &gpuperfv1.InterfereEvent{Event: &gpuperfv1.InterfereEvent_SinkJson{SinkJson: b}}
	}
	if err := stream.Send(started); err != nil {
		return err
	}

	// The load may stop by itself (its deadline, or a failure) while this
	// goroutine waits for the coordinator: a watcher reports it then,
	// unasked, so the coordinator learns that its phase lost its load.
	report := func(by string) error {
		r := load.Stop()
		s.nb.remove(load)
		r.RunID = req.GetRunId()
		if r.StoppedBy == "" {
			r.StoppedBy = by
		}
		log.Info("neighbour load stopped", "by", r.StoppedBy, "achieved", r.AchievedText(), "err", r.Error)
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return status.Errorf(codes.Internal, "encode the neighbour's report: %v", err)
		}
		b = append(b, '\n') // stored as neighbour.json
		return stream.Send(&gpuperfv1.InterfereEvent{Event: &gpuperfv1.InterfereEvent_ReportJson{ReportJson: b}})
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	var sent sync.Once
	var sendErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-load.Done():
		case <-watchCtx.Done():
		}
		switch {
		case stream.Context().Err() != nil:
			return // the coordinator went away
		case watchCtx.Err() != nil && ctx.Err() == nil:
			return // the coordinator closed: the loop below reports
		}
		by := interference.StoppedByError
		if errors.Is(context.Cause(ctx), errNeighbourDeadline) {
			by = interference.StoppedByDeadline
		}
		sent.Do(func() { sendErr = report(by) })
	})
	for {
		_, err := stream.Recv()
		if err == nil {
			continue
		}
		stopWatch()
		wg.Wait()
		if errors.Is(err, io.EOF) {
			sent.Do(func() { sendErr = report(interference.StoppedByCoordinator) })
			return sendErr
		}
		// The coordinator went away: there is no one to report to.
		r := load.Stop()
		log.Info("neighbour load cancelled", "achieved", r.AchievedText())
		return err
	}
}

// neighbourRequest checks an Interfere request, naming every field that
// is wrong.
func (s *Server) neighbourRequest(req *gpuperfv1.InterfereRequest) (interference.Spec, time.Duration, error) {
	var errs []string
	var spec interference.Spec
	if len(req.GetLoadJson()) == 0 {
		errs = append(errs, "load_json: empty")
	} else if err := decodeStrict(req.GetLoadJson(), &spec); err != nil {
		errs = append(errs, fmt.Sprintf("load_json: %v", err))
	} else if err := spec.Validate(); err != nil {
		errs = append(errs, "load_json: "+strings.ReplaceAll(err.Error(), "\n", "; "))
	} else if !s.cfg.Neighbours.allows(spec.Kind) {
		return spec, 0, status.Errorf(codes.PermissionDenied, "this agent does not run %s loads (neighbours.allow: %s)", spec.Kind, strings.Join(s.cfg.Neighbours.Allow, ", "))
	} else if spec.Kind == interference.KindGPU {
		if _, ok := s.cfg.lookup(spec.Backend); !ok {
			errs = append(errs, fmt.Sprintf("load_json: backend: %q is not offered by this agent (offered: %s)", spec.Backend, strings.Join(s.cfg.names(), ", ")))
		}
	}
	d := time.Duration(req.GetDeadlineNs())
	if d <= 0 || d > maxNeighbourDeadline {
		errs = append(errs, fmt.Sprintf("deadline_ns: must be positive and at most %s, got %v", maxNeighbourDeadline, d))
	}
	if len(errs) > 0 {
		return spec, 0, status.Error(codes.InvalidArgument, strings.Join(errs, "; "))
	}
	return spec, d, nil
}

// neighbourBackend builds the backend a gpu load drives, as a run would.
func (s *Server) neighbourBackend(name string) (inference.Backend, error) {
	b, ok := s.cfg.lookup(name)
	if !ok {
		return nil, fmt.Errorf("not offered by this agent (offered: %s)", strings.Join(s.cfg.names(), ", "))
	}
	return builtin.New(b.Kind, b.Options)
}
