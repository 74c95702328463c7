package agent

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/builtin"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// limitedClient starts an agent with limits and returns a client of it.
func limitedClient(t *testing.T, l Limits, opts ...Option) (gpuperfv1.AgentClient, *Server) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Limits = l
	srv, err := NewServer(cfg, "test-version", slog.New(slog.NewTextHandler(t.Output(), nil)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return gpuperfv1.NewAgentClient(dial(t, startAgent(t, srv, ListenOptions{}))), srv
}

func TestRunRefusesSettingsPastTheAgentsLimits(t *testing.T) {
	t.Parallel()
	c, _ := limitedClient(t, Limits{MaxRunMemory: "64MiB", MaxRunDuration: "1h"})
	for _, tc := range []struct {
		name string
		sc   inference.Scenario
		edit func(*inference.TestSettings)
		want []string
	}{
		{"queries past memory", inference.SingleStream, func(s *inference.TestSettings) { s.MinQueryCount = 1 << 32 },
			[]string{"min_query_count 4294967296", "64.0 MiB", "max_run_memory 64MiB"}},
		{"offline rate past memory", inference.Offline, func(s *inference.TestSettings) { s.OfflineExpectedQPS = 1e9 },
			[]string{"offline_expected_qps 1e+09", "max_run_memory"}},
		{"server rate past memory", inference.Server, func(s *inference.TestSettings) { s.ServerTargetQPS, s.MinDurationMs = 1e8, 100_000 },
			[]string{"server_target_qps 1e+08", "max_run_memory"}},
		{"duration past the limit", inference.Offline, func(s *inference.TestSettings) { s.MinDurationMs = 2 * 3600 * 1000 },
			[]string{"min_duration_ms 7200000", "max_run_duration"}},
		{"duration near 2^64", inference.Offline, func(s *inference.TestSettings) { s.MinDurationMs = math.MaxUint64 },
			[]string{"min_duration_ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &gpuperfv1.RunRequest{RunId: "big", Backend: "null", Model: "resnet50", Profile: "quick",
				SettingsJson: settingsJSON(t, tc.sc, tc.edit)}
			_, _, err := runToEnd(t, c, req)
			for _, w := range tc.want {
				wantCode(t, err, codes.InvalidArgument, w)
			}
		})
	}
	// A sample set whose detail log would not fit in a message.
	req := &gpuperfv1.RunRequest{RunId: "set", Backend: "null", Model: "resnet50", Profile: "quick",
		SettingsJson: settingsJSON(t, inference.Offline, func(s *inference.TestSettings) { s.PerformanceSampleCountOverride = 1 << 22 }),
		QslJson:      []byte(`{"name":"big","total_sample_count":16777216,"performance_sample_count":16777216}`)}
	roomy, _ := limitedClient(t, Limits{MaxRunMemory: "1GiB"})
	_, _, err := runToEnd(t, roomy, req)
	wantCode(t, err, codes.InvalidArgument, "performance_sample_count_override 4194304")
	wantCode(t, err, codes.InvalidArgument, "detail log")
	wantCode(t, err, codes.InvalidArgument, "--max-msg-bytes")
	_, _, err = runToEnd(t, c, req)
	wantCode(t, err, codes.InvalidArgument, "max_run_memory 64MiB")
	// Names and data-set counts from the request are bounded too.
	req = offlineNull(t, strings.Repeat("x", 10_000))
	_, _, err = runToEnd(t, c, req)
	wantCode(t, err, codes.InvalidArgument, "run_id")
	req = offlineNull(t, "qsl")
	req.QslJson = []byte(`{"name":"x","total_sample_count":18446744073709551615,"performance_sample_count":8589934592}`)
	_, _, err = runToEnd(t, c, req)
	wantCode(t, err, codes.InvalidArgument, "performance_sample_count")
	req = offlineNull(t, "nan")
	req.FindPeak, req.PeakPrecision = true, math.NaN()
	_, _, err = runToEnd(t, c, req)
	wantCode(t, err, codes.InvalidArgument, "peak_precision")
}

// TestRunRefusesAHintThatOutgrowsTheLimit: the warm-up's hint makes an
// Offline run of the null backend far larger than the request; the
// generator refuses it before allocating, and the agent says why.
func TestRunRefusesAHintThatOutgrowsTheLimit(t *testing.T) {
	t.Parallel()
	c, _ := limitedClient(t, Limits{MaxRunMemory: "64MiB"})
	req := offlineNull(t, "hinted")
	req.SettingsJson = settingsJSON(t, inference.Offline, func(s *inference.TestSettings) {
		s.MinDurationMs, s.WarmupMs = 600_000, 200
	})
	_, _, err := runToEnd(t, c, req)
	wantCode(t, err, codes.InvalidArgument, "warm-up's hint")
	// The agent is idle and serves the next run.
	req = offlineNull(t, "after")
	req.AutoHint = false
	if _, res, err := runToEnd(t, c, req); err != nil || res == nil {
		t.Fatalf("run after the refused one: %v", err)
	}
}

// panicBackend panics in IssueQuery, on the run's own goroutine.
type panicBackend struct{ rec *inference.Recorder }

func (*panicBackend) Name() string { return "panicky" }
func (b *panicBackend) Start(_ context.Context, rec *inference.Recorder) error {
	b.rec = rec
	return nil
}
func (*panicBackend) IssueQuery([]inference.Sample) {
	panic("runtime error: index out of range [3] with length 3")
}
func (*panicBackend) FlushQueries() {}
func (*panicBackend) Stop() error   { return nil }

func TestRunRecoversAPanicAndStaysUp(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	srv, err := NewServer(DefaultConfig(), "test-version", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	panicky := true
	srv.newBackend = func(kind string, opts map[string]string) (inference.Backend, error) {
		if panicky {
			return &panicBackend{}, nil
		}
		return builtin.New(kind, opts)
	}
	c := gpuperfv1.NewAgentClient(dial(t, startAgent(t, srv, ListenOptions{})))
	_, _, err = runToEnd(t, c, offlineNull(t, "boom"))
	wantCode(t, err, codes.Internal, "internal error: runtime error: index out of range")
	if !strings.Contains(logs.String(), "the run panicked") || !strings.Contains(logs.String(), "panicBackend") {
		t.Errorf("the panic and its stack are not logged:\n%s", logs.String())
	}
	panicky = false
	if _, res, err := runToEnd(t, c, offlineNull(t, "after")); err != nil || res == nil {
		t.Fatalf("run after the panic: %v", err)
	}
}

// TestRunSendsAHeartbeat: a 3 s warm-up reports nothing of its own; the
// agent's heartbeat still reaches the client about once a second.
func TestRunSendsAHeartbeat(t *testing.T) {
	t.Parallel()
	c, _ := startClient(t)
	req := streamSim(t, "heartbeat", 200*time.Millisecond)
	req.SettingsJson = settingsJSON(t, inference.SingleStream, func(s *inference.TestSettings) {
		s.MinDurationMs, s.WarmupMs = 200, 3000
	})
	stream, err := c.Run(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	var phases []string
	for {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetResult() != nil {
			break
		}
		times = append(times, time.Now())
		phases = append(phases, ev.GetProgress().GetPhase())
	}
	warm := 0
	for _, ph := range phases {
		if ph == "warm-up" {
			warm++
		}
	}
	// 3 s of warm-up: one event at once, then one every 1.25 s.
	if warm < 2 {
		t.Fatalf("%d warm-up events in a 3 s warm-up (phases %v); want a heartbeat", warm, phases)
	}
	for i := 1; i < len(times); i++ {
		// 1.5 s at most on an idle host; 3x for a loaded one.
		if gap := times[i].Sub(times[i-1]); gap > 4500*time.Millisecond {
			t.Errorf("%s between events %d and %d", gap, i-1, i)
		}
	}
}

// hangBackend never completes a sample.
type hangBackend struct{}

func (hangBackend) Name() string                                     { return "hang" }
func (hangBackend) Start(context.Context, *inference.Recorder) error { return nil }
func (hangBackend) IssueQuery([]inference.Sample)                    {}
func (hangBackend) FlushQueries()                                    {}
func (hangBackend) Stop() error                                      { return nil }

// TestServeEndsAfterTheGracePeriod: a run whose backend never answers
// drains for its 30 s drain timeout once cancelled; shutdown does not
// wait for it.
func TestServeEndsAfterTheGracePeriod(t *testing.T) {
	t.Parallel()
	srv := newServer(t, DefaultConfig())
	srv.newBackend = func(string, map[string]string) (inference.Backend, error) { return hangBackend{}, nil }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	served := make(chan error, 1)
	const grace = 500 * time.Millisecond
	go func() {
		served <- Serve(ctx, srv, ListenOptions{Addr: "127.0.0.1:0", ShutdownGrace: grace}, func(a net.Addr) { addrc <- a })
	}()
	c := gpuperfv1.NewAgentClient(dial(t, (<-addrc).String()))
	req := offlineNull(t, "hung")
	req.AutoHint = false
	req.SettingsJson = settingsJSON(t, inference.Offline, func(s *inference.TestSettings) {
		s.MinDurationMs, s.WarmupMs, s.DrainTimeoutMs = 200, 0, 30_000
	})
	if _, err := c.Run(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	waitBusy(t, c, "hung", 10*time.Second)
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if d := time.Since(start); d > grace+stopAfterCancel+3*time.Second {
			t.Fatalf("Serve returned %s after its context ended; want about %s", d, grace+stopAfterCancel)
		}
		if err == nil || !strings.Contains(err.Error(), "hung") {
			t.Errorf("Serve = %v; want it to name the run still draining", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve still running 20 s after its context ended")
	}
}

// syncBuffer is a bytes.Buffer for a logger written from several
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestFailedAuthenticationsAreLoggedRateLimited(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	srv, err := NewServer(DefaultConfig(), "test-version", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := startAgent(t, srv, ListenOptions{TokenFile: tokenFile})
	bad := gpuperfv1.NewAgentClient(dial(t, addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(BearerToken("guess"))))
	for range 20 {
		if _, err := bad.Describe(t.Context(), &gpuperfv1.DescribeRequest{}); err == nil {
			t.Fatal("a wrong token was accepted")
		}
	}
	lines := 0
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "authentication failed") {
			lines++
			if !strings.Contains(l, "peer=127.0.0.1:") || !strings.Contains(l, "invalid bearer token") || !strings.Contains(l, "Describe") {
				t.Errorf("log line %q does not name the peer, the method and the reason", l)
			}
		}
	}
	if lines != 1 {
		t.Fatalf("%d log lines for 20 failures within a second; want 1 (rate-limited):\n%s", lines, logs.String())
	}
	var f failureLog
	f.log = slog.New(slog.NewTextHandler(&logs, nil))
	f.record("10.0.0.1:5", "m", "r")
	f.record("10.0.0.1:5", "m", "r")
	f.last = f.last.Add(-authLogEvery)
	f.record("10.0.0.2:5", "m", "r")
	if !strings.Contains(logs.String(), "peer=10.0.0.2:5 method=m reason=r more_since_last_log=1") {
		t.Errorf("the next line does not count the one held back:\n%s", logs.String())
	}
}

func TestListenWarnings(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "token-open")
	closed := filepath.Join(dir, "token-closed")
	for p, mode := range map[string]os.FileMode{open: 0o644, closed: 0o600} {
		if err := os.WriteFile(p, []byte("t"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		lo   ListenOptions
		want string // "" for no warning
	}{
		{"closed token", ListenOptions{TokenFile: closed}, ""},
		{"open token", ListenOptions{TokenFile: open}, "readable by others (mode 0644)"},
		{"anonymous off loopback", ListenOptions{Addr: "0.0.0.0:7070", Insecure: true, AllowAnonymous: true}, "anyone who reaches 0.0.0.0:7070 can run load"},
		{"metrics on loopback", ListenOptions{MetricsAddr: "127.0.0.1:9400"}, ""},
		{"metrics on every interface", ListenOptions{MetricsAddr: ":9400"}, "--metrics-listen :9400 is not a loopback address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := strings.Join(tc.lo.Warnings(), "\n")
			if (tc.want == "") != (w == "") || !strings.Contains(w, tc.want) {
				t.Fatalf("Warnings() = %q; want %q", w, tc.want)
			}
		})
	}
}

func TestLimitsResolve(t *testing.T) {
	host := func() (uint64, string, error) { return 16 << 30, "MemTotal", nil }
	for _, tc := range []struct {
		l       Limits
		mem     uint64
		name    string
		dur     time.Duration
		problem string
	}{
		{Limits{}, 8 << 30, "max_run_memory 50% of 16.0 GiB (MemTotal)", DefaultMaxRunDuration, ""},
		{Limits{MaxRunMemory: "25%", MaxRunDuration: "90m"}, 4 << 30, "max_run_memory 25% of 16.0 GiB (MemTotal)", 90 * time.Minute, ""},
		{Limits{MaxRunMemory: "512MiB"}, 512 << 20, "max_run_memory 512MiB", DefaultMaxRunDuration, ""},
		{Limits{MaxRunMemory: "2GB"}, 2e9, "max_run_memory 2GB", DefaultMaxRunDuration, ""},
		{Limits{MaxRunMemory: "0%"}, 0, "", 0, "max_run_memory"},
		{Limits{MaxRunMemory: "150%"}, 0, "", 0, "max_run_memory"},
		{Limits{MaxRunMemory: "NaN%"}, 0, "", 0, "max_run_memory"},
		{Limits{MaxRunMemory: "lots"}, 0, "", 0, "max_run_memory"},
		{Limits{MaxRunMemory: "1MiB"}, 0, "", 0, "below the least a run needs"},
		{Limits{MaxRunMemory: "18446744073709551615GiB"}, 0, "", 0, "too large"},
		{Limits{MaxRunMemory: "8 PB"}, 0, "", 0, "unknown unit"},
		{Limits{MaxRunDuration: "forever"}, 0, "", 0, "max_run_duration"},
		{Limits{MaxRunDuration: "1ms"}, 0, "", 0, "max_run_duration"},
	} {
		got, err := tc.l.resolve(host)
		switch {
		case tc.problem != "":
			if err == nil || !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("%+v: error %v; want one naming %q", tc.l, err, tc.problem)
			}
		case err != nil:
			t.Errorf("%+v: %v", tc.l, err)
		case got.memory != tc.mem || got.memoryName != tc.name || got.duration != tc.dur:
			t.Errorf("%+v: %+v; want %d %q %s", tc.l, got, tc.mem, tc.name, tc.dur)
		}
	}
}
