package inference

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpuperf/gpuperf/internal/procstat"
)

// Config is one timed run: the settings, the data set, and how to report.
type Config struct {
	Settings TestSettings
	QSL      QSL
	Model    string
	Profile  Profile
	// Version is gpuperf's version, recorded in the result.
	Version string
	// BackendOpts are recorded in the result.
	BackendOpts map[string]string
	// SeedSet is the seed set a Reseeder backend draws from (see
	// DeriveSeed); the LoadGen seeds are in Settings. Recorded in the
	// result.
	SeedSet int
	// AutoHint lets the warm-up set the scenario's hint (Offline expected
	// QPS, SingleStream/MultiStream expected latency, Server target QPS)
	// when the caller did not give one.
	AutoHint bool
	// Progress, when set, is called about once a second while the timed
	// run issues and drains, from a goroutine the run owns, and once as
	// the warm-up starts.
	Progress func(Progress)
	// Rerun repeats the timed run once, sized by the observed rate, when
	// it ended before min_duration because the backend was faster than
	// its hint, or ran past the drain guard's limit because it was far
	// slower (see Rerun). The result records it.
	Rerun  bool
	Logger *slog.Logger
	// ProcStat is the /proc/stat path read for CPU steal; empty means
	// /proc/stat.
	ProcStat string
	// Window, when set, is called with start true just before the timed
	// run issues its first query and with start false once it has drained
	// (not for the warm-up), with the instant on the generator's clock
	// (Now). Telemetry samplers use it to measure exactly the timed run.
	// It runs on the generator's goroutine: a start must return at once.
	Window func(start bool, at int64)
	// MemoryLimit, when not zero, is the most memory the run may need
	// (EstimateFootprint): a run that needs more is refused with a
	// *TooLargeError before its arrays are allocated, and again after a
	// warm-up hint changed its size. MemoryLimitName says where the limit
	// comes from, for the error.
	MemoryLimit     uint64
	MemoryLimitName string
}

// checkFootprint refuses settings whose run would need more memory than
// cfg allows, and returns the footprint.
func (cfg Config) checkFootprint(s TestSettings) (Footprint, error) {
	f := EstimateFootprint(s, cfg.QSL)
	return f, f.CheckMemory(cfg.MemoryLimit, cfg.MemoryLimitName)
}

// Progress is a snapshot of a run in flight.
type Progress struct {
	// Phase is "warm-up", "run" (the timed run: for Offline, its whole
	// query), or "drain" (waiting for the last samples after issuing
	// ended); a repeat (Config.Rerun) prefixes "re-run ", a peak search
	// "probe N at Q QPS: " or "confirm at Q QPS: ".
	Phase     string
	Elapsed   time.Duration
	Issued    uint64 // queries
	Completed uint64 // samples
	Total     uint64 // queries planned
	Samples   uint64 // samples planned (Offline: its query's size)
	Target    time.Duration
}

// ErrIncomplete marks a run that ended with samples outstanding.
var ErrIncomplete = errors.New("samples incomplete")

// Run executes one LoadGen performance run against b: warm-up, generation,
// the timed run, the drain, and the statistics. The error is non-nil only
// when no result could be produced; an INVALID run is a result.
func Run(ctx context.Context, b Backend, cfg Config) (*Result, error) {
	res, err := runOnce(ctx, b, cfg)
	if err != nil || !cfg.Rerun {
		return res, err
	}
	s, why, ok := rerunSettings(res.Requested, res)
	if !ok {
		return res, nil
	}
	if cfg.Logger != nil {
		cfg.Logger.Info("re-running with the observed rate", "reason", why.Reason, "setting", why.Setting, "from", why.From, "to", why.To)
	}
	c := cfg
	c.Settings, c.AutoHint = s, false
	if fn := cfg.Progress; fn != nil {
		c.Progress = func(p Progress) {
			p.Phase = "re-run " + p.Phase
			fn(p)
		}
	}
	again, err := runOnce(ctx, b, c)
	if again != nil {
		again.Rerun = why
		again.HintsFrom = "re-run"
	}
	return again, err
}

func runOnce(ctx context.Context, b Backend, cfg Config) (*Result, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Settings.Validate(); err != nil {
		return nil, fmt.Errorf("invalid settings: %w", err)
	}
	if cfg.Settings.Mode == FindPeakPerformance {
		return nil, fmt.Errorf("mode FindPeakPerformance: use FindPeak")
	}
	if err := cfg.QSL.Validate(); err != nil {
		return nil, fmt.Errorf("invalid data set: %w", err)
	}
	if _, err := cfg.checkFootprint(cfg.Settings); err != nil {
		return nil, err
	}
	var drawn *uint64
	if r, ok := b.(Reseeder); ok {
		seed := r.Reseed(cfg.SeedSet)
		drawn = &seed
	}
	var rec Recorder
	// The backend outlives a cancelled run: it must finish what was issued
	// so the drain ends quickly; Stop ends it.
	if err := b.Start(context.WithoutCancel(ctx), &rec); err != nil {
		return nil, fmt.Errorf("start backend %s: %w", b.Name(), err)
	}
	res, runErr := runStarted(ctx, b, &rec, cfg)
	if err := b.Stop(); err != nil && runErr == nil {
		runErr = fmt.Errorf("stop backend %s: %w", b.Name(), err)
	}
	if a, ok := b.(Annotator); ok && res != nil {
		res.BackendFacts = a.Annotations()
	}
	if res != nil {
		res.SeedSet, res.BackendSeed = cfg.SeedSet, drawn
		if o, ok := b.(OptionReporter); ok {
			res.BackendEffective = o.EffectiveOptions()
		}
	}
	if r, ok := b.(ServerStatsReporter); ok && res != nil {
		res.ServerStats = r.ServerStats()
	}
	return res, runErr
}

func runStarted(ctx context.Context, b Backend, rec *Recorder, cfg Config) (*Result, error) {
	s := cfg.Settings
	res := &Result{
		Schema:      ResultSchema,
		Version:     cfg.Version,
		SUTName:     b.Name(),
		Backend:     b.Name(),
		BackendOpts: cfg.BackendOpts,
		Model:       cfg.Model,
		Profile:     cfg.Profile,
		QSL:         cfg.QSL,
		SampleSet:   SampleSetVersion,
		HintsFrom:   "settings",
	}
	e := s.Effective(cfg.QSL)
	set := loadSampleSet(e)

	if s.WarmupMs > 0 {
		stop := reportWarmup(cfg.Progress, time.Duration(s.WarmupMs)*time.Millisecond)
		w, err := warmup(ctx, b, rec, e, set, time.Duration(s.WarmupMs)*time.Millisecond, newDrainGuard(s, e))
		stop()
		res.Warmup = w
		if err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		if cfg.AutoHint && applyHint(&s, w) {
			res.HintsFrom = "warm-up"
		}
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("invalid settings: %w", err)
	}
	// A hint can make the run far larger than the request: check again
	// before the sample set and the queries are allocated.
	fp, err := cfg.checkFootprint(s)
	if err != nil {
		if res.HintsFrom == "warm-up" {
			return nil, fmt.Errorf("the warm-up's hint (%.4g samples/s measured): %w", res.Warmup.RatePerSec, err)
		}
		return nil, err
	}
	if res.HintsFrom == "warm-up" {
		e = s.Effective(cfg.QSL)
		set = loadSampleSet(e)
	}
	res.Requested, res.Effective = s, e
	// The footprint bounds the plan; twice it is a backstop that only a
	// far-fetched Poisson draw could reach.
	var maxSamples uint64
	if cfg.MemoryLimit > 0 {
		maxSamples = satMul(fp.Samples, 2)
	}
	pl, err := generate(ctx, e, set, cfg.QSL.PerformanceSampleCount, maxSamples)
	if err != nil {
		return nil, fmt.Errorf("generating the queries: %w", err)
	}
	res.GeneratedQueryCount = uint64(pl.queries)
	res.GeneratedSamplesPerQuery = uint64(pl.spq)
	res.GeneratedQueryDurationNs = pl.duration

	// In Server, latency counts from the scheduled time: the schedule is
	// the origin array.
	p := newPhase(2, pl.queries, pl.spq, s.UseTokenLatencies, pl.offsets)
	rec.cur.Store(p)
	defer rec.cur.Store(nil)

	procPath := cfg.ProcStat
	if procPath == "" {
		procPath = "/proc/stat"
	}
	cpu0, stealErr := procstat.ReadCPU(procPath)
	self0, _ := procstat.ReadSelf()

	is := &issuer{b: b, p: p, pl: pl, e: e, ctx: ctx, guard: newDrainGuard(s, e), coalesce: s.ServerCoalesceQueries, spin: s.GeneratorSpin}
	var wg sync.WaitGroup
	stopProgress := make(chan struct{})
	if cfg.Progress != nil {
		wg.Go(func() { is.report(cfg.Progress, stopProgress) })
	}
	res.StartedAt = time.Now().UTC()
	server, _ := b.(ServerStatsReporter)
	if cfg.Window != nil {
		cfg.Window(true, nanotime())
	}
	if server != nil {
		server.ServerWindow(true)
	}
	is.run()
	b.FlushQueries()
	p.issuedAll(is.samplesIssued)
	if e.Scenario != Offline {
		// Offline's one query is the whole run: its wait is the run, not a
		// drain after it.
		is.phase.Store("drain")
	}
	res.drainEnd = is.guard.wait(ctx, p.allDone, &p.completed, true)
	complete := res.drainEnd == drained
	end := nanotime()
	if cfg.Window != nil {
		cfg.Window(false, end)
	}
	if server != nil {
		server.ServerWindow(false)
	}
	close(stopProgress)
	wg.Wait()

	self1, _ := procstat.ReadSelf()
	cpu1, err := procstat.ReadCPU(procPath)
	if stealErr == nil && err == nil {
		if pct, ok := procstat.Share(cpu0, cpu1, func(c procstat.CPU) uint64 { return c.Steal }); ok {
			res.Health.HostStealPct = pct
		}
		if pct, ok := procstat.Share(cpu0, cpu1, func(c procstat.CPU) uint64 { return c.Total() - c.Idle - c.IOWait }); ok {
			res.Health.HostBusyPct = &pct
			res.Health.HostCPUs = runtime.NumCPU()
		}
	} else {
		res.Health.HostStealPct = -1
		res.Health.HostStealNote = fmt.Sprintf("unavailable: %v", errors.Join(stealErr, err))
	}
	wall := end - is.base
	res.Health.GeneratorCPUUserNs = int64(self1.User - self0.User)
	res.Health.GeneratorCPUSysNs = int64(self1.System - self0.System)
	if wall > 0 {
		res.Health.GeneratorCPUPct = 100 * float64(res.Health.GeneratorCPUUserNs+res.Health.GeneratorCPUSysNs) / float64(wall)
	}
	res.Health.IssueDelay = is.delay.summary()
	res.Health.IssueCall = is.call.summary()
	res.Health.Wait = is.wait
	res.Health.StaleCompletions = p.stale.Load()
	res.Health.DuplicateCompletions = p.duplicate.Load()
	res.DurationNs = wall

	res.QueriesIssued = is.queriesIssued
	res.SamplesIssued = is.samplesIssued
	res.SamplesComplete = p.completed.Load()
	res.SamplesFailed = p.failed.Load()
	if err := p.firstErr; err != nil {
		res.FirstError = err.Error()
	}
	res.EndReason = is.endReason
	res.Errors = append(res.Errors, is.errors...)
	if !complete {
		res.Errors = append(res.Errors, "Encountered incomplete samples at the end of a series of queries.")
	}
	if n := p.duplicate.Load(); n > 0 {
		res.Errors = append(res.Errors, fmt.Sprintf("Attempted to complete a sample twice. (%d times)", n))
	}
	if n := p.stale.Load(); n > 0 {
		res.Errors = append(res.Errors, fmt.Sprintf("Received completion for an old sample. (%d times)", n))
	}
	if res.SamplesFailed > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d samples failed in the backend; first error: %s", res.SamplesFailed, res.FirstError))
	}
	rec.detach()
	summarize(res, p, pl, is, set)
	if !complete {
		missing := res.SamplesIssued - res.SamplesComplete
		res.Validity.Valid = false
		res.Validity.Recommendations = append(res.Validity.Recommendations,
			fmt.Sprintf("%d of %d samples did not complete: %s.", missing, res.SamplesIssued, is.guard.describe(res.drainEnd)))
		res.Validity.InvalidReason += res.Validity.Recommendations[len(res.Validity.Recommendations)-1]
	}
	if res.SamplesFailed > 0 && res.SamplesComplete > 0 {
		share := 100 * float64(res.SamplesFailed) / float64(res.SamplesComplete)
		if share > s.MaxErrorPct {
			res.Validity.Valid = false
			why := fmt.Sprintf("%.3g%% of samples failed (%d of %d), above the %g%% allowed by max_error_pct; first error: %s",
				share, res.SamplesFailed, res.SamplesComplete, s.MaxErrorPct, res.FirstError)
			res.Validity.Recommendations = append(res.Validity.Recommendations, why)
			res.Validity.InvalidReason += why
		}
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("run interrupted: %w", ctx.Err())
	}
	return res, nil
}

// Safety factors for hints measured in the warm-up. LoadGen sizes a run from
// its hint and fails it (min duration) when the backend turns out faster:
// Offline by more than the 1.1 slack, SingleStream/MultiStream by more than
// 2×. A warm-up is shorter and shaped differently from the timed run, so the
// hints leave room: the price is a longer run, never an INVALID one.
const (
	offlineHintFactor = 1.5 // expected QPS = 1.5 × warm-up rate
	streamHintFactor  = 0.5 // expected latency = 0.5 × warm-up mean
	serverHintFactor  = 0.5 // target QPS = 0.5 × warm-up capacity
)

// applyHint fills in the scenario's hint from the warm-up, when the warm-up
// measured something.
func applyHint(s *TestSettings, w Warmup) bool {
	switch s.Scenario {
	case Offline:
		if w.RatePerSec > 0 {
			s.OfflineExpectedQPS = w.RatePerSec * offlineHintFactor
			return true
		}
	case Server:
		if w.RatePerSec > 0 {
			// A Poisson load at full capacity never meets a tail bound.
			s.ServerTargetQPS = w.RatePerSec * serverHintFactor
			return true
		}
	case SingleStream:
		if w.MeanNs > 0 {
			s.SingleStreamExpectedLatencyNs = float64(w.MeanNs) * streamHintFactor
			return true
		}
	case MultiStream:
		if w.MeanNs > 0 {
			s.MultiStreamExpectedLatencyNs = float64(w.MeanNs) * streamHintFactor
			return true
		}
	}
	return false
}

// issuer owns the issue loop of one timed run.
type issuer struct {
	b     Backend
	p     *phase
	pl    plan
	e     EffectiveSettings
	ctx   context.Context
	guard drainGuard

	base          int64 // the run's start instant
	queriesIssued uint64
	samplesIssued uint64
	issuedNow     atomic.Uint64 // for progress only
	phase         atomic.Value
	endReason     string
	errors        []string
	delay, call   histogram
	lastIssue     int64 // final_query_issued_time, relative
	coalesce      bool  // server_coalesce_queries

	spin SpinPolicy // generator_spin
	wait *WaitHealth
}

func (is *issuer) run() {
	is.phase.Store("run")
	switch is.e.Scenario {
	case Offline:
		is.runOffline()
	case Server:
		is.runServer()
	default:
		is.runStreams()
	}
}

func (is *issuer) runOffline() {
	n := is.pl.spq
	samples := make([]Sample, n)
	for i := range samples {
		samples[i] = Sample{ID: is.p.id(i), Index: is.pl.index[i]}
	}
	is.p.origin[0] = 0
	is.base = nanotime()
	is.p.base.Store(is.base)
	is.b.IssueQuery(samples)
	after := nanotime()
	is.call.record(after - is.base)
	is.delay.record(0)
	is.queriesIssued, is.samplesIssued = 1, uint64(n)
	is.issuedNow.Store(1)
}

// runServer issues the pre-generated Poisson schedule open-loop: every query
// goes out at start+offset whatever is outstanding, immediately when late,
// and its latency counts from the scheduled instant.
func (is *issuer) runServer() {
	offsets, index := is.pl.offsets, is.pl.index
	maxQ := uint64(len(offsets))
	if is.e.MaxQueryCount > 0 {
		maxQ = min(maxQ, is.e.MaxQueryCount)
	}
	maxDur := int64(is.e.MaxDurationMs) * 1e6
	done := is.ctx.Done()
	buf := make([]Sample, 0, 1024)
	w := newWaiter(is.spin, is.e.TargetQPS)
	w.begin()
	defer func() {
		w.end()
		is.wait = w.health()
	}()

	is.base = nanotime()
	is.p.base.Store(is.base)
	base := is.base
	now := base
	var i uint64
	for i < maxQ {
		due := base + offsets[i]
		if now < due {
			if !w.wait(due, done, i > is.p.completed.Load()) {
				is.endEarly("Ending early: the run was cancelled.")
				break
			}
			now = nanotime()
		} else if i&1023 == 0 {
			w.tick(now)
			if is.ctx.Err() != nil {
				// A saturated loop never waits, so it checks for cancellation here.
				is.endEarly("Ending early: the run was cancelled.")
				break
			}
		}
		if maxDur > 0 && now-base > maxDur {
			is.endEarly("IssueQueryThread 0 Ending early: Max test duration reached.")
			break
		}
		if is.e.MaxAsyncQueries > 0 {
			if out := i - is.p.completed.Load(); out > is.e.MaxAsyncQueries {
				is.endEarly(fmt.Sprintf("IssueQueryThread 0 Ending early: Too many outstanding queries. issued %d outstanding %d", i, out))
				break
			}
		}
		buf = append(buf[:0], Sample{ID: is.p.id(int(i)), Index: index[i]})
		is.delay.record(now - due)
		i++
		if is.coalesce {
			// Merge every past-due query into one call; each keeps its own
			// scheduled time.
			for i < maxQ && len(buf) < cap(buf) && base+offsets[i] <= now {
				buf = append(buf, Sample{ID: is.p.id(int(i)), Index: index[i]})
				is.delay.record(now - base - offsets[i])
				i++
			}
		}
		is.b.IssueQuery(buf)
		after := nanotime()
		is.call.record(after - now)
		is.lastIssue = now - base
		is.issuedNow.Store(i)
		now = after
	}
	if i == maxQ && maxQ < uint64(len(offsets)) {
		is.endEarly("IssueQueryThread 0 Ending early: Max query count reached.")
	}
	is.queriesIssued, is.samplesIssued = i, i
}

// runStreams issues SingleStream and MultiStream: one query at a time, the
// next as soon as the previous has fully completed, until the count and the
// duration are both met.
func (is *issuer) runStreams() {
	spq := is.pl.spq
	minQ, minDur := is.e.MinQueryCount, int64(is.e.MinDurationMs)*1e6
	maxQ := uint64(is.pl.queries)
	if is.e.MaxQueryCount > 0 {
		maxQ = min(maxQ, is.e.MaxQueryCount)
	}
	maxDur := int64(is.e.MaxDurationMs) * 1e6
	samples := make([]Sample, spq)

	is.base = nanotime()
	is.p.base.Store(is.base)
	base := is.base
	var prevDone int64 = -1
	var q uint64
	for q = 0; q < uint64(is.pl.queries); {
		if q >= maxQ {
			is.endEarly("IssueQueryThread 0 Ending early: Max query count reached.")
			break
		}
		for j := range samples {
			k := int(q)*spq + j
			samples[j] = Sample{ID: is.p.id(k), Index: is.pl.index[k]}
		}
		now := nanotime()
		if maxDur > 0 && now-base > maxDur {
			is.endEarly("IssueQueryThread 0 Ending early: Max test duration reached.")
			break
		}
		is.p.origin[q] = now - base
		is.p.queryLeft.Store(int64(spq))
		is.b.IssueQuery(samples)
		after := nanotime()
		is.call.record(after - now)
		if prevDone >= 0 {
			is.delay.record(now - prevDone)
		}
		is.lastIssue = now - base
		q++
		is.issuedNow.Store(q)

		switch end := is.guard.wait(is.ctx, is.p.queryDone, &is.p.completed, false); end {
		case drained:
		case cancelled:
			is.endEarly("Ending early: the run was cancelled.")
			is.queriesIssued, is.samplesIssued = q, q*uint64(spq)
			return
		default:
			is.errorf("query %d did not complete: %s", q-1, is.guard.describe(end))
			is.queriesIssued, is.samplesIssued = q, q*uint64(spq)
			return
		}
		prevDone = base + is.p.origin[q-1] + is.p.queryLatency(q-1)
		if q >= minQ && is.lastIssue >= minDur {
			is.endReason = "Ending naturally: Minimum query count and test duration met."
			break
		}
	}
	if is.endReason == "" && q == uint64(is.pl.queries) {
		is.errorf("Ending early: Ran out of generated queries to issue before the minimum query count and test duration were reached. Please update the relevant expected latency or target qps in the TestSettings so they are more accurate.")
	}
	is.queriesIssued, is.samplesIssued = q, q*uint64(spq)
}

func (is *issuer) endEarly(msg string) {
	if is.endReason == "" {
		is.endReason = msg
		is.errors = append(is.errors, msg)
	}
}

func (is *issuer) errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if is.endReason == "" {
		is.endReason = msg
	}
	is.errors = append(is.errors, msg)
}

// reportWarmup calls fn with the warm-up's progress at once and then about
// once a second until the returned stop is called, which waits for it.
func reportWarmup(fn func(Progress), d time.Duration) (stop func()) {
	if fn == nil {
		return func() {}
	}
	start := time.Now()
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			fn(Progress{Phase: "warm-up", Elapsed: time.Since(start), Target: d})
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	})
	return func() {
		close(quit)
		wg.Wait()
	}
}

// report calls fn once as the timed run starts, so a watcher knows at
// once, then about once a second.
func (is *issuer) report(fn func(Progress), stop <-chan struct{}) {
	emit := func() {
		base := is.p.base.Load()
		ph, _ := is.phase.Load().(string)
		if ph == "" {
			ph = "run"
		}
		var el time.Duration
		if base != 0 {
			el = time.Duration(nanotime() - base)
		}
		fn(Progress{
			Phase: ph, Elapsed: el,
			Issued: is.issuedNow.Load(), Completed: is.p.completed.Load(),
			Total: uint64(is.pl.queries), Samples: uint64(is.pl.queries) * uint64(is.pl.spq),
			Target: time.Duration(is.e.MinDurationMs) * time.Millisecond,
		})
	}
	emit()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			emit()
		}
	}
}
