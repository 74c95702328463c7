package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gpuperf/gpuperf/agent"
	"github.com/gpuperf/gpuperf/inference"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
	"github.com/gpuperf/gpuperf/results"
)

func TestPlanUpperBounds(t *testing.T) {
	base := nullPlan(t.TempDir(), `
  - {name: base, address: "127.0.0.1:1", role: baseline}
  - {name: cand, address: "127.0.0.1:2", role: candidate}`, "")
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"repetitions past the bound", "repetitions: 2", "repetitions: 2000000000", "repetitions: must be at most 1000, got 2000000000"},
		{"retries past the bound", "repetitions: 2", "repetitions: 2\nretries: 1000000", "retries: must be at most 20"},
		{"watchdog not a duration", "repetitions: 2", "repetitions: 2\nwatchdog: soon", "watchdog: must be a duration"},
		{"watchdog too short", "repetitions: 2", "repetitions: 2\nwatchdog: 1ms", "watchdog: must be a duration"},
		{"queries near 2^64", "warmup_ms: 0}", "warmup_ms: 0, min_query_count: 18446744073709551615}", "min_query_count"},
		{"queries no agent can hold", "warmup_ms: 0}", "warmup_ms: 0, min_query_count: 1099511627776}", "more than any agent gives a run"},
		{"server QPS past the bound", "repetitions: 2", "repetitions: 2\nserver: {target_qps: 1e12}", "server.target_qps: must be at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := strings.Replace(base, tc.from, tc.to, 1)
			p, err := ParsePlan(filepath.Join(t.TempDir(), "plan.yaml"), []byte(yaml))
			if err == nil {
				err = p.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want %q", err, tc.want)
			}
		})
	}
}

func TestPlanSizeAndNestingCheckedBeforeParsing(t *testing.T) {
	var deep strings.Builder
	deep.WriteString("version: v1\nworkload:\n  settings:\n")
	for i := range 1000 {
		deep.WriteString(strings.Repeat(" ", 4+i) + "a:\n")
	}
	for _, tc := range []struct {
		name string
		yaml string
		want string
	}{
		{"1000 blocks deep", deep.String(), "nested 65 levels deep, more than the 64 allowed"},
		{"3000 sequences deep", "version: v1\nx:\n  " + strings.Repeat("- ", 3000) + "1\n", "levels deep"},
		{"3000 flow levels", "version: v1\nx: " + strings.Repeat("[", 3000) + strings.Repeat("]", 3000) + "\n", "levels deep"},
		{"past the size", "version: v1\n# " + strings.Repeat("x", 2<<20) + "\n", "more than the 1048576"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plan.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err := LoadPlan(path, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v; want one naming the file and saying %q", err, tc.want)
			}
			// The YAML parser would take minutes; the check takes
			// milliseconds (seconds on a loaded host).
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("refusing took %s", d)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	for attempt, want := range map[int][2]time.Duration{
		1:  {500 * time.Millisecond, time.Second},
		2:  {time.Second, 2 * time.Second},
		3:  {2 * time.Second, 4 * time.Second},
		6:  {15 * time.Second, 30 * time.Second},
		40: {15 * time.Second, 30 * time.Second},
	} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := backoff(attempt)
			if d < want[0] || d > want[1] {
				t.Fatalf("backoff(%d) = %s; want %s..%s", attempt, d, want[0], want[1])
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("backoff(%d): %d distinct waits in 200; want jitter", attempt, len(seen))
		}
	}
}

func TestRunDeadline(t *testing.T) {
	s, _, _ := inference.Settings("resnet50", inference.Offline, inference.ProfileMLPerf)
	s.WarmupMs, s.DrainTimeoutMs = 10_000, 30_000
	// 10 s warm-up + 10 × 660 s + 30 s drain + 2 min.
	if got, want := runDeadline(s, false), 10*time.Second+6600*time.Second+30*time.Second+2*time.Minute; got != want {
		t.Errorf("Offline 600 s: %s; want %s", got, want)
	}
	s.Scenario, s.ServerTargetQPS, s.MinQueryCount = inference.Server, 10, 270_336
	if got := runDeadline(s, false); got < 10*27033*time.Second {
		t.Errorf("Server of 270,336 queries at 10 QPS: %s; want at least ten times its 7.5 hours", got)
	}
	if got := runDeadline(s, true); got != time.Duration(inference.MaxDurationMs)*time.Millisecond {
		t.Errorf("a long peak search: %s; want the 30-day cap", got)
	}
	s.MaxDurationMs = 1000
	if got, want := runDeadline(s, false), 10*time.Second+10*time.Second+30*time.Second+2*time.Minute; got != want {
		t.Errorf("max_duration_ms 1000: %s; want %s", got, want)
	}
}

// fakeAgent is an AgentClient whose Run is scripted per call.
type fakeAgent struct {
	gpuperfv1.AgentClient
	mu    sync.Mutex
	calls []time.Time
	run   func(ctx context.Context, call int) (grpc.ServerStreamingClient[gpuperfv1.RunEvent], error)
}

func (f *fakeAgent) Run(ctx context.Context, _ *gpuperfv1.RunRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[gpuperfv1.RunEvent], error) {
	f.mu.Lock()
	f.calls = append(f.calls, time.Now())
	n := len(f.calls)
	f.mu.Unlock()
	return f.run(ctx, n)
}

// fakeStream sends events, then a result, or blocks until ctx ends when
// frozen.
type fakeStream struct {
	ctx    context.Context
	events []*gpuperfv1.RunEvent
	frozen bool
}

func (s *fakeStream) Recv() (*gpuperfv1.RunEvent, error) {
	if len(s.events) > 0 {
		ev := s.events[0]
		s.events = s.events[1:]
		return ev, nil
	}
	if s.frozen {
		<-s.ctx.Done()
		return nil, status.FromContextError(s.ctx.Err()).Err()
	}
	return nil, io.EOF
}
func (s *fakeStream) Header() (metadata.MD, error) { return nil, nil }
func (s *fakeStream) Trailer() metadata.MD         { return nil }
func (s *fakeStream) CloseSend() error             { return nil }
func (s *fakeStream) Context() context.Context     { return s.ctx }
func (s *fakeStream) SendMsg(any) error            { return nil }
func (s *fakeStream) RecvMsg(any) error            { return nil }

// resultEvent is a run's result event with result.json res.
func resultEvent(t *testing.T, res inference.Result) *gpuperfv1.RunEvent {
	t.Helper()
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return &gpuperfv1.RunEvent{Event: &gpuperfv1.RunEvent_Result{Result: &gpuperfv1.RunResult{ResultJson: js, SummaryLog: []byte("s"), DetailLog: []byte("d")}}}
}

func goodResult() inference.Result {
	return inference.Result{Schema: inference.ResultSchema, SamplesIssued: 10, SamplesComplete: 10,
		Validity: inference.Validity{Valid: true}, Metric: inference.Metric{Name: "result_samples_per_second", Value: 100, Unit: "samples/s"}}
}

// fakeRunner is a runner of one fake agent with the given plan text.
func fakeRunner(t *testing.T, extra string, fa *fakeAgent) (*Runner, job, *results.Tree) {
	t.Helper()
	p, err := ParsePlan(filepath.Join(t.TempDir(), "plan.yaml"), []byte(nullPlan(t.TempDir(), `
  - {name: base, address: "127.0.0.1:1", role: baseline}
  - {name: cand, address: "127.0.0.1:2", role: candidate}`, extra)))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	tree, err := results.Create(t.TempDir(), "r1")
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Plan: p, RunID: "r1", Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
	j := job{agent: &agentConn{spec: p.Agents[1], client: fa}, scenario: inference.Offline}
	return r, j, tree
}

func TestRetriesBackOffAndTheWatchdogEndsAFrozenRun(t *testing.T) {
	fa := &fakeAgent{}
	fa.run = func(ctx context.Context, call int) (grpc.ServerStreamingClient[gpuperfv1.RunEvent], error) {
		switch call {
		case 1:
			// A killed agent.
			return nil, status.Error(codes.Unavailable, "connection refused")
		case 2:
			// A frozen one: one progress event, then nothing.
			return &fakeStream{ctx: ctx, frozen: true, events: []*gpuperfv1.RunEvent{{Event: &gpuperfv1.RunEvent_Progress{Progress: &gpuperfv1.Progress{Phase: "warm-up"}}}}}, nil
		}
		return &fakeStream{ctx: ctx, events: []*gpuperfv1.RunEvent{resultEvent(t, goodResult())}}, nil
	}
	r, j, tree := fakeRunner(t, "retries: 2\nwatchdog: 1s\n", fa)
	s, _, _ := inference.Settings("resnet50", inference.Offline, inference.ProfileQuick)
	rec := results.RunRecord{Host: "cand", Role: results.RoleCandidate, Scenario: "Offline"}
	start := time.Now()
	r.runOne(t.Context(), tree, j, s, &rec)
	if rec.Status != results.StatusOK || rec.Attempts != 3 {
		t.Fatalf("run %+v; want ok on the third attempt", rec)
	}
	// Attempt 2 waited at least half of the 1 s backoff, attempt 3 half of
	// 2 s after the 1 s watchdog.
	if gap := fa.calls[1].Sub(fa.calls[0]); gap < 500*time.Millisecond {
		t.Errorf("second attempt %s after the first; want a backoff of at least 500ms", gap)
	}
	if gap := fa.calls[2].Sub(fa.calls[1]); gap < time.Second+time.Second {
		t.Errorf("third attempt %s after the second; want the 1 s watchdog and a backoff of at least 1 s", gap)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("three attempts took %s", d)
	}
}

func TestWatchdogFailsAFrozenAgentsRunNamingIt(t *testing.T) {
	fa := &fakeAgent{run: func(ctx context.Context, _ int) (grpc.ServerStreamingClient[gpuperfv1.RunEvent], error) {
		return &fakeStream{ctx: ctx, frozen: true}, nil
	}}
	r, j, tree := fakeRunner(t, "retries: 0\nwatchdog: 1s\n", fa)
	s, _, _ := inference.Settings("resnet50", inference.Offline, inference.ProfileQuick)
	rec := results.RunRecord{Host: "cand", Role: results.RoleCandidate, Scenario: "Offline", Status: results.StatusPending}
	start := time.Now()
	r.runOne(t.Context(), tree, j, s, &rec)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("a frozen agent held the run %s; the watchdog is 1 s", d)
	}
	if rec.Status != results.StatusFailed || !strings.Contains(rec.Error, "agent cand sent nothing for 1s") {
		t.Fatalf("run %+v; want failed, naming the agent and the watchdog", rec)
	}
	if _, gone := r.state.gone["cand"]; !gone {
		t.Error("the frozen agent is not remembered as gone")
	}
}

func TestAnAgentsResultIsChecked(t *testing.T) {
	forged := goodResult()
	forged.SamplesComplete = 5 // VALID with half the samples missing
	huge := goodResult()
	huge.Metric.Value = 1e300
	large := goodResult()
	large.Metric.Value = 1e17
	for _, tc := range []struct {
		name string
		res  inference.Result
		want string
	}{
		{"VALID with samples missing", forged, "VALID with 5 of 10 samples complete"},
		{"headline of 1e300", huge, "number 1e+300 is beyond ±1e+18"},
		{"headline of 1e17", large, "metric.value 1e+17 is outside 0..1e+15"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fa := &fakeAgent{run: func(ctx context.Context, _ int) (grpc.ServerStreamingClient[gpuperfv1.RunEvent], error) {
				return &fakeStream{ctx: ctx, events: []*gpuperfv1.RunEvent{resultEvent(t, tc.res)}}, nil
			}}
			r, j, tree := fakeRunner(t, "retries: 1\n", fa)
			s, _, _ := inference.Settings("resnet50", inference.Offline, inference.ProfileQuick)
			rec := results.RunRecord{Host: "cand", Role: results.RoleCandidate, Scenario: "Offline"}
			r.runOne(t.Context(), tree, j, s, &rec)
			if rec.Status != results.StatusFailed || rec.Attempts != 2 || !strings.Contains(rec.Error, tc.want) {
				t.Fatalf("run %+v; want failed after its retry, saying %q", rec, tc.want)
			}
		})
	}
}

func TestRefusedRequestsAreNotRetried(t *testing.T) {
	fa := &fakeAgent{run: func(context.Context, int) (grpc.ServerStreamingClient[gpuperfv1.RunEvent], error) {
		return nil, status.Error(codes.InvalidArgument, "settings_json: min_query_count 4294967296: the run needs about 80 GiB")
	}}
	r, j, tree := fakeRunner(t, "retries: 3\n", fa)
	s, _, _ := inference.Settings("resnet50", inference.Offline, inference.ProfileQuick)
	rec := results.RunRecord{Host: "cand", Role: results.RoleCandidate, Scenario: "Offline"}
	r.runOne(t.Context(), tree, j, s, &rec)
	if rec.Status != results.StatusFailed || rec.Attempts != 1 || !strings.Contains(rec.Error, "80 GiB") {
		t.Fatalf("run %+v; want failed at once, with the agent's reason", rec)
	}
}

// TestALocalWriteErrorIsNotRetriedAndAFullDiskStopsThePlan: the third run
// cannot be stored (ENOSPC). It is not measured again, the plan stops, and
// the two runs that finished stay stored.
func TestALocalWriteErrorIsNotRetriedAndAFullDiskStopsThePlan(t *testing.T) {
	addrs := startAgents(t, 2)
	out := t.TempDir()
	yaml := nullPlan(out, fmt.Sprintf(`
  - {name: base, address: %q, role: baseline}
  - {name: cand, address: %q, role: candidate}`, addrs[0], addrs[1]), "retries: 2\n")
	p, err := ParsePlan(filepath.Join(t.TempDir(), "plan.yaml"), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	r := &Runner{Plan: p, PlanYAML: []byte(yaml), Version: "test", RunID: "r1"}
	var mu sync.Mutex
	var writes int
	r.writeRun = func(rel string, f results.RunFiles) error {
		mu.Lock()
		defer mu.Unlock()
		writes++
		if writes >= 3 {
			return &os.PathError{Op: "write", Path: filepath.Join(out, rel, "result.json"), Err: syscall.ENOSPC}
		}
		return (&results.Tree{Root: filepath.Join(out, "r1")}).WriteRun(rel, f)
	}
	tree, m, err := r.Execute(t.Context())
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Execute = %v; want the full disk's error", err)
	}
	if writes != 3 {
		t.Errorf("%d writes; want 3: a run that cannot be stored is not measured again", writes)
	}
	var ok, failed, skipped int
	for _, run := range m.Runs {
		switch run.Status {
		case results.StatusOK:
			ok++
			if _, err := tree.ReadResult(run.Dir); err != nil {
				t.Errorf("finished run %s not kept: %v", run.Dir, err)
			}
		case results.StatusFailed:
			failed++
			if run.Attempts != 1 || !strings.Contains(run.Error, "no space left on device") {
				t.Errorf("run %+v; want one attempt, naming the full disk", run)
			}
		case results.StatusSkipped:
			skipped++
			if !strings.Contains(run.Error, "the plan stopped") {
				t.Errorf("run %+v; want it to say the plan stopped", run)
			}
		}
	}
	if ok != 2 || failed != 1 || skipped != len(m.Runs)-3 {
		t.Fatalf("ok %d, failed %d, skipped %d of %d runs; want 2, 1 and the rest", ok, failed, skipped, len(m.Runs))
	}
	stored, err := tree.ReadManifest()
	if err != nil || len(stored.Runs) != len(m.Runs) || stored.Runs[len(stored.Runs)-1].Status != results.StatusSkipped {
		t.Fatalf("run.json on disk: %v, %+v", err, stored)
	}
}

// hookDisplay calls onStart for each run that starts.
type hookDisplay struct {
	once    sync.Once
	onFirst func(results.RunRecord)
}

func (d *hookDisplay) RunStarted(r results.RunRecord) {
	if r.Role == results.RoleBaseline {
		d.once.Do(func() { d.onFirst(r) })
	}
}
func (*hookDisplay) RunProgress(results.RunRecord, *gpuperfv1.Progress) {}
func (*hookDisplay) RunFinished(results.RunRecord)                      {}

// TestAGoneCandidateStopsTheBaselineRuns: the candidate's agent dies once
// the schedule starts. Its run fails every attempt; its later runs are
// not tried, and the baseline stops measuring what can no longer be
// compared.
func TestAGoneCandidateStopsTheBaselineRuns(t *testing.T) {
	base := startAgents(t, 1)
	ctx, stopCand := context.WithCancel(t.Context())
	srv, err := agent.NewServer(agent.DefaultConfig(), "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() {
		served <- agent.Serve(ctx, srv, agent.ListenOptions{Addr: "127.0.0.1:0"}, func(a net.Addr) { ready <- a })
	}()
	cand := (<-ready).String()
	defer func() { stopCand(); <-served }()

	yaml := nullPlan(t.TempDir(), fmt.Sprintf(`
  - {name: base, address: %q, role: baseline}
  - {name: cand, address: %q, role: candidate}`, base[0], cand), "retries: 1\nwatchdog: 1s\nrepetitions: 4\n")
	yaml = strings.Replace(yaml, "repetitions: 2\n", "", 1)
	p, err := ParsePlan(filepath.Join(t.TempDir(), "plan.yaml"), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	r := &Runner{Plan: p, PlanYAML: []byte(yaml), Version: "test", RunID: "r1",
		Display: &hookDisplay{onFirst: func(results.RunRecord) { stopCand(); <-served; served <- nil }}}
	start := time.Now()
	_, m, err := r.Execute(t.Context())
	if !errors.Is(err, ErrRunsFailed) {
		t.Fatalf("Execute = %v; want ErrRunsFailed", err)
	}
	if d := time.Since(start); d > 45*time.Second {
		t.Errorf("the plan took %s after its candidate died", d)
	}
	var baseRan, candTried int
	for _, run := range m.Runs {
		switch {
		case run.Role == results.RoleCandidate && run.Status == results.StatusFailed:
			candTried++
		case run.Role == results.RoleCandidate && run.Status != results.StatusSkipped:
			t.Errorf("candidate run %+v; want failed or skipped", run)
		case run.Role == results.RoleBaseline && run.Status == results.StatusOK:
			baseRan++
		case run.Role == results.RoleBaseline && !strings.Contains(run.Error, "comparison is impossible"):
			t.Errorf("baseline run %+v; want skipped as impossible to compare", run)
		}
	}
	// ABBA over 2 scenarios × 4 repetitions: B1 runs; C1 fails twice; the
	// candidate is gone, so every other run is skipped.
	if candTried != 1 || baseRan != 1 {
		t.Errorf("%d candidate runs tried and %d baseline runs measured; want 1 and 1:\n%+v", candTried, baseRan, m.Runs)
	}
}

func TestInvalidRunsSayWhy(t *testing.T) {
	addrs := startAgents(t, 2)
	yaml := nullPlan(t.TempDir(), fmt.Sprintf(`
  - {name: base, address: %q, role: baseline}
  - {name: cand, address: %q, role: candidate}`, addrs[0], addrs[1]), "server: {target_qps: 200}\n")
	// Server at 200 QPS on a 1 ms simulated device, with a 100 µs bound:
	// every run is INVALID.
	yaml = strings.Replace(yaml, "scenarios: [offline, single-stream]", "scenarios: [server]", 1)
	yaml = strings.Replace(yaml, "warmup_ms: 0}", "warmup_ms: 0, server_target_latency_ns: 100000}", 1)
	_, m, err := execute(t, yaml)
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range m.Runs {
		if run.Status != results.StatusOK || run.Valid || !strings.Contains(run.Invalid, "Reduce target QPS") {
			t.Errorf("run %+v; want ok (measured) but not valid, saying why", run)
		}
	}
}
