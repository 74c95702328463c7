package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/internal/rpcerr"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
	"github.com/gpuperf/gpuperf/results"
)

// Display shows a plan's runs as they happen. The coordinator calls it from
// one goroutine per agent, so implementations must be safe for concurrent
// use.
type Display interface {
	RunStarted(r results.RunRecord)
	RunProgress(r results.RunRecord, p *gpuperfv1.Progress)
	RunFinished(r results.RunRecord)
}

// Runner executes a plan across its agents.
type Runner struct {
	Plan *Plan
	// PlanYAML is stored as plan.yaml in the tree.
	PlanYAML []byte
	Version  string
	RunID    string
	Logger   *slog.Logger
	Display  Display

	// seeds is the run's seed mode: the plan's, or fixed when a stored
	// baseline ran with fixed seeds.
	seeds string

	mu    sync.Mutex // serializes manifest updates from parallel runs, and guards state
	state planState
	// writeRun stores a run's files; nil is the tree's WriteRun (tests
	// put a failing disk in its place).
	writeRun func(rel string, f results.RunFiles) error
	// peers are the agents network loads stream to, by load name.
	peers map[string]*neighbourConn
}

// agentConn is one agent of the plan, dialled and described.
type agentConn struct {
	spec   AgentSpec
	conn   *grpc.ClientConn
	client gpuperfv1.AgentClient
	desc   *gpuperfv1.DescribeResponse
	// hyper is the agent on a candidate's vGPU hypervisor host, if any.
	hyper *hypervisorConn
	// neighbour runs the plan's interference loads beside this agent.
	neighbour *neighbourConn
}

// ErrRunsFailed reports that some runs failed after their retries; the rest
// of the plan's results are stored.
var ErrRunsFailed = errors.New("some runs failed")

// Execute runs the plan: describe every agent, calibrate on the baseline,
// run the schedule, store each run as it finishes, and compare. The tree
// and manifest are returned even with an error, holding what finished.
func (r *Runner) Execute(ctx context.Context) (*results.Tree, *results.Manifest, error) {
	p := r.Plan
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	var stored *storedBaseline
	if p.Baseline != "" {
		var err error
		if stored, err = r.openBaseline(); err != nil {
			return nil, nil, err
		}
	}
	agents, err := r.connect(ctx)
	defer func() {
		closePeers(r.peers)
		for _, a := range agents {
			a.conn.Close()
			if a.hyper != nil {
				a.hyper.conn.Close()
			}
			if a.neighbour != nil {
				a.neighbour.conn.Close()
			}
		}
	}()
	if err != nil {
		return nil, nil, err
	}
	tree, err := results.Create(p.Output, r.RunID)
	if err != nil {
		return nil, nil, err
	}
	r.seeds = p.SeedsMode()
	if stored != nil && !stored.seedsVaried {
		r.seeds = results.SeedsFixed
	}
	m := &results.Manifest{
		Schema: results.ManifestSchema, RunID: r.RunID, Version: r.Version, StartedAt: time.Now().UTC(),
		Model: p.Workload.Model, Backend: p.Workload.Backend, Profile: p.Profile, Order: p.Order, Seeds: r.seeds,
		Interference: p.interferenceRecords(),
	}
	if err := tree.WriteFile("plan.yaml", r.PlanYAML); err != nil {
		return tree, m, err
	}
	for _, a := range agents {
		neighbours := a.spec.Neighbours
		if neighbours == "" && a.spec.Role == results.RoleCandidate {
			neighbours = p.Neighbours
		}
		m.Hosts = append(m.Hosts, results.Host{Name: a.spec.Name, Address: a.spec.Address, Role: a.spec.Role, Neighbours: neighbours})
		js, err := describeJSON.Marshal(a.desc)
		if err != nil {
			return tree, m, fmt.Errorf("encode %s description: %w", a.spec.Name, err)
		}
		if err := tree.WriteHost(a.spec.Name, js); err != nil {
			return tree, m, err
		}
		if a.hyper != nil {
			js, err := describeJSON.Marshal(a.hyper.desc)
			if err != nil {
				return tree, m, fmt.Errorf("encode %s's hypervisor description: %w", a.spec.Name, err)
			}
			if err := tree.WriteHypervisor(a.spec.Name, js); err != nil {
				return tree, m, err
			}
		}
	}

	var settings map[inference.Scenario]inference.TestSettings
	if stored != nil {
		if settings, err = stored.importInto(tree, m); err != nil {
			_ = tree.WriteManifest(m)
			return tree, m, err
		}
	} else {
		if settings, err = r.baseSettings(); err != nil {
			return tree, m, err
		}
		if err := r.calibrate(ctx, agents, settings, m); err != nil {
			_ = tree.WriteManifest(m)
			return tree, m, fmt.Errorf("calibration on %s: %w", baselineOf(agents).spec.Name, err)
		}
	}

	if p.RepetitionsAuto {
		return r.executeAuto(ctx, tree, m, agents, settings)
	}
	steps := withPhases(schedule(p, agents), p)
	failed, err := r.runSteps(ctx, tree, m, steps, settings)
	if err != nil {
		return tree, m, err
	}
	return r.finish(ctx, tree, m, failed)
}

// runSteps records steps' runs as pending in the manifest (after any
// already there: imported baseline runs come first), then runs the steps
// one after another, each step's jobs together, storing each run as it
// ends. It stops early when the plan is interrupted or a fatal error
// (a full disk) stops it. failed reports a run that failed or was skipped;
// err is the first write of the manifest failing.
func (r *Runner) runSteps(ctx context.Context, tree *results.Tree, m *results.Manifest, steps [][]job,
	settings map[inference.Scenario]inference.TestSettings) (failed bool, err error) {
	r.mu.Lock()
	first := len(m.Runs)
	for i := range steps {
		for _, j := range steps[i] {
			m.Runs = append(m.Runs, results.RunRecord{
				Host: j.agent.spec.Name, Role: j.agent.spec.Role, Scenario: j.scenario.String(),
				Interference: j.phaseName(), Repetition: j.rep, Sequence: len(m.Runs), Status: results.StatusPending,
			})
		}
	}
	err = tree.WriteManifest(m)
	r.mu.Unlock()
	if err != nil {
		return false, err
	}
	seq := first
	for _, step := range steps {
		var wg sync.WaitGroup
		for _, j := range step {
			idx := seq
			seq++
			wg.Go(func() {
				// Work on a copy: under order parallel another goroutine
				// may be encoding the manifest meanwhile.
				r.mu.Lock()
				rec := m.Runs[idx]
				skip := r.skipReason(j, m.Runs)
				r.mu.Unlock()
				if skip != "" {
					rec.Status, rec.Error = results.StatusSkipped, skip
					r.display().RunFinished(rec)
				} else {
					r.runOneRecovered(ctx, tree, j, settings[j.scenario], &rec)
				}
				r.mu.Lock()
				m.Runs[idx] = rec
				if rec.Status == results.StatusFailed || rec.Status == results.StatusSkipped {
					failed = true
				}
				if err := tree.WriteManifest(m); err != nil {
					r.Logger.Error("store run.json", "err", err)
					if fatalLocal(err) && r.state.fatal == nil {
						r.state.fatal = &storeError{err: err}
					}
				}
				r.mu.Unlock()
			})
		}
		wg.Wait()
		if ctx.Err() != nil || r.fatal() != nil {
			break
		}
	}
	return failed, nil
}

// fatal is the error that stopped the plan, if any.
func (r *Runner) fatal() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state.fatal
}

// job is one run of the schedule.
type job struct {
	agent    *agentConn
	scenario inference.Scenario
	rep      int
	// load is the neighbour load the run is measured under; nil when
	// quiet.
	load *InterferenceSpec
}

// schedule orders the runs: per scenario and repetition, interleaved ABBA
// (baseline first on even repetitions, candidate first on odd ones, so
// drift over time cancels in the pairs), sequential (every baseline
// repetition, then every candidate one), or parallel (both sides at once).
// Each step's jobs run together; steps run one after another.
func schedule(p *Plan, agents []*agentConn) [][]job {
	var base, cand []*agentConn
	for _, a := range agents {
		if a.spec.Role == results.RoleBaseline {
			base = append(base, a)
		} else {
			cand = append(cand, a)
		}
	}
	var steps [][]job
	one := func(as []*agentConn, sc inference.Scenario, k int) {
		for _, a := range as {
			steps = append(steps, []job{{agent: a, scenario: sc, rep: k}})
		}
	}
	for _, sc := range p.ScenarioList() {
		switch p.Order {
		case "sequential":
			for k := 0; k < p.Repetitions; k++ {
				one(base, sc, k)
			}
			for k := 0; k < p.Repetitions; k++ {
				one(cand, sc, k)
			}
		case "parallel":
			for k := 0; k < p.Repetitions; k++ {
				var step []job
				for _, a := range append(append([]*agentConn{}, base...), cand...) {
					step = append(step, job{agent: a, scenario: sc, rep: k})
				}
				steps = append(steps, step)
			}
		default: // interleaved
			for k := 0; k < p.Repetitions; k++ {
				if k%2 == 0 {
					one(base, sc, k)
					one(cand, sc, k)
				} else {
					one(cand, sc, k)
					one(base, sc, k)
				}
			}
		}
	}
	return steps
}

// runOne runs a job with the plan's retries and records how it ended.
func (r *Runner) runOne(ctx context.Context, tree *results.Tree, j job, s inference.TestSettings, rec *results.RunRecord) {
	rec.Dir = r.runDir(j)
	r.display().RunStarted(*rec)
	defer func() { r.display().RunFinished(*rec) }()
	for attempt := 0; attempt <= r.Plan.Retries; attempt++ {
		if attempt > 0 && !r.waitToRetry(ctx, rec, attempt) {
			rec.Status = results.StatusCancelled
			return
		}
		rec.Attempts = attempt + 1
		started := time.Now().UTC()
		res, files, err := r.request(ctx, j, s, *rec, false)
		ended := time.Now().UTC()
		rec.Started, rec.Ended = &started, &ended
		if err == nil {
			r.recovered(j.agent.spec.Name)
			if err = r.store(tree, rec.Dir, files); err == nil {
				rec.Status, rec.Error = results.StatusOK, ""
				rec.Valid, rec.Metric, rec.Value, rec.Unit = res.Validity.Valid, res.Metric.Name, res.Metric.Value, res.Metric.Unit
				rec.Invalid = invalidReason(res)
				rec.Queries, rec.SeedSet = res.QueriesIssued, res.SeedSet
				if res.Rerun != nil {
					rec.Rerun = res.Rerun.Reason
				}
				return
			}
		}
		rec.Error = err.Error()
		if ctx.Err() != nil {
			rec.Status = results.StatusCancelled
			return
		}
		r.Logger.Warn("run failed", "host", rec.Host, "scenario", rec.Scenario, "repetition", rec.Repetition+1, "attempt", attempt+1, "err", err)
		if !r.afterFailure(j, err) {
			break
		}
	}
	rec.Status = results.StatusFailed
	rec.Dir = ""
}

func (r *Runner) display() Display {
	if r.Display == nil {
		return nopDisplay{}
	}
	return r.Display
}

type nopDisplay struct{}

func (nopDisplay) RunStarted(results.RunRecord)                       {}
func (nopDisplay) RunProgress(results.RunRecord, *gpuperfv1.Progress) {}
func (nopDisplay) RunFinished(results.RunRecord)                      {}

// request sends one RunRequest and collects its result.
func (r *Runner) request(ctx context.Context, j job, s inference.TestSettings, rec results.RunRecord, autoHint bool) (*inference.Result, results.RunFiles, error) {
	set := r.seedSet(j, autoHint)
	s.UseSeedSet(set)
	sj, err := json.Marshal(s)
	if err != nil {
		return nil, results.RunFiles{}, err
	}
	_, qsl, err := inference.Settings(r.Plan.Workload.Model, j.scenario, inference.Profile(r.Plan.Profile))
	if err != nil {
		return nil, results.RunFiles{}, err
	}
	qj, _ := json.Marshal(qsl)
	req := &gpuperfv1.RunRequest{
		RunId:   fmt.Sprintf("%s/%s/%s/%d", r.RunID, rec.Host, j.scenario, j.rep+1),
		Backend: r.Plan.Workload.Backend, Model: r.Plan.Workload.Model, Profile: r.Plan.Profile,
		SettingsJson: sj, QslJson: qj, AutoHint: autoHint,
		FindPeak: j.scenario == inference.Server && r.Plan.Server.FindPeak, PeakPrecision: r.Plan.Server.PeakPrecision,
		SeedSet: uint32(set),
	}
	// The watchdog and the deadline end the run's RPC; waiting for ready
	// lets a retry reach an agent that is restarting.
	g := r.guard(ctx, j.agent, s, req.FindPeak)
	defer g.stop()
	stream, err := j.agent.client.Run(g.ctx, req, grpc.WaitForReady(true))
	if err != nil {
		return nil, results.RunFiles{}, g.explain(fmt.Errorf("%s: start run: %w", j.agent.spec.Name, j.agent.explain(err)))
	}
	var watch *vgpuWatch
	if j.agent.hyper != nil && !autoHint {
		defer func() { watch.cancel() }()
	}
	// A neighbour load runs over the timed run's window, and stops on every
	// way out: finished, failed or interrupted.
	var nb *neighbourLoad
	defer func() {
		if nb != nil {
			nb.abort(r.Logger, req.RunId)
		}
	}()
	for {
		ev, err := stream.Recv()
		if err == io.EOF {
			return nil, results.RunFiles{}, fmt.Errorf("%s: the run ended without a result", j.agent.spec.Name)
		}
		if err != nil {
			return nil, results.RunFiles{}, g.explain(fmt.Errorf("%s: %w", j.agent.spec.Name, j.agent.explain(err)))
		}
		g.alive()
		if p := ev.GetProgress(); p != nil {
			// The hypervisor's window opens with the timed run, at its
			// first progress event, which the agent sends as it starts.
			if j.agent.hyper != nil && !autoHint && watch == nil && p.Phase != "warm-up" {
				watch = j.agent.hyper.start(ctx, req.RunId, r.Logger)
			}
			if j.load != nil && !autoHint && nb == nil && p.Phase != "warm-up" {
				if nb, err = j.agent.neighbour.start(ctx, req.RunId, j.load, neighbourDeadline(j.load, s, req.FindPeak), uint64(j.rep+1), r.peers[j.load.Name]); err != nil {
					return nil, results.RunFiles{}, fmt.Errorf("%s: neighbour load %s: %w", j.agent.spec.Name, j.load.Name, describeStatus(err))
				}
			} else if nb != nil && nb.stoppedEarly() {
				_, err := nb.finish()
				return nil, results.RunFiles{}, fmt.Errorf("%s: %w", j.agent.spec.Name, err)
			}
			r.display().RunProgress(rec, p)
			continue
		}
		out := ev.GetResult()
		if out == nil {
			continue
		}
		res, err := checkResult(j.agent.spec.Name, out.ResultJson)
		if err != nil {
			return nil, results.RunFiles{}, err
		}
		files := results.RunFiles{Result: out.ResultJson, Summary: out.SummaryLog, Detail: out.DetailLog, Telemetry: out.TelemetryCsv}
		if watch != nil {
			files.VGPUHost = watch.finish()
		}
		if j.load != nil && !autoHint {
			if nb == nil {
				awaitEnd(stream)
				return nil, results.RunFiles{}, fmt.Errorf("%s: the run ended before its neighbour load %s could start", j.agent.spec.Name, j.load.Name)
			}
			if files.Neighbour, err = nb.finish(); err != nil {
				awaitEnd(stream)
				return nil, results.RunFiles{}, fmt.Errorf("%s: %w", j.agent.spec.Name, err)
			}
		}
		awaitEnd(stream)
		return res, files, nil
	}
}

// awaitEnd reads a run's stream to its end after the result: the agent
// frees itself for the next run only as its handler returns, just after
// sending the result, and a next request sent in between is refused as
// "in progress" (seen on a busy host between calibration measurements).
func awaitEnd(stream grpc.ServerStreamingClient[gpuperfv1.RunEvent]) {
	for {
		if _, err := stream.Recv(); err != nil {
			return
		}
	}
}

// describeJSON writes an agent's Describe answer into the tree.
var describeJSON = protojson.MarshalOptions{Multiline: true, Indent: "  "}

// explain words a call's error for people: a connection problem with what
// to change (rpcerr), otherwise the agent's own message.
func (a *agentConn) explain(err error) error {
	if e := rpcerr.Explain(a.spec.Address, a.spec.TLS != nil, err); e != err {
		return e
	}
	return describeStatus(err)
}

func describeStatus(err error) error {
	if s, ok := status.FromError(err); ok && s.Code() == codes.Unavailable {
		return &unavailableError{err: err}
	}
	return err
}

// baseSettings builds each scenario's settings from mlperf.conf, the
// profile and the plan's overrides; both sides get exactly these.
func (r *Runner) baseSettings() (map[inference.Scenario]inference.TestSettings, error) {
	out := map[inference.Scenario]inference.TestSettings{}
	for _, sc := range r.Plan.ScenarioList() {
		s, _, err := inference.Settings(r.Plan.Workload.Model, sc, inference.Profile(r.Plan.Profile))
		if err != nil {
			return nil, err
		}
		if err := r.Plan.Workload.ApplySettings(&s); err != nil {
			return nil, err
		}
		if sc == inference.Server && r.Plan.Server.PeakBudgetS > 0 {
			s.PeakBudgetMs = uint64(r.Plan.Server.PeakBudgetS * 1000)
		}
		if sc == inference.Server && r.Plan.Server.PeakMinQPS > 0 {
			s.PeakMinQPS = r.Plan.Server.PeakMinQPS
		}
		out[sc] = s
	}
	return out, nil
}

// calibrate measures the baseline and fixes the hints both sides get:
// Offline's expected QPS, Server's target QPS (a fraction of Offline's
// throughput unless the plan sets one; all of it as a peak search's
// start), and for SingleStream and MultiStream the expected latency and
// one query count, so both sides end on the same count (the early-stopping
// estimate depends on it). Each scenario is measured in several short runs
// (calibrate.go): throughput hints take their median, so one noisy moment
// of the host does not size every run of the plan; stream counts take the
// fastest, so none runs out of queries when the host calms down.
func (r *Runner) calibrate(ctx context.Context, agents []*agentConn, settings map[inference.Scenario]inference.TestSettings, m *results.Manifest) error {
	base := baselineOf(agents)
	m.Calibration = map[string]float64{}
	has := func(sc inference.Scenario) bool { _, ok := settings[sc]; return ok }
	if has(inference.Offline) || (has(inference.Server) && r.Plan.Server.TargetQPS == 0) {
		qps, _, err := r.calibrateScenario(ctx, base, inference.Offline, settings, m)
		if err != nil {
			return err
		}
		if s, ok := settings[inference.Offline]; ok {
			// The Offline query holds 1.1 × min_duration × expected QPS
			// samples; a candidate faster than that would finish before
			// min_duration and be INVALID. Headroom lets a candidate up to
			// 1.5 × the baseline's speed still run a valid, identical query.
			s.OfflineExpectedQPS = qps * offlineHeadroom
			settings[inference.Offline] = s
			m.Calibration["offline_expected_qps"] = s.OfflineExpectedQPS
		}
		if s, ok := settings[inference.Server]; ok {
			s.ServerTargetQPS = qps * r.Plan.Server.OfflineFraction
			if r.Plan.Server.FindPeak {
				// A peak search starts at the Offline throughput, the most
				// a Server run could sustain, and halves down from there.
				s.ServerTargetQPS = qps
			}
			settings[inference.Server] = s
		}
	}
	if s, ok := settings[inference.Server]; ok {
		if r.Plan.Server.TargetQPS > 0 {
			s.ServerTargetQPS = r.Plan.Server.TargetQPS
		}
		settings[inference.Server] = s
		m.Calibration["server_target_qps"] = s.ServerTargetQPS
	}
	for _, sc := range []inference.Scenario{inference.SingleStream, inference.MultiStream} {
		s, ok := settings[sc]
		if !ok {
			continue
		}
		med, mean, err := r.calibrateScenario(ctx, base, sc, settings, m)
		if err != nil {
			return err
		}
		// Enough queries to cover min_duration with half again in hand at
		// the fastest pace measured, so a somewhat faster candidate, or a
		// host that has just calmed down, still meets it on the same count
		// (a run that ran out would be repeated on another count, which
		// the comparison refuses for a latency estimate).
		n := uint64(math.Ceil(1.5 * float64(s.MinDurationMs) * 1e6 / mean))
		n = max(n, s.MinQueryCount)
		s.MinQueryCount, s.MaxQueryCount = n, n
		if sc == inference.SingleStream {
			s.SingleStreamExpectedLatencyNs = mean
		} else {
			s.MultiStreamExpectedLatencyNs = mean
		}
		settings[sc] = s
		m.Calibration[sc.Flag()+"_expected_latency_ns"] = mean
		m.Calibration[sc.Flag()+"_query_count"] = float64(n)
		r.Logger.Info("stream count sized by the fastest calibration", "scenario", sc, "median_ns", med, "fastest_ns", mean, "queries", n)
	}
	return nil
}

// offlineHeadroom scales the calibrated Offline throughput into the hint
// both sides get, as the load generator's own warm-up hint does.
const offlineHeadroom = 1.5

func baselineOf(agents []*agentConn) *agentConn {
	for _, a := range agents {
		if a.spec.Role == results.RoleBaseline {
			return a
		}
	}
	return agents[0]
}

// seedSet is the seed set a job's run draws from: its repetition's when
// seeds vary, so both runs of a pair share it and pairs differ; set 0
// (the configured seeds) for fixed seeds and for calibration.
func (r *Runner) seedSet(j job, calibration bool) int {
	if calibration || r.seeds != results.SeedsVary {
		return 0
	}
	return j.rep
}
