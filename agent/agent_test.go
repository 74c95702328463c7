package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
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
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/gpuperf/gpuperf/inference"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// startAgent serves srv on an ephemeral loopback port until the test ends,
// and returns the address.
func startAgent(t *testing.T, srv *Server, lo ListenOptions) string {
	t.Helper()
	lo.Addr = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, srv, lo, func(a net.Addr) { addrc <- a }) }()
	select {
	case a := <-addrc:
		t.Cleanup(func() {
			cancel()
			if err := <-served; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
		return a.String()
	case err := <-served:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	return ""
}

func newServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	srv, err := NewServer(cfg, "test-version", slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// startClient starts an agent with the default backends and returns a
// client of it, and the server for tests that look inside.
func startClient(t *testing.T) (gpuperfv1.AgentClient, *Server) {
	t.Helper()
	srv := newServer(t, DefaultConfig())
	return gpuperfv1.NewAgentClient(dial(t, startAgent(t, srv, ListenOptions{}))), srv
}

// settingsJSON is resnet50's quick settings for sc, changed by edit.
func settingsJSON(t *testing.T, sc inference.Scenario, edit func(*inference.TestSettings)) []byte {
	t.Helper()
	s, _, err := inference.Settings("resnet50", sc, inference.ProfileQuick)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&s)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// offlineNull is a short Offline run against the null backend. Its
// validity depends on the host: a null backend's rate varies too much
// between a 100 ms warm-up and the timed run for the hint to hold.
func offlineNull(t *testing.T, id string) *gpuperfv1.RunRequest {
	return &gpuperfv1.RunRequest{
		RunId: id, Backend: "null", Model: "resnet50", Profile: "quick", AutoHint: true,
		SettingsJson: settingsJSON(t, inference.Offline, func(s *inference.TestSettings) {
			s.MinDurationMs, s.WarmupMs = 200, 100
		}),
	}
}

// streamSim is a SingleStream run of length d against the sim backend
// (1 ms per query by default).
func streamSim(t *testing.T, id string, d time.Duration) *gpuperfv1.RunRequest {
	return &gpuperfv1.RunRequest{
		RunId: id, Backend: "sim", Model: "resnet50", Profile: "quick",
		SettingsJson: settingsJSON(t, inference.SingleStream, func(s *inference.TestSettings) {
			s.MinDurationMs, s.WarmupMs = uint64(d/time.Millisecond), 0
			s.SingleStreamExpectedLatencyNs = 500_000
		}),
	}
}

// collect reads a Run stream to its end.
func collect(stream grpc.ServerStreamingClient[gpuperfv1.RunEvent]) ([]*gpuperfv1.Progress, *gpuperfv1.RunResult, error) {
	var progress []*gpuperfv1.Progress
	var result *gpuperfv1.RunResult
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return progress, result, nil
		}
		if err != nil {
			return progress, result, err
		}
		switch e := ev.Event.(type) {
		case *gpuperfv1.RunEvent_Progress:
			progress = append(progress, e.Progress)
		case *gpuperfv1.RunEvent_Result:
			if result != nil {
				return progress, result, errors.New("a second result")
			}
			result = e.Result
		}
	}
}

func runToEnd(t *testing.T, c gpuperfv1.AgentClient, req *gpuperfv1.RunRequest) ([]*gpuperfv1.Progress, *gpuperfv1.RunResult, error) {
	t.Helper()
	stream, err := c.Run(t.Context(), req)
	if err != nil {
		return nil, nil, err
	}
	return collect(stream)
}

func wantCode(t *testing.T, err error, code codes.Code, contains string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("error %v: code %s, want %s", err, st.Code(), code)
	}
	if !strings.Contains(st.Message(), contains) {
		t.Fatalf("error message %q does not name %q", st.Message(), contains)
	}
}

// waitBusy polls Describe until the agent's busy run is want.
func waitBusy(t *testing.T, c gpuperfv1.AgentClient, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		d, err := c.Describe(t.Context(), &gpuperfv1.DescribeRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if d.BusyRunId == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("busy run %q after %s, want %q", d.BusyRunId, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	c, _ := startClient(t)
	d, err := c.Describe(t.Context(), &gpuperfv1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if d.AgentVersion != "test-version" || d.Hostname != host || d.Os == "" || d.Arch == "" || d.Cpus < 1 || d.BusyRunId != "" {
		t.Errorf("describe: %+v", d)
	}
	var names []string
	for _, b := range d.Backends {
		names = append(names, b.Name+"/"+b.Kind)
	}
	if got := strings.Join(names, " "); got != "null/null sim/sim cpu/cpu" {
		t.Errorf("backends %q", got)
	}
	var fp map[string]any
	if err := json.Unmarshal(d.FingerprintJson, &fp); err != nil {
		t.Fatalf("fingerprint_json: %v", err)
	}
	for _, k := range []string{"hostname", "os", "arch", "cpus", "gpuperf_version"} {
		if _, ok := fp[k]; !ok {
			t.Errorf("fingerprint lacks %q: %s", k, d.FingerprintJson)
		}
	}
	if fp["gpuperf_version"] != "test-version" || fp["hostname"] != host {
		t.Errorf("fingerprint %s", d.FingerprintJson)
	}
}

func TestHealthServing(t *testing.T) {
	t.Parallel()
	conn := dial(t, startAgent(t, newServer(t, DefaultConfig()), ListenOptions{}))
	for _, svc := range []string{"", "gpuperf.v1.Agent"} {
		r, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q: %s", svc, r.Status)
		}
	}
}

func TestRunOffline(t *testing.T) {
	t.Parallel()
	c, _ := startClient(t)
	// The sim serves 1000 samples/s whatever the host's load, so the
	// warm-up's hint holds and the run is VALID.
	req := offlineNull(t, "offline-1")
	req.Backend = "sim"
	_, res, err := runToEnd(t, c, req)
	if err != nil {
		t.Fatal(err)
	}
	if res == nil {
		t.Fatal("no result")
	}
	var r inference.Result
	if err := json.Unmarshal(res.ResultJson, &r); err != nil {
		t.Fatalf("result_json: %v", err)
	}
	if !r.Validity.Valid || r.Backend != "sim" || r.Model != "resnet50" || r.Version != "test-version" || r.SamplesComplete == 0 {
		t.Errorf("result: valid %v (%s), backend %q, model %q, version %q, %d samples",
			r.Validity.Valid, r.Validity.InvalidReason, r.Backend, r.Model, r.Version, r.SamplesComplete)
	}
	if r.HintsFrom != "warm-up" {
		t.Errorf("hints from %q, want warm-up (auto_hint)", r.HintsFrom)
	}
	if !strings.HasPrefix(string(res.ResultJson), "{\n  \"schema\"") || !strings.HasSuffix(string(res.ResultJson), "}\n") {
		t.Errorf("result_json is not result.json's layout: %.40q…", res.ResultJson)
	}
	for _, want := range []string{"MLPerf Results Summary", "Scenario : Offline", "Result is : VALID"} {
		if !strings.Contains(string(res.SummaryLog), want) {
			t.Errorf("summary_log lacks %q", want)
		}
	}
	if !strings.Contains(string(res.DetailLog), ":::MLLOG") {
		t.Errorf("detail_log is not an MLPerf detail log: %.200q", res.DetailLog)
	}
}

func TestRunStreamsProgress(t *testing.T) {
	t.Parallel()
	c, _ := startClient(t)
	progress, res, err := runToEnd(t, c, streamSim(t, "progress-1", 2500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if res == nil || len(res.SummaryLog) == 0 {
		t.Fatal("no result")
	}
	if len(progress) < 2 {
		t.Fatalf("%d progress events in a 2.5 s run, want at least 2", len(progress))
	}
	// The agent's heartbeat says "warm-up" until the timed run reports.
	if progress[0].Phase != "warm-up" {
		t.Errorf("first event %+v; want the agent's warm-up heartbeat, sent at once", progress[0])
	}
	for len(progress) > 0 && progress[0].Phase == "warm-up" {
		progress = progress[1:]
	}
	for i, p := range progress {
		if p.Phase == "" || p.TargetNs != int64(2500*time.Millisecond) || p.QueriesPlanned == 0 {
			t.Errorf("progress %d: %+v", i, p)
		}
		if i > 0 && (p.ElapsedNs <= progress[i-1].ElapsedNs || p.QueriesIssued < progress[i-1].QueriesIssued) {
			t.Errorf("progress %d went backwards: %+v after %+v", i, p, progress[i-1])
		}
	}
}

func TestRunOneAtATimeAndCancel(t *testing.T) {
	t.Parallel()
	c, _ := startClient(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	first, err := c.Run(ctx, streamSim(t, "long-1", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	waitBusy(t, c, "long-1", 5*time.Second)

	_, _, err = runToEnd(t, c, offlineNull(t, "second-1"))
	wantCode(t, err, codes.FailedPrecondition, `"long-1"`)

	cancel()
	if _, _, err := collect(first); status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled stream ended with %v", err)
	}
	// The run stops issuing and drains: the agent is idle well before the
	// minute the run asked for.
	waitBusy(t, c, "", 5*time.Second)
	_, res, err := runToEnd(t, c, offlineNull(t, "after-1"))
	if err != nil || res == nil {
		t.Fatalf("run after the cancelled one: result %v, err %v", res != nil, err)
	}
}

// A run whose client went away is still draining its last query; a new Run
// waits for the drain rather than being refused.
func TestRunWaitsForADrainingRun(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{Backends: []BackendConfig{
		{Name: "null", Kind: "null"},
		{Name: "slow", Kind: "sim", Options: map[string]string{"latency": "1500ms"}},
	}})
	c := gpuperfv1.NewAgentClient(dial(t, startAgent(t, srv, ListenOptions{})))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req := streamSim(t, "slow-1", time.Minute)
	req.Backend = "slow"
	first, err := c.Run(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	waitBusy(t, c, "slow-1", 5*time.Second)
	time.Sleep(200 * time.Millisecond) // a query is in flight
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv.mu.Lock()
		draining := srv.busy != nil && srv.busy.ctx.Err() != nil
		srv.mu.Unlock()
		if draining {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent never saw the cancel")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if _, res, err := runToEnd(t, c, offlineNull(t, "next-1")); err != nil || res == nil {
		t.Fatalf("run after the cancelled one: result %v, err %v", res != nil, err)
	}
	t.Logf("the second run finished %s after the first was cancelled", time.Since(start))
	if _, _, err := collect(first); status.Code(err) != codes.Canceled {
		t.Errorf("cancelled stream ended with %v", err)
	}
}

// A run whose result is on its way is waited for: a client that starts
// its next run as soon as it has the result, without reading its stream
// to the end, is not refused as "in progress" in the moment before the
// first run's handler returns (seen on a loaded host). One still running
// is refused.
func TestRunWaitsForARunSendingItsResult(t *testing.T) {
	srv := newServer(t, DefaultConfig())
	first, err := srv.acquire(t.Context(), "first")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.acquire(t.Context(), "early"); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a run started while another runs: %v; want FailedPrecondition", err)
	}
	first.ending.Store(true)
	got := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		ar, err := srv.acquire(t.Context(), "next")
		if err == nil {
			srv.release(ar)
		}
		got <- err
	})
	select {
	case err := <-got:
		t.Fatalf("the next run did not wait for the first's result: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	srv.release(first)
	wg.Wait()
	if err := <-got; err != nil {
		t.Fatalf("the next run after the first released: %v", err)
	}
}

func TestRunRejectsBadRequests(t *testing.T) {
	t.Parallel()
	c, _ := startClient(t)
	for _, tc := range []struct {
		name string
		edit func(*gpuperfv1.RunRequest)
		want string
	}{
		{"unknown backend", func(r *gpuperfv1.RunRequest) { r.Backend = "tpu" }, `backend: "tpu"`},
		{"malformed settings", func(r *gpuperfv1.RunRequest) { r.SettingsJson = []byte(`{"scenario":`) }, "settings_json"},
		{"unknown setting", func(r *gpuperfv1.RunRequest) { r.SettingsJson = []byte(`{"scenario":"Offline","colour":"red"}`) }, "colour"},
		{"invalid settings", func(r *gpuperfv1.RunRequest) {
			r.SettingsJson = settingsJSON(t, inference.Offline, func(s *inference.TestSettings) { s.MinDurationMs = 0 })
		}, "min_duration_ms"},
		{"no settings", func(r *gpuperfv1.RunRequest) { r.SettingsJson = nil }, "settings_json"},
		{"trailing data", func(r *gpuperfv1.RunRequest) { r.SettingsJson = append(r.SettingsJson, "{}"...) }, "settings_json"},
		{"unknown model", func(r *gpuperfv1.RunRequest) { r.Model = "gpt-9" }, "model"},
		{"unknown profile", func(r *gpuperfv1.RunRequest) { r.Profile = "forever" }, "profile"},
		{"no run id", func(r *gpuperfv1.RunRequest) { r.RunId = "" }, "run_id"},
		{"bad qsl", func(r *gpuperfv1.RunRequest) { r.QslJson = []byte(`{"samples":3}`) }, "qsl_json"},
		{"peak for offline", func(r *gpuperfv1.RunRequest) { r.FindPeak = true }, "find_peak"},
		{"negative precision", func(r *gpuperfv1.RunRequest) { r.PeakPrecision = -1 }, "peak_precision"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := offlineNull(t, "bad-1")
			tc.edit(req)
			_, _, err := runToEnd(t, c, req)
			wantCode(t, err, codes.InvalidArgument, tc.want)
		})
	}
	// A refused request leaves the agent idle.
	waitBusy(t, c, "", time.Second)
}

func TestToken(t *testing.T) {
	t.Parallel()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := startAgent(t, newServer(t, DefaultConfig()), ListenOptions{TokenFile: tokenFile})
	creds := grpc.WithTransportCredentials(insecure.NewCredentials())
	for _, tc := range []struct {
		name string
		opts []grpc.DialOption
		want codes.Code
	}{
		{"missing", nil, codes.Unauthenticated},
		{"wrong", []grpc.DialOption{grpc.WithPerRPCCredentials(BearerToken("guess"))}, codes.Unauthenticated},
		{"right", []grpc.DialOption{grpc.WithPerRPCCredentials(BearerToken("s3cret"))}, codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := dial(t, addr, append(tc.opts, creds)...)
			c := gpuperfv1.NewAgentClient(conn)
			_, err := c.Describe(t.Context(), &gpuperfv1.DescribeRequest{})
			if status.Code(err) != tc.want {
				t.Errorf("Describe: %v, want %s", err, tc.want)
			}
			_, err = healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
			if status.Code(err) != tc.want {
				t.Errorf("health: %v, want %s", err, tc.want)
			}
			req := offlineNull(t, "token-1")
			if tc.want == codes.OK {
				req.Backend = "unknown" // the stream got past the token check
				_, _, err = runToEnd(t, c, req)
				wantCode(t, err, codes.InvalidArgument, "unknown")
				return
			}
			_, _, err = runToEnd(t, c, req)
			wantCode(t, err, tc.want, "token")
		})
	}
}

func TestRunFindPeak(t *testing.T) {
	t.Parallel()
	srv := newServer(t, Config{Backends: []BackendConfig{
		{Name: "wide", Kind: "sim", Options: map[string]string{"servers": "32"}},
	}})
	c := gpuperfv1.NewAgentClient(dial(t, startAgent(t, srv, ListenOptions{})))
	req := &gpuperfv1.RunRequest{
		RunId: "peak-1", Backend: "wide", Model: "resnet50", Profile: "quick",
		AutoHint: true, FindPeak: true,
		// A coarse search: the test is of the wiring, not of the search.
		PeakPrecision: 1e6,
		SettingsJson: settingsJSON(t, inference.Server, func(s *inference.TestSettings) {
			s.MinDurationMs, s.WarmupMs = 200, 200
		}),
	}
	_, res, err := runToEnd(t, c, req)
	if err != nil {
		t.Fatal(err)
	}
	var r inference.Result
	if err := json.Unmarshal(res.GetResultJson(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Peak == nil || len(r.Peak.Probes) < 2 {
		t.Fatalf("no peak search in the result: %+v", r.Peak)
	}
	t.Logf("peak %.0f QPS after %d probes, confirmed %v", r.Peak.PeakQPS, len(r.Peak.Probes), r.Peak.Confirmed)
}
