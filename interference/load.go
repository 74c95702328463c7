package interference

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gpuperf/gpuperf/inference"
)

// ReportSchema versions a Report's JSON (neighbour.json in a run folder).
const ReportSchema = "gpuperf.neighbour/v1"

// Why a load stopped (Report.StoppedBy).
const (
	// StoppedByCoordinator: the coordinator ended the load with its phase.
	StoppedByCoordinator = "coordinator"
	// StoppedByDeadline: the agent's own deadline ended it.
	StoppedByDeadline = "deadline"
	// StoppedByCancel: the coordinator went away (interrupted, or its
	// connection broke).
	StoppedByCancel = "cancelled"
	// StoppedByError: the load failed (Report.Error says how).
	StoppedByError = "error"
)

// Report is what a load achieved, measured by the load itself.
type Report struct {
	Schema string `json:"schema"`
	// Load is the load as it ran (defaults applied); Description says it
	// in words.
	Load        Spec   `json:"load"`
	Description string `json:"description"`
	// RunID is the measured run the load interfered with.
	RunID      string    `json:"run_id,omitempty"`
	Started    time.Time `json:"started"`
	DurationNs int64     `json:"duration_ns"`
	// Achieved is the load's own rate over its duration, in Unit: the
	// duty cycle per core in % (cpu, from the threads' CPU time in /proc),
	// GB/s read plus written (memory-bandwidth), MB/s received (network),
	// MB/s written and fsync'd (disk), completed samples/s (gpu). Target
	// is the rate asked for, zero when flat out.
	Achieved float64 `json:"achieved"`
	Target   float64 `json:"target,omitempty"`
	Unit     string  `json:"unit"`
	// CPUSeconds is the CPU time the load's threads used, read from /proc
	// (cpu and memory-bandwidth loads, on Linux).
	CPUSeconds *float64 `json:"cpu_seconds,omitempty"`
	// Counters are the load's raw counts (bytes, fsyncs, samples issued
	// and completed, errors).
	Counters  map[string]float64 `json:"counters,omitempty"`
	StoppedBy string             `json:"stopped_by,omitempty"`
	Error     string             `json:"error,omitempty"`
}

// AchievedText is the achieved rate in words, with the target when there
// is one.
func (r Report) AchievedText() string {
	s := WithUnit(r.Achieved, r.Unit)
	if r.Target > 0 {
		s += fmt.Sprintf(" (target %.3g)", r.Target)
	}
	return s
}

// WithUnit prints a rate in its unit: "49.8% duty", "12.1 GB/s".
func WithUnit(v float64, unit string) string {
	if strings.HasPrefix(unit, "%") {
		return fmt.Sprintf("%.3g%s", v, unit)
	}
	return fmt.Sprintf("%.3g %s", v, unit)
}

// Env is what a load needs from the agent that runs it.
type Env struct {
	// TempDir is where a disk load writes its file; empty is the system's
	// temporary folder.
	TempDir string
	// Backend builds the backend a gpu load drives, by the name the agent
	// offers it under.
	Backend func(name string) (inference.Backend, error)
	// SinkHost is the address a network-sink listens on: the one the
	// coordinator reached the agent on, so the peer can too.
	SinkHost string
	Logger   *slog.Logger
}

// Load is a running neighbour load. Stop it with Stop.
type Load struct {
	spec    Spec
	started time.Time
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu       sync.Mutex
	err      error   // the first error a worker hit
	cpuSecs  float64 // from /proc, summed over the load's threads
	cpuKnown bool

	// sinkAddr and sinkToken are where a network-sink listens and what it
	// asks a stream for.
	sinkAddr, sinkToken string

	// finish fills the kind's figures once the workers have ended.
	finish   func(r *Report, d time.Duration)
	stopOnce sync.Once
	report   Report
}

// Start validates s, applies its defaults and starts it. It returns once
// the load runs; the load runs until Stop is called or ctx is done.
func Start(ctx context.Context, s Spec, env Env) (*Load, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.WithDefaults()
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	l := &Load{spec: s, ctx: ctx, cancel: cancel}
	var err error
	switch s.Kind {
	case KindCPU:
		l.finish = startCPU(l)
	case KindMemoryBandwidth:
		l.finish, err = startMemory(l)
	case KindNetwork:
		l.finish, err = startNetwork(l)
	case KindDisk:
		l.finish, err = startDisk(l, env.TempDir)
	case KindGPU:
		l.finish, err = startGPU(l, env)
	case KindNetworkSink:
		l.finish, err = startSink(l, env.SinkHost)
	default:
		err = fmt.Errorf("kind %q: not runnable", s.Kind)
	}
	if err != nil {
		cancel()
		l.wg.Wait()
		return nil, fmt.Errorf("%s load: %w", s.Kind, err)
	}
	// The load counts from here: its buffers, files and connections are
	// ready and its workers started.
	l.started = time.Now()
	return l, nil
}

// Spec returns the load as it runs, defaults applied.
func (l *Load) Spec() Spec { return l.spec }

// SinkInfo is where a network-sink listens (host:port) and the token it
// asks each stream for.
type SinkInfo struct {
	Address string `json:"address"`
	Token   string `json:"token"`
}

// Sink returns a network-sink's SinkInfo; ok is false for other kinds.
func (l *Load) Sink() (SinkInfo, bool) {
	return SinkInfo{Address: l.sinkAddr, Token: l.sinkToken}, l.sinkAddr != ""
}

// Done is closed when the load stops by itself: its context ended, or a
// worker failed.
func (l *Load) Done() <-chan struct{} { return l.ctx.Done() }

// Stop stops the load, waits for its workers and reports what it
// achieved. It may be called more than once; every call returns the same
// report.
func (l *Load) Stop() Report {
	l.stopOnce.Do(func() {
		l.cancel()
		l.wg.Wait()
		d := time.Since(l.started)
		r := Report{
			Schema: ReportSchema, Load: l.spec, Description: l.spec.Describe(),
			Started: l.started.UTC(), DurationNs: int64(d), Counters: map[string]float64{},
		}
		l.mu.Lock()
		if l.cpuKnown {
			v := l.cpuSecs
			r.CPUSeconds = &v
		}
		if l.err != nil {
			r.Error, r.StoppedBy = l.err.Error(), StoppedByError
		}
		l.mu.Unlock()
		if l.finish != nil && d > 0 {
			l.finish(&r, d)
		}
		l.report = r
	})
	return l.report
}

// fail records a worker's error and stops the load.
func (l *Load) fail(err error) {
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
	l.cancel()
}

// addCPU adds one thread's CPU time, as /proc read it.
func (l *Load) addCPU(secs float64) {
	l.mu.Lock()
	l.cpuSecs += secs
	l.cpuKnown = true
	l.mu.Unlock()
}

// sleepCtx sleeps for d or until ctx is done; false when ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// pacer caps a byte rate: after n bytes in total it waits until the
// rate allows them.
type pacer struct {
	start       time.Time
	bytesPerSec float64 // zero: no cap
}

func newPacer(rateMBps float64, share int) pacer {
	p := pacer{start: time.Now()}
	if rateMBps > 0 && share > 0 {
		p.bytesPerSec = rateMBps * 1e6 / float64(share)
	}
	return p
}

// wait returns false when ctx ended while waiting.
func (p pacer) wait(ctx context.Context, total uint64) bool {
	if p.bytesPerSec == 0 {
		return ctx.Err() == nil
	}
	due := p.start.Add(time.Duration(float64(total) / p.bytesPerSec * float64(time.Second)))
	return sleepCtx(ctx, time.Until(due))
}
