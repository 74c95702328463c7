// Package agent is gpuperf's gRPC agent: it serves the Agent API on a host
// under test, running one load-generator run at a time against the
// backends its configuration offers.
package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/gpu/exporter"
	"github.com/gpuperf/gpuperf/gpu/host"
	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/builtin"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
	"github.com/gpuperf/gpuperf/results/mlperflog"
)

// Server implements gpuperfv1.AgentServer. It runs one run at a time.
type Server struct {
	gpuperfv1.UnimplementedAgentServer

	cfg      Config
	version  string
	log      *slog.Logger
	hostname string
	health   *health.Server
	labels   map[string]string // WithLabels

	// GPU: NVML (owned unless an option gave it), the host fingerprint,
	// and the run state Prometheus sees.
	gpu      *gpu.NVML
	ownGPU   bool
	hostOpts host.Options
	fp       gpu.Fingerprint
	runState *exporter.RunState

	// limits bound every run; maxDetail is the largest detail log a result
	// may carry (half the largest message, set by Serve).
	limits    limits
	maxDetail uint64

	// authFailures rate-limits the log of failed authentications.
	authFailures failureLog
	// newBackend builds a run's backend (builtin.New; tests swap it).
	newBackend func(kind string, opts map[string]string) (inference.Backend, error)

	mu   sync.Mutex
	busy *activeRun // nil when idle

	// nb are the neighbour loads running for coordinators (Interfere).
	nb neighbours
}

// activeRun is the run in progress.
type activeRun struct {
	id   string
	ctx  context.Context // done once the run is told to stop
	done chan struct{}   // closed when the run has drained and released
	// ending is set just before the result is sent: a client that sends
	// its next run as soon as it has the result is waited for, not
	// refused as "in progress", in the moment before the handler returns.
	ending atomic.Bool
}

var _ gpuperfv1.AgentServer = (*Server)(nil)

// NewServer returns an agent offering cfg's backends. version is gpuperf's
// version, reported by Describe and recorded in results. It opens NVML
// (see WithNVML); Close releases it.
func NewServer(cfg Config, version string, logger *slog.Logger, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("hostname: %w", err)
	}
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(gpuperfv1.Agent_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	lim, err := cfg.Limits.resolve(hostMemory)
	if err != nil {
		return nil, fmt.Errorf("agent config: limits: %w", err)
	}
	s := &Server{cfg: cfg, version: version, log: logger, hostname: host, health: hs, limits: lim, maxDetail: DefaultMaxMsgBytes / 2, newBackend: builtin.New}
	s.authFailures.log = logger
	for _, o := range opts {
		o(s)
	}
	s.setupGPU()
	return s, nil
}

// Register registers the Agent service, the standard health service
// (SERVING) and reflection on g.
func (s *Server) Register(g *grpc.Server) {
	gpuperfv1.RegisterAgentServer(g, s)
	healthpb.RegisterHealthServer(g, s.health)
	reflection.Register(g)
}

// Describe returns the host's fingerprint and the backends it offers.
func (s *Server) Describe(ctx context.Context, _ *gpuperfv1.DescribeRequest) (*gpuperfv1.DescribeResponse, error) {
	fp, err := s.fingerprintJSON(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "fingerprint: %v", err)
	}
	resp := &gpuperfv1.DescribeResponse{
		AgentVersion:    s.version,
		Hostname:        s.hostname,
		Os:              runtime.GOOS,
		Arch:            runtime.GOARCH,
		Cpus:            int32(runtime.NumCPU()),
		FingerprintJson: fp,
		Labels:          s.labels,
	}
	for _, b := range s.cfg.Backends {
		resp.Backends = append(resp.Backends, &gpuperfv1.BackendInfo{Name: b.Name, Kind: b.Kind, Options: b.Options})
	}
	s.mu.Lock()
	if s.busy != nil {
		resp.BusyRunId = s.busy.id
	}
	s.mu.Unlock()
	return resp, nil
}

// runPlan is a validated RunRequest.
type runPlan struct {
	id        string
	backend   BackendConfig
	cfg       inference.Config
	findPeak  bool
	precision float64
}

// maxNameBytes bounds the names a RunRequest carries (run ID, backend,
// model, profile), which end up in logs and errors.
const maxNameBytes = 256

// plan checks req, naming every field that is wrong, and holds it to the
// agent's limits.
func (s *Server) plan(req *gpuperfv1.RunRequest) (*runPlan, error) {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	for _, f := range []struct{ field, v string }{
		{"run_id", req.GetRunId()}, {"backend", req.GetBackend()}, {"model", req.GetModel()}, {"profile", req.GetProfile()},
	} {
		if len(f.v) > maxNameBytes || !utf8.ValidString(f.v) {
			return nil, status.Errorf(codes.InvalidArgument, "%s: must be valid UTF-8 of at most %d bytes, got %d bytes", f.field, maxNameBytes, len(f.v))
		}
	}
	p := &runPlan{id: req.GetRunId(), findPeak: req.GetFindPeak(), precision: req.GetPeakPrecision()}
	if p.id == "" {
		bad("run_id: must not be empty")
	}
	b, ok := s.cfg.lookup(req.GetBackend())
	if !ok {
		bad("backend: %q is not offered by this agent (offered: %s)", req.GetBackend(), strings.Join(s.cfg.names(), ", "))
	}
	p.backend = b
	prof, err := inference.ParseProfile(req.GetProfile())
	profileOK := err == nil
	if !profileOK {
		bad("profile: %v", err)
	}
	var settings inference.TestSettings
	settingsOK := false
	if len(req.GetSettingsJson()) == 0 {
		bad("settings_json: empty")
	} else if err := decodeStrict(req.GetSettingsJson(), &settings); err != nil {
		bad("settings_json: %v", err)
	} else if err := settings.Validate(); err != nil {
		bad("settings_json: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	} else {
		settingsOK = true
	}
	var qsl inference.QSL
	if settingsOK && profileOK {
		// The model key must exist; its data-set counts are the default QSL.
		if _, qsl, err = inference.Settings(req.GetModel(), settings.Scenario, prof); err != nil {
			bad("model: %v", err)
		}
	}
	qslOK := true
	if len(req.GetQslJson()) > 0 {
		if err := decodeStrict(req.GetQslJson(), &qsl); err != nil {
			bad("qsl_json: %v", err)
			qslOK = false
		}
	}
	if err := qsl.Validate(); err != nil {
		bad("qsl_json: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
		qslOK = false
	}
	if settingsOK {
		switch {
		case p.findPeak && settings.Scenario != inference.Server:
			bad("find_peak: applies only to the Server scenario, not %s", settings.Scenario)
		case !p.findPeak && settings.Mode == inference.FindPeakPerformance:
			bad("settings_json: mode FindPeakPerformance needs find_peak")
		}
	}
	if p.precision < 0 || math.IsNaN(p.precision) || math.IsInf(p.precision, 0) || p.precision > inference.MaxRate {
		bad("peak_precision: must be zero or a positive number of at most %g QPS, got %v", float64(inference.MaxRate), p.precision)
	}
	if settingsOK && qslOK {
		if err := s.limits.check(settings, qsl, s.maxDetail); err != nil {
			bad("settings_json: %v", err)
		}
	}
	if len(errs) > 0 {
		return nil, status.Error(codes.InvalidArgument, strings.Join(errs, "; "))
	}
	p.cfg = inference.Config{
		Settings:    settings,
		QSL:         qsl,
		Model:       req.GetModel(),
		Profile:     prof,
		Version:     s.version,
		BackendOpts: b.Options,
		AutoHint:    req.GetAutoHint(),
		SeedSet:     int(req.GetSeedSet()),
		// Both sides of a comparison run this same rule, so their settings
		// stay comparable: only a hint the backend's rate outran changes.
		Rerun: true,
		// A warm-up hint or a peak probe may make the run larger than the
		// request: the generator checks again before it allocates.
		MemoryLimit:     s.limits.memory,
		MemoryLimitName: s.limits.memoryName,
	}
	return p, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data, so a typo in a setting is an error rather than a default.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if err := dec.Decode(new(json.RawMessage)); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

// acquire makes id the run in progress, stopped by ctx, or names the one
// that is. A run that was cancelled and is only draining, or that is
// sending its result, is waited for (as long as ctx allows), so a
// coordinator that comes back after an interrupt is not refused for the
// drain, nor a client that starts its next run on the result.
func (s *Server) acquire(ctx context.Context, id string) (*activeRun, error) {
	for {
		s.mu.Lock()
		cur := s.busy
		if cur == nil {
			ar := &activeRun{id: id, ctx: ctx, done: make(chan struct{})}
			s.busy = ar
			s.mu.Unlock()
			return ar, nil
		}
		s.mu.Unlock()
		if cur.ctx.Err() == nil && !cur.ending.Load() {
			return nil, status.Errorf(codes.FailedPrecondition, "run %q is in progress on this agent", cur.id)
		}
		select {
		case <-cur.done:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
}

func (s *Server) release(ar *activeRun) {
	s.mu.Lock()
	s.busy = nil
	s.mu.Unlock()
	close(ar.done)
}

// heartbeat is how long Run lets pass without an event before it repeats
// the latest progress: the run itself reports once a second while it
// issues and drains, and says nothing while it prepares, warms up,
// generates its queries or computes its statistics. The coordinator's
// watchdog tells a live agent from a frozen one by these events.
// heartbeatCheck is how often it looks.
const (
	heartbeat      = 1250 * time.Millisecond
	heartbeatCheck = 250 * time.Millisecond
)

// errMaxDuration is the cause of a run stopped at max_run_duration.
var errMaxDuration = errors.New("max_run_duration reached")

// panicError is a panic recovered in a run.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("internal error: %v", e.value) }

// runOutput is what a run's goroutine hands back.
type runOutput struct {
	res *inference.Result
	csv []byte // telemetry.csv
	err error
}

// Run executes one run and streams its progress, then its result.
func (s *Server) Run(req *gpuperfv1.RunRequest, stream grpc.ServerStreamingServer[gpuperfv1.RunEvent]) error {
	p, err := s.plan(req)
	if err != nil {
		return err
	}
	// The run stops when the client goes away, a send fails or the
	// agent's max_run_duration passes.
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	if s.limits.duration > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, s.limits.duration, errMaxDuration)
		defer stop()
	}
	ar, err := s.acquire(ctx, p.id)
	if err != nil {
		return err
	}
	defer s.release(ar)

	log := s.log.With("run_id", p.id, "backend", p.backend.Name)
	log.Info("run started", "model", p.cfg.Model, "scenario", p.cfg.Settings.Scenario, "profile", p.cfg.Profile, "find_peak", p.findPeak)
	s.runState.Start(p.id, p.backend.Name, p.cfg.Model, p.cfg.Settings.Scenario.String())

	// gRPC streams do not allow concurrent Send: the engine's progress
	// callback hands snapshots to this goroutine, keeping only the newest
	// so a slow client never stalls the generator.
	progress := make(chan inference.Progress, 1)
	p.cfg.Progress = func(pr inference.Progress) {
		s.runState.Progress(pr.Phase, pr.Elapsed.Seconds(), pr.Issued, pr.Completed)
		select {
		case progress <- pr:
			return
		default:
		}
		select {
		case <-progress:
		default:
		}
		select {
		case progress <- pr:
		default:
		}
	}
	p.cfg.Logger = log

	done := make(chan runOutput, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		var o runOutput
		defer func() { done <- o }()
		// A panic ends this run, not the agent.
		defer func() {
			if v := recover(); v != nil {
				log.Error("the run panicked; the agent stays up", "panic", v, "stack", string(debug.Stack()))
				o = runOutput{err: &panicError{value: v}}
			}
		}()
		o = s.execute(ctx, p, log)
	})

	// Until the timed run reports, the heartbeat says the run is warming
	// up (the coordinator opens a hypervisor's window at the first other
	// phase); after that it repeats the latest progress.
	last := progressEvent(inference.Progress{Phase: "warm-up"})
	tick := time.NewTicker(heartbeatCheck)
	defer tick.Stop()
	var sendErr error
	send := func(ev *gpuperfv1.RunEvent) {
		if sendErr != nil {
			return
		}
		if sendErr = stream.Send(ev); sendErr != nil {
			if stream.Context().Err() == nil {
				log.Warn("progress not sent; stopping the run", "err", sendErr)
			}
			cancel()
		}
	}
	send(last)
	sent := time.Now()
	var o runOutput
wait:
	for {
		select {
		case pr := <-progress:
			last = progressEvent(pr)
			send(last)
			sent = time.Now()
		case <-tick.C:
			if time.Since(sent) >= heartbeat {
				send(last)
				sent = time.Now()
			}
		case o = <-done:
			break wait
		}
	}

	finish := func(metric, unit string, v float64) {
		s.runState.Finish(runOutcome(o.res, o.err, stream.Context().Err() != nil), metric, unit, v)
	}
	var pe *panicError
	switch {
	case errors.As(o.err, &pe):
		finish("", "", 0)
		return status.Errorf(codes.Internal, "run %q: %v (the agent's log has the stack; the agent stays up)", p.id, o.err)
	case o.err != nil && stream.Context().Err() != nil:
		finish("", "", 0)
		log.Info("run cancelled; drained", "err", o.err)
		return status.Errorf(codes.Canceled, "run %q: %v", p.id, o.err)
	case sendErr != nil:
		finish("", "", 0)
		return status.Errorf(status.Code(sendErr), "run %q: sending progress: %v", p.id, sendErr)
	case o.err != nil && errors.Is(context.Cause(ctx), errMaxDuration):
		finish("", "", 0)
		log.Warn("run stopped at max_run_duration", "limit", s.limits.duration)
		return status.Errorf(codes.DeadlineExceeded, "run %q: stopped at the agent's limit of %s (max_run_duration): %v", p.id, s.limits.duration, o.err)
	case errors.Is(o.err, inference.ErrRunTooLarge):
		finish("", "", 0)
		log.Warn("run refused", "err", o.err)
		return status.Errorf(codes.InvalidArgument, "run %q: %v", p.id, o.err)
	case o.err != nil:
		finish("", "", 0)
		if st, ok := status.FromError(o.err); ok {
			return st.Err()
		}
		log.Error("run failed", "err", o.err)
		return status.Errorf(codes.Internal, "run %q: %v", p.id, o.err)
	case o.res == nil:
		finish("", "", 0)
		return status.Errorf(codes.Internal, "run %q: the load generator returned no result", p.id)
	}
	finish(o.res.Metric.Name, o.res.Metric.Unit, o.res.Metric.Value)
	ev, err := resultEvent(o.res, o.csv)
	if err != nil {
		return status.Errorf(codes.Internal, "run %q: %v", p.id, err)
	}
	ar.ending.Store(true)
	if err := stream.Send(ev); err != nil {
		return err
	}
	log.Info("run finished", "valid", o.res.Validity.Valid, "metric", o.res.Metric.Name, "value", o.res.Metric.Value,
		"duration", time.Duration(o.res.DurationNs))
	return nil
}

// execute builds the backend, records the GPU's state, runs (or searches
// for the peak) and attaches the telemetry. Its errors that are not the
// run's own carry a gRPC status.
func (s *Server) execute(ctx context.Context, p *runPlan, log *slog.Logger) runOutput {
	b, err := s.newBackend(p.backend.Kind, p.backend.Options)
	if err != nil {
		return runOutput{err: status.Errorf(codes.Internal, "backend %q: %v", p.backend.Name, err)}
	}
	// The GPU's state is recorded before the warm-up; the sampler runs
	// inside the timed run's window only.
	tel, err := s.preflight(log)
	if err != nil {
		return runOutput{err: status.Errorf(codes.FailedPrecondition, "run %q: preflight: %v", p.id, err)}
	}
	if tel.sampler != nil {
		defer tel.sampler.Close()
		p.cfg.Window = tel.sampler.Window
	}
	var o runOutput
	if p.findPeak {
		o.res, o.err = inference.FindPeak(ctx, b, p.cfg, p.precision)
	} else {
		o.res, o.err = inference.Run(ctx, b, p.cfg)
	}
	if o.err != nil || o.res == nil {
		return o
	}
	if o.csv, err = tel.attach(o.res); err != nil {
		log.Warn("telemetry not recorded", "err", err)
	}
	return o
}

func progressEvent(pr inference.Progress) *gpuperfv1.RunEvent {
	return &gpuperfv1.RunEvent{Event: &gpuperfv1.RunEvent_Progress{Progress: &gpuperfv1.Progress{
		Phase:            pr.Phase,
		ElapsedNs:        int64(pr.Elapsed),
		QueriesIssued:    pr.Issued,
		SamplesCompleted: pr.Completed,
		QueriesPlanned:   pr.Total,
		TargetNs:         int64(pr.Target),
	}}}
}

// resultEvent renders the run's files: result.json exactly as
// mlperflog.WriteRunDir writes it, and the two MLPerf logs.
func resultEvent(res *inference.Result, telemetryCSV []byte) (*gpuperfv1.RunEvent, error) {
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding result.json: %w", err)
	}
	var summary, detail bytes.Buffer
	if err := mlperflog.WriteSummary(&summary, res); err != nil {
		return nil, fmt.Errorf("rendering the summary log: %w", err)
	}
	if err := mlperflog.WriteDetail(&detail, res); err != nil {
		return nil, fmt.Errorf("rendering the detail log: %w", err)
	}
	return &gpuperfv1.RunEvent{Event: &gpuperfv1.RunEvent_Result{Result: &gpuperfv1.RunResult{
		ResultJson:   append(js, '\n'),
		SummaryLog:   summary.Bytes(),
		DetailLog:    detail.Bytes(),
		TelemetryCsv: telemetryCSV,
	}}}, nil
}
