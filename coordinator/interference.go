package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/interference"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
	"github.com/gpuperf/gpuperf/results"
)

// InterferenceSpec is one neighbour load of a plan's interference list:
// each side is measured quiet and then under each load, run by the
// side's neighbour agent during the side's timed runs. The fields are
// interference.Spec's, plus a name and a deadline.
type InterferenceSpec struct {
	// Name labels the load in the results (a folder name); it defaults to
	// the kind, numbered when a kind repeats.
	Name string `mapstructure:"name"`
	Kind string `mapstructure:"kind"`
	// cpu and memory-bandwidth: threads kept busy; cpu: the share of each
	// period they are busy.
	Cores     int     `mapstructure:"cores"`
	DutyCycle float64 `mapstructure:"duty_cycle"`
	// memory-bandwidth: the buffer copied over (MiB).
	BufferMB int `mapstructure:"buffer_mb"`
	// memory-bandwidth, network and disk: a cap in MB/s; 0 is flat out.
	RateMBps float64 `mapstructure:"rate_mbps"`
	// network: TCP streams; network and disk: KiB per send or write; disk:
	// the file's size (MiB).
	Streams int `mapstructure:"streams"`
	BlockKB int `mapstructure:"block_kb"`
	FileMB  int `mapstructure:"file_mb"`
	// gpu: a backend the neighbour agent offers, driven at qps (Poisson)
	// or, with qps 0, flat out with concurrency samples in flight.
	Backend     string  `mapstructure:"backend"`
	QPS         float64 `mapstructure:"qps"`
	Concurrency int     `mapstructure:"concurrency"`
	// Peer is the agent a network load streams to (another machine, so
	// the streams cross the host's network interface); without it they
	// stay on loopback. The coordinator starts a sink there for each run.
	Peer *NeighbourSpec `mapstructure:"peer"`
	// Deadline is how long the neighbour agent lets the load run before it
	// stops it on its own ("10m"), should the coordinator not stop it;
	// empty derives one from the scenario's settings.
	Deadline string `mapstructure:"deadline"`
}

// NeighbourSpec is how to reach the agent on a co-tenant of a measured
// agent (another VM on its hypervisor, another pod on its node, another
// MIG instance of its GPU): it runs the plan's interference loads during
// the measured agent's timed runs. The fields mean what they mean for an
// agent; the address may be the measured agent's own, or "embedded".
type NeighbourSpec struct {
	Address   string   `mapstructure:"address"`
	TokenFile string   `mapstructure:"token_file"`
	TLS       *TLSSpec `mapstructure:"tls"`
	Insecure  bool     `mapstructure:"insecure"`
}

// Spec returns the neighbour agent as an AgentSpec of agent a, for
// dialling.
func (n *NeighbourSpec) Spec(a AgentSpec) AgentSpec {
	return AgentSpec{Name: a.Name + "-neighbour", Address: n.Address, Role: "neighbour", TokenFile: n.TokenFile, TLS: n.TLS, Insecure: n.Insecure}
}

// resolve makes the endpoint's paths relative to the plan's folder.
func (n *NeighbourSpec) resolve(resolve func(string) string) {
	n.TokenFile = resolve(n.TokenFile)
	if n.TLS != nil {
		n.TLS.CA = resolve(n.TLS.CA)
		n.TLS.Cert = resolve(n.TLS.Cert)
		n.TLS.Key = resolve(n.TLS.Key)
	}
}

// Load is the load as the neighbour's agent takes it.
func (s InterferenceSpec) Load() interference.Spec {
	return interference.Spec{
		Kind: s.Kind, Cores: s.Cores, DutyCycle: s.DutyCycle, BufferMB: s.BufferMB, RateMBps: s.RateMBps,
		Streams: s.Streams, BlockKB: s.BlockKB, FileMB: s.FileMB,
		Backend: s.Backend, QPS: s.QPS, Concurrency: s.Concurrency,
	}
}

// QuietPhase names the runs without a neighbour load.
const QuietPhase = "quiet"

// nameLoads gives each unnamed load its kind as its name, numbered from
// the second of a kind on (cpu, cpu-2).
func (p *Plan) nameLoads() {
	seen := map[string]int{}
	for i := range p.Interference {
		l := &p.Interference[i]
		if l.Name != "" {
			continue
		}
		seen[l.Kind]++
		l.Name = l.Kind
		if n := seen[l.Kind]; n > 1 {
			l.Name += "-" + strconv.Itoa(n)
		}
	}
}

// checkInterference checks the interference list and the neighbour agents
// it needs.
func (p *Plan) checkInterference(c *checker) {
	if len(p.Interference) > 0 && p.RepetitionsAuto {
		// A sequential design looks at the quiet comparison between
		// blocks; phases under loads have no place in its schedule.
		c.add("interference", "cannot be combined with repetitions: auto; give repetitions a number")
	}
	names := map[string]int{}
	for i, l := range p.Interference {
		field := fmt.Sprintf("interference[%d]", i)
		switch first, dup := names[l.Name]; {
		case l.Name == QuietPhase:
			c.add(field+".name", "%q names the runs without a load; choose another", QuietPhase)
		case dup:
			c.add(field+".name", "%q is already the name of interference[%d]", l.Name, first)
		case !validName(l.Name):
			c.add(field+".name", "%q: use letters, digits, '.', '_' and '-' only", l.Name)
		default:
			names[l.Name] = i
		}
		if err := l.Load().Validate(); err != nil {
			for _, e := range unjoin(err) {
				var fe *interference.FieldError
				if errors.As(e, &fe) {
					c.add(field+"."+fe.Field, "%s", fe.Problem)
				} else {
					c.add(field, "%v", e)
				}
			}
		}
		if l.Kind == interference.KindNetworkSink {
			c.add(field+".kind", "%s is started by gpuperf on a network load's peer; give the network load a peer instead", l.Kind)
		}
		if l.Peer != nil {
			if l.Kind != interference.KindNetwork {
				c.add(field+".peer", "applies to a network load only")
			}
			c.endpoint(field+".peer", l.Peer)
		}
		if l.Deadline != "" {
			if d, err := time.ParseDuration(l.Deadline); err != nil || d <= 0 {
				c.add(field+".deadline", "want a positive duration such as 10m, got %q", l.Deadline)
			}
		}
	}
	for i, a := range p.Agents {
		field := fmt.Sprintf("agents[%d].neighbour_agent", i)
		n := a.NeighbourAgent
		if n == nil {
			if len(p.Interference) > 0 {
				c.add(field, "interference needs an agent on a co-tenant of %q to run the loads (its address; the agent's own address runs them beside it)", a.Name)
			}
			continue
		}
		c.endpoint(field, n)
	}
	if len(p.Interference) > 0 && p.Baseline != "" {
		c.add("interference", "needs live agents on both sides: a stored baseline has no neighbours to start")
	}
}

// endpoint checks a neighbour's or a peer's address, token and TLS as an
// agent's are checked.
func (c *checker) endpoint(field string, n *NeighbourSpec) {
	if n.Address != AddressEmbedded {
		host, port, err := net.SplitHostPort(n.Address)
		num, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || num < 1 || num > 65535 {
			c.add(field+".address", "must be host:port or %q, got %q", AddressEmbedded, n.Address)
		} else if n.TLS == nil && !n.Insecure && !isLoopback(host) {
			c.add(field+".address", "%s is not a loopback address: plaintext there needs insecure: true, or tls", n.Address)
		}
	}
	c.credentials(field, n.TokenFile, n.TLS, n.Insecure)
}

// dialPeers connects to the agents network loads stream to, one per load
// with a peer, and starts and stops a sink on each once: a peer that
// cannot sink fails the plan before any run.
func dialPeers(ctx context.Context, loads []InterferenceSpec) (map[string]*neighbourConn, error) {
	peers := map[string]*neighbourConn{}
	for _, l := range loads {
		if l.Peer == nil {
			continue
		}
		spec := l.Peer.Spec(AgentSpec{Name: l.Name})
		spec.Name, spec.Role = l.Name+"-peer", "peer"
		conn, err := dial(spec)
		if err != nil {
			closePeers(peers)
			return nil, fmt.Errorf("load %s: peer %s: %w", l.Name, spec.Address, err)
		}
		n := &neighbourConn{spec: spec, conn: conn, client: gpuperfv1.NewAgentClient(conn), timeout: neighbourTimeout}
		peers[l.Name] = n
		sink, _, err := n.open(ctx, "probe", interference.Spec{Kind: interference.KindNetworkSink}, l.Name+" sink", probeDeadline)
		if err == nil {
			_, _, err = sink.stop()
		}
		if err != nil {
			closePeers(peers)
			return nil, fmt.Errorf("load %s: peer %s: %w", l.Name, spec.Address, describeStatus(err))
		}
	}
	return peers, nil
}

func closePeers(peers map[string]*neighbourConn) {
	for _, p := range peers {
		p.conn.Close()
	}
}

func unjoin(err error) []error {
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		return u.Unwrap()
	}
	return []error{err}
}

// Phases returns what each side is measured under, in order: quiet, then
// each load's name.
func (p *Plan) Phases() []string {
	out := []string{QuietPhase}
	for _, l := range p.Interference {
		out = append(out, l.Name)
	}
	return out
}

// withPhases repeats each block of the schedule once per phase: quiet and
// then each load on even repetitions, the reverse on odd ones, so that,
// as in the ABBA order of the sides, a drift of the hosts falls on quiet
// and loaded runs alike. A block is the consecutive steps of one scenario
// and repetition (both sides' runs of one pair, interleaved).
func withPhases(steps [][]job, p *Plan) [][]job {
	if len(p.Interference) == 0 {
		return steps
	}
	loads := make([]*InterferenceSpec, 0, len(p.Interference)+1)
	loads = append(loads, nil) // quiet
	for i := range p.Interference {
		loads = append(loads, &p.Interference[i])
	}
	var out [][]job
	for i := 0; i < len(steps); {
		k := i + 1
		for k < len(steps) && sameBlock(steps[i], steps[k]) {
			k++
		}
		rep := steps[i][0].rep
		for n := range loads {
			load := loads[n]
			if rep%2 == 1 {
				load = loads[len(loads)-1-n]
			}
			for _, step := range steps[i:k] {
				phased := make([]job, len(step))
				for x, j := range step {
					j.load = load
					phased[x] = j
				}
				out = append(out, phased)
			}
		}
		i = k
	}
	return out
}

func sameBlock(a, b []job) bool {
	return len(a) > 0 && len(b) > 0 && a[0].scenario == b[0].scenario && a[0].rep == b[0].rep
}

// phaseName is the job's load, or QuietPhase.
func (j job) phaseName() string {
	if j.load == nil {
		return ""
	}
	return j.load.Name
}

// runDir is where a job's run is stored: the MLPerf layout's performance
// folder when quiet, interference/<load> beside it under a load.
func (r *Runner) runDir(j job) string {
	if j.load == nil {
		return results.RunDir(j.agent.spec.Name, r.Plan.Workload.Model, j.scenario, j.rep)
	}
	return results.InterferenceRunDir(j.agent.spec.Name, r.Plan.Workload.Model, j.scenario, j.load.Name, j.rep)
}

// interferenceRecords describes the plan's loads for run.json.
func (p *Plan) interferenceRecords() []results.InterferenceLoad {
	var out []results.InterferenceLoad
	for _, l := range p.Interference {
		spec := l.Load().WithDefaults()
		if l.Peer != nil {
			spec.Peer = l.Peer.Address // the peer agent's; its sink's differs per run
		}
		b, _ := json.Marshal(spec)
		out = append(out, results.InterferenceLoad{Name: l.Name, Kind: l.Kind, Description: spec.Describe(), Load: b})
	}
	return out
}

// neighbourDeadline is how long the neighbour's agent lets a load run on
// its own: the load's deadline, else one derived from the scenario (the
// longest a timed run may take, with room for a run slowed down by its
// neighbour, or for a peak search's probes).
func neighbourDeadline(l *InterferenceSpec, s inference.TestSettings, findPeak bool) time.Duration {
	if d, err := time.ParseDuration(l.Deadline); err == nil && d > 0 {
		return d
	}
	if s.MaxDurationMs > 0 {
		return time.Duration(s.MaxDurationMs)*time.Millisecond + 5*time.Minute
	}
	d := 20*s.MinDuration() + 5*time.Minute
	if findPeak {
		d *= 5
	}
	return d
}

// neighbourConn is the agent that runs a measured agent's neighbour loads.
type neighbourConn struct {
	spec   AgentSpec
	conn   *grpc.ClientConn
	client gpuperfv1.AgentClient
	desc   *gpuperfv1.DescribeResponse
	// timeout bounds each answer (started, and the report once asked);
	// neighbourTimeout unless a test shortens it.
	timeout time.Duration
}

// neighbourTimeout bounds the neighbour agent's answers, so a dead
// neighbour never holds a run, and an interrupt still ends soon.
const neighbourTimeout = 10 * time.Second

// probeDeadline is how long a load runs when connect tries it.
const probeDeadline = 50 * time.Millisecond

// dialNeighbour connects to a measured agent's neighbour agent, asks it to
// describe its host, and starts and stops each of the plan's loads there
// once, briefly: a load it cannot run (a kind it does not allow, a backend
// it does not offer, a folder it cannot write) fails the plan before any
// run.
func dialNeighbour(ctx context.Context, a AgentSpec, loads []InterferenceSpec, peers map[string]*neighbourConn) (*neighbourConn, error) {
	spec := a.NeighbourAgent.Spec(a)
	conn, err := dial(spec)
	if err != nil {
		return nil, fmt.Errorf("agent %s: neighbour %s: %w", a.Name, spec.Address, err)
	}
	n := &neighbourConn{spec: spec, conn: conn, client: gpuperfv1.NewAgentClient(conn), timeout: neighbourTimeout}
	dctx, cancel := context.WithTimeout(ctx, describeTimeout)
	n.desc, err = n.client.Describe(dctx, &gpuperfv1.DescribeRequest{})
	cancel()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("agent %s: neighbour %s: describe: %w", a.Name, spec.Address, describeStatus(err))
	}
	for i := range loads {
		l, err := n.start(ctx, "probe", &loads[i], probeDeadline, 0, peers[loads[i].Name])
		if err == nil {
			_, _, err = l.stop()
		}
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("agent %s: neighbour %s: load %s: %w", a.Name, spec.Address, loads[i].Name, describeStatus(err))
		}
	}
	return n, nil
}

// neighbourLoad is one load running on a neighbour agent.
type neighbourLoad struct {
	name string
	// sink is the peer's network-sink a network load streams to.
	sink    *neighbourLoad
	stream  grpc.BidiStreamingClient[gpuperfv1.InterfereRequest, gpuperfv1.InterfereEvent]
	cancel  context.CancelFunc
	timeout time.Duration
	// events carries the agent's answer after started: the report (asked
	// for, or sent unasked when the load stopped by itself), or the
	// stream's end.
	events   chan neighbourEvent
	wg       sync.WaitGroup
	stopOnce sync.Once
	rep      interference.Report
	raw      []byte
	err      error
}

type neighbourEvent struct {
	ev  *gpuperfv1.InterfereEvent
	err error
}

// start starts load on the neighbour agent and waits for it to run. The
// stream does not end with ctx: stop ends it, so that an interrupted plan
// still hears each neighbour confirm that its load stopped. seed seeds a
// gpu load's arrivals: the coordinator gives repetition k the same seed on
// both sides (a paired design) and a different one from repetition to
// repetition, so the interval includes how the neighbour's arrivals vary.
// A network load with a peer first starts a sink on the peer's agent,
// and streams to it.
func (n *neighbourConn) start(ctx context.Context, runID string, load *InterferenceSpec, deadline time.Duration, seed uint64, peer *neighbourConn) (*neighbourLoad, error) {
	spec := load.Load()
	if spec.Kind == interference.KindGPU {
		spec.Seed = seed
	}
	var sink *neighbourLoad
	if load.Peer != nil {
		if peer == nil {
			return nil, fmt.Errorf("load %s: its peer agent is not connected", load.Name)
		}
		var first *gpuperfv1.InterfereEvent
		var err error
		sink, first, err = peer.open(ctx, runID, interference.Spec{Kind: interference.KindNetworkSink}, load.Name+" sink", deadline)
		if err != nil {
			return nil, fmt.Errorf("the peer %s: %w", peer.spec.Address, err)
		}
		var info interference.SinkInfo
		if err := json.Unmarshal(first.GetSinkJson(), &info); err != nil || info.Address == "" {
			sink.stop()
			return nil, fmt.Errorf("the peer %s started no sink", peer.spec.Address)
		}
		spec.Peer, spec.PeerToken = info.Address, info.Token
	}
	l, first, err := n.open(ctx, runID, spec, load.Name, deadline)
	if err == nil && !first.GetStarted() {
		l.stop()
		err = errors.New("the neighbour agent did not start the load")
	}
	if err != nil {
		if sink != nil {
			sink.stop()
		}
		return nil, err
	}
	l.sink = sink
	return l, nil
}

// open sends spec to the agent and waits for its first answer.
func (n *neighbourConn) open(ctx context.Context, runID string, spec interference.Spec, name string, deadline time.Duration) (*neighbourLoad, *gpuperfv1.InterfereEvent, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &neighbourLoad{name: name, cancel: cancel, timeout: n.timeout, events: make(chan neighbourEvent, 2)}
	l.stream, err = n.client.Interfere(sctx)
	if err == nil {
		err = l.stream.Send(&gpuperfv1.InterfereRequest{RunId: runID, LoadJson: b, DeadlineNs: int64(deadline)})
	}
	if err != nil {
		cancel()
		return nil, nil, err
	}
	l.wg.Go(func() {
		for {
			ev, err := l.stream.Recv()
			l.events <- neighbourEvent{ev, err}
			if err != nil || ev.GetReportJson() != nil {
				return
			}
		}
	})
	first, err := l.next(ctx)
	if err != nil {
		l.cancel()
		l.wg.Wait()
		return nil, nil, err
	}
	return l, first, nil
}

// next waits for the agent's next answer, for at most the timeout, or
// until ctx is done.
func (l *neighbourLoad) next(ctx context.Context) (*gpuperfv1.InterfereEvent, error) {
	t := time.NewTimer(l.timeout)
	defer t.Stop()
	done := ctx.Done()
	select {
	case e := <-l.events:
		if errors.Is(e.err, io.EOF) {
			return nil, errors.New("the neighbour agent closed the stream")
		}
		return e.ev, e.err
	case <-t.C:
		return nil, fmt.Errorf("no answer from the neighbour agent within %s", l.timeout)
	case <-done:
		return nil, ctx.Err()
	}
}

// stoppedEarly reports, without waiting, whether the agent has already
// sent its report: the load stopped by itself (its deadline, or a
// failure) while the run went on.
func (l *neighbourLoad) stoppedEarly() bool {
	return len(l.events) > 0 || (l.sink != nil && l.sink.stoppedEarly())
}

// stop asks the agent to stop the load and waits for its report: what the
// load achieved, as JSON (neighbour.json) and decoded. It may be called
// more than once, and on every path out of a run, interrupted or failed.
func (l *neighbourLoad) stop() (interference.Report, []byte, error) {
	l.stopOnce.Do(func() {
		defer func() {
			l.cancel()
			l.wg.Wait()
		}()
		if err := l.stream.CloseSend(); err != nil {
			l.err = fmt.Errorf("stop the load: %w", err)
			return
		}
		// An interrupted run still waits for the report: the neighbour's
		// confirmation that its load stopped.
		ev, err := l.next(context.Background())
		if err != nil {
			l.err = fmt.Errorf("stop the load: %w", err)
			return
		}
		l.raw = ev.GetReportJson()
		if err := json.Unmarshal(l.raw, &l.rep); err != nil {
			l.err = fmt.Errorf("the neighbour's report: %w", err)
		}
	})
	if l.sink != nil {
		l.mergeSink()
	}
	return l.rep, l.raw, l.err
}

// mergeSink stops the peer's sink after the load and adds what it
// received to the load's report: a stream's far end confirms the bytes
// crossed the network.
func (l *neighbourLoad) mergeSink() {
	srep, _, err := l.sink.stop()
	l.sink = nil
	switch {
	case l.err != nil:
		return
	case err != nil:
		l.err = fmt.Errorf("the peer's sink: %w", err)
		return
	case srep.StoppedBy != interference.StoppedByCoordinator:
		l.rep.StoppedBy = "peer " + srep.StoppedBy
	}
	if l.rep.Counters == nil {
		l.rep.Counters = map[string]float64{}
	}
	l.rep.Counters["peer_received_bytes"] = srep.Counters["bytes"]
	l.rep.Counters["peer_received_mbps"] = srep.Achieved
	if b, err := json.MarshalIndent(l.rep, "", "  "); err == nil {
		l.raw = append(b, '\n')
	}
}

// finish stops the load at the end of a run and checks that it ran
// throughout: a load that stopped by itself before the run ended leaves
// the run only partly under load, and fails it.
func (l *neighbourLoad) finish() ([]byte, error) {
	rep, raw, err := l.stop()
	switch {
	case err != nil:
		return nil, fmt.Errorf("neighbour load %s: %w", l.name, err)
	case rep.StoppedBy != interference.StoppedByCoordinator:
		why := rep.StoppedBy
		if rep.Error != "" {
			why += ": " + rep.Error
		}
		return nil, fmt.Errorf("neighbour load %s stopped before the run ended (%s)", l.name, why)
	}
	return raw, nil
}

// abort stops the load on a run's way out (failed, or interrupted),
// logging what the neighbour said.
func (l *neighbourLoad) abort(log *slog.Logger, runID string) {
	rep, _, err := l.stop()
	if err != nil {
		log.Warn("neighbour load: no confirmation that it stopped; its stream was cancelled, which stops it on the agent", "run", runID, "load", l.name, "err", err)
		return
	}
	log.Info("neighbour load stopped", "run", runID, "load", l.name, "achieved", rep.AchievedText())
}
