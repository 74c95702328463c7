package agent

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpuperf/gpuperf/interference"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

func loadJSON(t *testing.T, s interference.Spec) []byte {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// interfere opens an Interfere stream and waits for started.
func interfere(t *testing.T, ctx context.Context, c gpuperfv1.AgentClient, s interference.Spec, deadline time.Duration) gpuperfv1.Agent_InterfereClient {
	t.Helper()
	st, err := c.Interfere(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&gpuperfv1.InterfereRequest{RunId: "r1", LoadJson: loadJSON(t, s), DeadlineNs: int64(deadline)}); err != nil {
		t.Fatal(err)
	}
	ev, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if !ev.GetStarted() {
		t.Fatalf("first event %v; want started", ev)
	}
	return st
}

func readReport(t *testing.T, ev *gpuperfv1.InterfereEvent) interference.Report {
	t.Helper()
	var r interference.Report
	if err := json.Unmarshal(ev.GetReportJson(), &r); err != nil {
		t.Fatalf("report: %v (%v)", err, ev)
	}
	return r
}

// TestInterfereCloseReports: the coordinator closes its side; the agent
// stops the load and reports what it achieved.
func TestInterfereCloseReports(t *testing.T) {
	c, srv := startClient(t)
	st := interfere(t, context.Background(), c, interference.Spec{Kind: interference.KindCPU, DutyCycle: 0.5}, time.Minute)
	if got := srv.Neighbours(); len(got) != 1 || !strings.Contains(got[0], "1 core busy 50% of the time, for run r1") {
		t.Errorf("Neighbours() = %q", got)
	}
	time.Sleep(300 * time.Millisecond)
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	ev, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	r := readReport(t, ev)
	if r.StoppedBy != interference.StoppedByCoordinator || r.RunID != "r1" || r.Unit != "% duty" || r.Schema != interference.ReportSchema {
		t.Errorf("report %+v", r)
	}
	if d := time.Duration(r.DurationNs); d < 300*time.Millisecond {
		t.Errorf("the load ran %v", d)
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Errorf("after the report: %v; want EOF", err)
	}
	if got := srv.Neighbours(); len(got) != 0 {
		t.Errorf("after the report, Neighbours() = %q", got)
	}
}

// TestInterfereDeadline: the agent stops a load at its deadline on its
// own and reports it unasked.
func TestInterfereDeadline(t *testing.T) {
	c, srv := startClient(t)
	st := interfere(t, context.Background(), c, interference.Spec{Kind: interference.KindCPU, DutyCycle: 0.2}, 200*time.Millisecond)
	ev, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	r := readReport(t, ev)
	if r.StoppedBy != interference.StoppedByDeadline {
		t.Errorf("stopped by %q; want deadline", r.StoppedBy)
	}
	if got := srv.Neighbours(); len(got) != 0 {
		t.Errorf("after the deadline, Neighbours() = %q", got)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Errorf("after closing: %v; want EOF", err)
	}
}

// TestInterfereCancel: a coordinator that goes away stops the load.
func TestInterfereCancel(t *testing.T) {
	c, srv := startClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	interfere(t, ctx, c, interference.Spec{Kind: interference.KindCPU}, time.Minute)
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.Neighbours()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the load still runs after the stream was cancelled: %q", srv.Neighbours())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInterfereGPU drives one of the agent's backends.
func TestInterfereGPU(t *testing.T) {
	cfg := Config{Backends: []BackendConfig{{Name: "sim-2ms", Kind: "sim", Options: map[string]string{"latency": "2ms"}}}}
	srv := newServer(t, cfg)
	c := gpuperfv1.NewAgentClient(dial(t, startAgent(t, srv, ListenOptions{})))
	st := interfere(t, context.Background(), c, interference.Spec{Kind: interference.KindGPU, Backend: "sim-2ms"}, time.Minute)
	time.Sleep(time.Second)
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	ev, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	r := readReport(t, ev)
	// Flat out on a 500/s device: at most 500/s; a loaded host may keep the
	// load from reissuing for a while, so only a floor well below it.
	if r.Unit != "samples/s" || r.Achieved < 100 || r.Achieved > 510 || r.Counters["completed"] < 1 {
		t.Errorf("achieved %s", r.AchievedText())
	}
}

func TestInterfereRefusals(t *testing.T) {
	srv := newServer(t, Config{Backends: []BackendConfig{{Name: "sim", Kind: "sim"}}, Neighbours: NeighbourConfig{Allow: []string{"cpu", "gpu"}}})
	c := gpuperfv1.NewAgentClient(dial(t, startAgent(t, srv, ListenOptions{})))
	for _, tc := range []struct {
		load     string
		deadline time.Duration
		code     codes.Code
		want     string
	}{
		{`{"kind":"cpu","duty_cycle":2}`, time.Second, codes.InvalidArgument, "load_json: duty_cycle: must be in (0, 1]"},
		{`{"kind":"cpu","colour":"red"}`, time.Second, codes.InvalidArgument, `load_json: json: unknown field "colour"`},
		{`{"kind":"cpu"}`, 0, codes.InvalidArgument, "deadline_ns: must be positive"},
		{`{"kind":"cpu"}`, 48 * time.Hour, codes.InvalidArgument, "deadline_ns: must be positive and at most 24h0m0s"},
		{`{"kind":"gpu","backend":"triton"}`, time.Second, codes.InvalidArgument, `backend: "triton" is not offered by this agent (offered: sim)`},
		{`{"kind":"disk"}`, time.Second, codes.PermissionDenied, "this agent does not run disk loads (neighbours.allow: cpu, gpu)"},
		{``, time.Second, codes.InvalidArgument, "load_json: empty"},
	} {
		st, err := c.Interfere(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&gpuperfv1.InterfereRequest{RunId: "r", LoadJson: []byte(tc.load), DeadlineNs: int64(tc.deadline)}); err != nil {
			t.Fatal(err)
		}
		_, err = st.Recv()
		if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s, deadline %v: %v; want %v containing %q", tc.load, tc.deadline, err, tc.code, tc.want)
		}
	}
	if err := (Config{Backends: []BackendConfig{{Name: "sim", Kind: "sim"}}, Neighbours: NeighbourConfig{Allow: []string{"fpga"}}}).Validate(); err == nil || !strings.Contains(err.Error(), `neighbours.allow[0]: unknown kind "fpga"`) {
		t.Errorf("an unknown kind in neighbours.allow: %v", err)
	}
}

func TestNeighbourConfigFromYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte("backends: [{name: cpu, kind: cpu}]\nneighbours:\n  allow: [cpu, disk]\n  temp_dir: /var/tmp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Neighbours; strings.Join(got.Allow, ",") != "cpu,disk" || got.TempDir != "/var/tmp" || !got.allows("cpu") || got.allows("gpu") {
		t.Errorf("neighbours = %+v", got)
	}
	if err := os.WriteFile(path, []byte("backends: [{name: cpu, kind: cpu}]\nneighbours: {allow: [fpga]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), path+`: neighbours.allow[0]: unknown kind "fpga"`) {
		t.Errorf("an unknown kind: %v", err)
	}
}
