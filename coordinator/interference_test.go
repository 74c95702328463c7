package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/procfs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpuperf/gpuperf/agent"
	"github.com/gpuperf/gpuperf/interference"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
	"github.com/gpuperf/gpuperf/results"
)

// simAgent offers the sim device named device under the backend name gpu.
func simAgent(device, latency string) agent.Config {
	return agent.Config{Backends: []agent.BackendConfig{{Name: "gpu", Kind: "sim",
		Options: map[string]string{"servers": "2", "latency": latency, "device": device}}}}
}

// TestSimNeighbourTakesItsShare is the queueing-theory check of the
// isolation table. Each side's agent shares a simulated GPU (2 servers,
// fixed service: 1000 samples/s on the baseline, 2.5 ms so 800/s on the
// candidate) with a neighbour agent in the same process, which drives it
// at a Poisson 250 samples/s during the side's timed Offline runs. The
// device serves its tenants in turn, so the neighbour gets its 250 and the
// Offline run the rest: isolation ratios of 1 − 250/1000 = 75% and
// 1 − 250/800 = 68.75%, and the candidate retains 550/750 = 73.3% under
// the load (80% quiet). The neighbour's arrivals are seeded per
// repetition, so the ratio's interval includes their variation.
//
// The neighbour starts when the coordinator hears of the timed run's
// start, a moment after it (0 to 120 ms of a 1.7 s run were seen on a
// loaded host), and during that moment the run has the device to itself;
// and on a loaded host under the race detector the neighbour may offer
// less than its 250/s (210/s over four runs was seen). The prediction for
// each run therefore takes the rate the neighbour offered (samples issued
// over its duration, from neighbour.json) over the part of the run it
// overlapped (the run's start and length from result.json):
// 1 − λ·overlap/(C·T). The ratio's interval must cover the mean of those
// predictions, and the neighbour must have overlapped at least 85% of
// every run. The log shows the prediction at 250/s throughout beside it.
func TestSimNeighbourTakesItsShare(t *testing.T) {
	dev := strings.ReplaceAll(t.Name(), "/", "-")
	base, _ := serveAgent(t, simAgent(dev+"-base", "2ms"))
	baseNb, _ := serveAgent(t, simAgent(dev+"-base", "2ms"))
	cand, _ := serveAgent(t, simAgent(dev+"-cand", "2500us"))
	candNb, _ := serveAgent(t, simAgent(dev+"-cand", "2500us"))
	yaml := fmt.Sprintf(`version: v1
agents:
  - {name: base, address: %q, role: baseline, host: a, neighbour_agent: {address: %q}}
  - {name: cand, address: %q, role: candidate, host: b, neighbour_agent: {address: %q}}
workload:
  backend: gpu
  model: resnet50
  settings: {min_duration_ms: 800, warmup_ms: 200}
scenarios: [offline]
profile: quick
repetitions: 4
output: %s
interference:
  - {kind: gpu, backend: gpu, qps: 250}
`, base, baseNb, cand, candNb, t.TempDir())
	const lambda = 250.0
	capacity := map[string]float64{"base": 1000, "cand": 800}
	p := loadPlan(t, yaml)
	r := &Runner{Plan: p, PlanYAML: []byte(yaml), Version: "test", RunID: "r1"}
	tree, m, err := r.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Runs) != 16 {
		t.Fatalf("%d runs; want 2 sides × 4 repetitions × (quiet, gpu)", len(m.Runs))
	}
	// ABBA over the phases too: quiet first on even repetitions, under
	// the load first on odd ones.
	var order []string
	for _, run := range m.Runs {
		if run.Host == "base" {
			order = append(order, cmpOr(run.Interference, QuietPhase))
		}
	}
	if got := strings.Join(order, " "); got != "quiet gpu gpu quiet quiet gpu gpu quiet" {
		t.Errorf("the baseline's phases ran in the order %s", got)
	}
	predicted := map[string]float64{}
	for _, run := range m.Runs {
		if run.Status != results.StatusOK {
			t.Fatalf("run %+v", run)
		}
		b, err := os.ReadFile(filepath.Join(tree.Root, run.Dir, results.NeighbourFile))
		if (run.Interference != "") != (err == nil) {
			t.Fatalf("%s: interference %q, neighbour.json: %v", run.Dir, run.Interference, err)
		}
		if run.Interference == "" {
			continue
		}
		var rep interference.Report
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		res, err := tree.ReadResult(run.Dir)
		if err != nil {
			t.Fatal(err)
		}
		// Offline's window: from the timed run's start to its last
		// completion.
		window := float64(res.SamplesComplete) / res.SamplesPerSecond
		late := rep.Started.Sub(res.StartedAt).Seconds()
		overlap := (window - max(late, 0)) / window
		if overlap < 0.85 {
			t.Errorf("%s: the neighbour started %.0f ms into a %.2f s run", run.Dir, 1000*late, window)
		}
		offered := rep.Counters["issued"] / (float64(rep.DurationNs) / 1e9)
		predicted[run.Host] += (1 - offered*overlap/capacity[run.Host]) * 100 / 4
		t.Logf("%s: the neighbour started %.0f ms into the %.2f s run and offered %.1f samples/s", run.Dir, 1000*late, window, offered)
	}
	c, err := results.Compare(tree, m, results.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Isolation == nil || len(c.Isolation.Scenarios) != 1 || len(c.Isolation.Scenarios[0].Loads) != 1 {
		t.Fatalf("isolation %+v", c.Isolation)
	}
	li := c.Isolation.Scenarios[0].Loads[0]
	for _, s := range []struct {
		host string
		iso  results.SideIsolation
	}{{"base", li.Baseline}, {"cand", li.Candidate}} {
		if s.iso.Interval == nil || s.iso.RatioPct == nil {
			t.Fatalf("%s: no isolation ratio (%+v)", s.host, s.iso)
		}
		iv, want := s.iso.Interval, predicted[s.host]
		t.Logf("%s: isolation ratio %.2f%% [%.2f, %.2f]; queueing theory %.2f%% at 250/s throughout, %.2f%% at what the neighbour offered over its overlap; neighbour %.1f %s over %d runs, %s",
			s.host, *s.iso.RatioPct, iv.LowPct, iv.HighPct, 100*(1-lambda/capacity[s.host]), want, s.iso.Neighbour.Achieved, s.iso.Neighbour.Unit, s.iso.Neighbour.Runs, s.iso.Pairing)
		if iv.LowPct > want || iv.HighPct < want {
			t.Errorf("%s: the isolation ratio's interval [%.2f, %.2f] does not cover %.2f%%", s.host, iv.LowPct, iv.HighPct, want)
		}
		if n := s.iso.Neighbour; n == nil || n.Runs != 4 || n.Achieved < 200 || n.Achieved > 300 || n.Target != lambda {
			t.Errorf("%s: the neighbour achieved %+v; want about 250 samples/s in 4 runs", s.host, n)
		}
		if s.iso.Pairing != results.PairingPaired {
			t.Errorf("%s: pairing %q", s.host, s.iso.Pairing)
		}
	}
	if li.Interval == nil || li.RetainedPct == nil {
		t.Fatalf("no retained %% under the load: %+v", li)
	}
	t.Logf("retained quiet %.2f%%, under the load %.2f%% [%.2f, %.2f] (theory %.2f%%)", *c.Scenarios[0].RetainedPct, *li.RetainedPct,
		li.Interval.LowPct, li.Interval.HighPct, 100*(800-lambda)/(1000-lambda))
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// processCPU is this process's CPU time in seconds, from /proc/self/stat.
func processCPU(t *testing.T) float64 {
	t.Helper()
	p, err := procfs.Self()
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return st.CPUTime()
}

// noStrayLoad checks, after a plan ended, that no agent runs a neighbour
// load and that the process is idle: over the next second it uses under
// 0.2 s of CPU (the busy load of these tests would use 1 s). An
// interrupted run drains on its agent after the coordinator returned (the
// sim device spins through it), so the check first waits for the agents'
// run slots to be free.
func noStrayLoad(t *testing.T, srvs ...*agent.Server) {
	t.Helper()
	// The coordinator has returned: every neighbour load must have stopped
	// already.
	for _, s := range srvs {
		if got := s.Neighbours(); len(got) > 0 {
			t.Errorf("a neighbour load still runs after the plan ended: %q", got)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range srvs {
		for {
			d, err := s.Describe(context.Background(), &gpuperfv1.DescribeRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if d.BusyRunId == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s still drains 30 s after the plan ended", d.BusyRunId)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	cpu0 := processCPU(t)
	time.Sleep(time.Second)
	if used := processCPU(t) - cpu0; used > 0.2 {
		t.Errorf("the process used %.2f s of CPU in the second after the plan ended", used)
	} else {
		t.Logf("after the plan: %.3f s of CPU in 1 s", used)
	}
}

// waitForLoad waits until srv runs a neighbour load for one of run r1's
// timed runs (not the probe the coordinator starts as it connects). It
// runs on its own goroutine, so it reports rather than stops the test.
func waitForLoad(t *testing.T, srv *agent.Server) bool {
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, l := range srv.Neighbours() {
			if strings.Contains(l, "for run r1/") {
				return true
			}
		}
		if time.Now().After(deadline) {
			t.Error("no neighbour load started for a timed run within 30 s")
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// busyPlan runs sim Offline for 2 s per run, with a cpu load on one busy
// core from the given neighbour.
func busyPlan(out, base, cand, nb string) string {
	return fmt.Sprintf(`version: v1
agents:
  - {name: base, address: %q, role: baseline, neighbour_agent: {address: %q}}
  - {name: cand, address: %q, role: candidate, neighbour_agent: {address: %q}}
workload:
  backend: sim
  model: resnet50
  settings: {min_duration_ms: 2000, warmup_ms: 0}
scenarios: [offline]
profile: quick
repetitions: 2
retries: 0
output: %s
interference:
  - {kind: cpu, cores: 1}
`, base, nb, cand, nb, out)
}

// TestInterruptStopsNeighbours: Ctrl-C while a neighbour load runs; the
// coordinator returns only once the neighbour confirmed it stopped, and
// the process is idle afterwards.
func TestInterruptStopsNeighbours(t *testing.T) {
	addr, srv := serveAgent(t, agent.DefaultConfig())
	nbAddr, nb := serveAgent(t, agent.DefaultConfig())
	yaml := busyPlan(t.TempDir(), addr, addr, nbAddr)
	p := loadPlan(t, yaml)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		waitForLoad(t, nb)
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	r := &Runner{Plan: p, PlanYAML: []byte(yaml), Version: "test", RunID: "r1"}
	_, m, err := r.Execute(ctx)
	if !errors.Is(err, context.Canceled) || m == nil {
		t.Fatalf("Execute() = %v; want it cancelled during a run", err)
	}
	if !m.Interrupted {
		t.Error("the manifest does not say interrupted")
	}
	noStrayLoad(t, srv, nb)
}

// failingAgent serves a real agent's calls but fails every run a moment
// after its timed run started.
type failingAgent struct{ *agent.Server }

func (f failingAgent) Run(_ *gpuperfv1.RunRequest, stream grpc.ServerStreamingServer[gpuperfv1.RunEvent]) error {
	if err := stream.Send(&gpuperfv1.RunEvent{Event: &gpuperfv1.RunEvent_Progress{Progress: &gpuperfv1.Progress{Phase: "run"}}}); err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond)
	return status.Error(codes.Internal, "the backend failed")
}

// TestFailedRunStopsNeighbour: the candidate's runs fail while its
// neighbour load runs; the load is stopped with the run, and nothing is
// left running when the plan ends.
func TestFailedRunStopsNeighbour(t *testing.T) {
	addr, srv := serveAgent(t, agent.DefaultConfig())
	nbAddr, nb := serveAgent(t, agent.DefaultConfig())
	inner, err := agent.NewServer(agent.DefaultConfig(), "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	gpuperfv1.RegisterAgentServer(g, failingAgent{inner})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = g.Serve(ln) })
	t.Cleanup(func() { g.Stop(); wg.Wait() })

	yaml := busyPlan(t.TempDir(), addr, ln.Addr().String(), nbAddr)
	p := loadPlan(t, yaml)
	r := &Runner{Plan: p, PlanYAML: []byte(yaml), Version: "test", RunID: "r1"}
	_, m, err := r.Execute(context.Background())
	if !errors.Is(err, ErrRunsFailed) {
		t.Fatalf("Execute() = %v; want failed runs", err)
	}
	failedUnderLoad := 0
	for _, run := range m.Runs {
		if run.Host == "cand" && run.Interference != "" && run.Status == results.StatusFailed {
			failedUnderLoad++
		}
	}
	if failedUnderLoad != 2 {
		t.Errorf("%d of the candidate's runs under the load failed; want 2", failedUnderLoad)
	}
	noStrayLoad(t, srv, nb)
}

func TestInterferencePlanErrors(t *testing.T) {
	base := `version: v1
agents:
  - {name: base, address: "127.0.0.1:1", role: baseline, neighbour_agent: {address: "127.0.0.1:2"}}
  - {name: cand, address: "127.0.0.1:3", role: candidate}
workload: {backend: sim}
scenarios: [offline]
interference:
  - {kind: cpu, duty_cycle: 1.5}
  - {kind: cpu, streams: 2}
  - {name: quiet, kind: disk}
  - {kind: gpu, deadline: soon}
  - {kind: fpga}
  - {name: cpu, kind: memory-bandwidth}
  - {kind: disk, peer: {address: "127.0.0.1:9"}}
  - {kind: network-sink}
`
	path := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(path, []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPlan(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Validate()
	for _, want := range []string{
		"interference[0].duty_cycle: must be in (0, 1], got 1.5",
		"interference[1].streams: does not apply to a cpu load (it takes cores, duty_cycle)",
		`interference[2].name: "quiet" names the runs without a load`,
		"interference[3].backend: a gpu load needs the name of a backend",
		`interference[3].deadline: want a positive duration such as 10m, got "soon"`,
		`interference[4].kind: must be one of cpu, memory-bandwidth, network, disk, gpu, got "fpga"`,
		`interference[5].name: "cpu" is already the name of interference[0]`,
		`agents[1].neighbour_agent: interference needs an agent on a co-tenant of "cand"`,
		"interference[6].peer: applies to a network load only",
		"interference[7].kind: network-sink is started by gpuperf on a network load's peer; give the network load a peer instead",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v\nwant %q", err, want)
		}
	}
	if got := p.Phases(); strings.Join(got, " ") != "quiet cpu cpu-2 quiet gpu fpga cpu disk network-sink" {
		t.Errorf("Phases() = %q", got)
	}
}

// TestNoisyNeighbourExample: the example plan measures both sides under
// the two loads its comments describe, each run by the side's neighbour.
func TestNoisyNeighbourExample(t *testing.T) {
	p, err := LoadPlan(filepath.Join("..", "configs", "noisy-neighbour.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Phases(), " "); got != "quiet cpu-hog memory-bandwidth" {
		t.Errorf("phases %q", got)
	}
	for _, a := range p.Agents {
		if a.NeighbourAgent == nil || a.NeighbourAgent.Address == a.Address {
			t.Errorf("agent %s: neighbour %+v; want a co-tenant's agent", a.Name, a.NeighbourAgent)
		}
	}
	for _, l := range p.Interference {
		if err := l.Load().Validate(); err != nil {
			t.Errorf("load %s: %v", l.Name, err)
		}
	}
}

// TestNetworkLoadToPeer: a network load streams from each side's
// neighbour to a peer agent, where the coordinator starts a sink for
// every run; the neighbour's report carries what the sink received.
func TestNetworkLoadToPeer(t *testing.T) {
	addr, _ := serveAgent(t, agent.DefaultConfig())
	nbAddr, nb := serveAgent(t, agent.DefaultConfig())
	peerAddr, peer := serveAgent(t, agent.DefaultConfig())
	yaml := fmt.Sprintf(`version: v1
agents:
  - {name: base, address: %q, role: baseline, neighbour_agent: {address: %q}}
  - {name: cand, address: %q, role: candidate, neighbour_agent: {address: %q}}
workload:
  backend: sim
  model: resnet50
  settings: {min_duration_ms: 300, warmup_ms: 100}
scenarios: [offline]
profile: quick
repetitions: 2
output: %s
interference:
  - {kind: network, streams: 2, rate_mbps: 20, peer: {address: %q}}
`, addr, nbAddr, addr, nbAddr, t.TempDir(), peerAddr)
	p := loadPlan(t, yaml)
	r := &Runner{Plan: p, PlanYAML: []byte(yaml), Version: "test", RunID: "r1"}
	tree, m, err := r.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	loaded := 0
	for _, run := range m.Runs {
		if run.Interference == "" {
			continue
		}
		loaded++
		b, err := os.ReadFile(filepath.Join(tree.Root, run.Dir, results.NeighbourFile))
		if err != nil {
			t.Fatal(err)
		}
		var rep interference.Report
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Counters["peer_received_bytes"] <= 0 || rep.Achieved <= 0 || !strings.Contains(rep.Description, "to a peer agent at 127.0.0.1:") {
			t.Errorf("%s: report %+v", run.Dir, rep)
		}
	}
	if loaded != 4 {
		t.Errorf("%d runs under the load; want 4", loaded)
	}
	if got := append(nb.Neighbours(), peer.Neighbours()...); len(got) > 0 {
		t.Errorf("loads still running: %q", got)
	}
	if got := strings.Join(p.Phases(), " "); got != "quiet network" {
		t.Errorf("phases %q", got)
	}

	// The tree as a stored baseline: its quiet runs stand in, never the
	// runs under the load.
	yaml2 := fmt.Sprintf(`version: v1
agents:
  - {name: vm, address: %q, role: candidate}
workload:
  backend: sim
  model: resnet50
  settings: {min_duration_ms: 300, warmup_ms: 100}
scenarios: [offline]
profile: quick
repetitions: 2
output: %s
baseline: %s
`, addr, t.TempDir(), tree.Root)
	p2 := loadPlan(t, yaml2)
	_, m2, err := (&Runner{Plan: p2, PlanYAML: []byte(yaml2), Version: "test", RunID: "r2"}).Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range m2.Runs {
		if run.Role == results.RoleBaseline && (run.Interference != "" || strings.Contains(run.Dir, "interference")) {
			t.Errorf("a run under the load was imported as a baseline run: %+v", run)
		}
	}
	if n := len(m2.Runs); n != 4 {
		t.Errorf("%d runs; want the 2 quiet baseline runs imported and 2 of the candidate", n)
	}
}

// TestWithPhases: each block of the schedule (one scenario and
// repetition) runs once per phase, quiet first on even repetitions and
// last on odd ones, whatever the order of the sides.
func TestWithPhases(t *testing.T) {
	base := &agentConn{spec: AgentSpec{Name: "b", Role: RoleBaseline}}
	cand := &agentConn{spec: AgentSpec{Name: "c", Role: RoleCandidate}}
	plan := func(order string) *Plan {
		return &Plan{Order: order, Repetitions: 2, Scenarios: []string{"offline"},
			Interference: []InterferenceSpec{{Name: "cpu", Kind: "cpu"}, {Name: "disk", Kind: "disk"}}}
	}
	text := func(steps [][]job) string {
		var out []string
		for _, step := range steps {
			var s []string
			for _, j := range step {
				s = append(s, fmt.Sprintf("%s%d:%s", j.agent.spec.Name, j.rep, cmpOr(j.phaseName(), "q")))
			}
			out = append(out, strings.Join(s, "+"))
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct{ order, want string }{
		{OrderInterleaved, "b0:q c0:q b0:cpu c0:cpu b0:disk c0:disk c1:disk b1:disk c1:cpu b1:cpu c1:q b1:q"},
		{OrderSequential, "b0:q b0:cpu b0:disk b1:disk b1:cpu b1:q c0:q c0:cpu c0:disk c1:disk c1:cpu c1:q"},
		{OrderParallel, "b0:q+c0:q b0:cpu+c0:cpu b0:disk+c0:disk b1:disk+c1:disk b1:cpu+c1:cpu b1:q+c1:q"},
	} {
		p := plan(tc.order)
		if got := text(withPhases(schedule(p, []*agentConn{base, cand}), p)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.order, got, tc.want)
		}
	}
	p := plan(OrderInterleaved)
	p.Interference = nil
	if got := text(withPhases(schedule(p, []*agentConn{base, cand}), p)); got != "b0:q c0:q c1:q b1:q" {
		t.Errorf("without loads: %s", got)
	}
}
