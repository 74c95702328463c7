package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gpuperf/gpuperf/agent"
	"github.com/gpuperf/gpuperf/results"
)

// startAgents serves n in-process agents with the built-in backends on
// ephemeral loopback ports (real gRPC) until the test ends.
func startAgents(t *testing.T, n int, opts ...agent.Option) []string {
	t.Helper()
	var addrs []string
	for range n {
		addr, _ := serveAgent(t, agent.DefaultConfig(), opts...)
		addrs = append(addrs, addr)
	}
	return addrs
}

// serveAgent serves one in-process agent with cfg on an ephemeral loopback
// port until the test ends.
func serveAgent(t *testing.T, cfg agent.Config, opts ...agent.Option) (string, *agent.Server) {
	t.Helper()
	srv, err := agent.NewServer(cfg, "test", slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	ready := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	wg.Go(func() {
		errc <- agent.Serve(ctx, srv, agent.ListenOptions{Addr: "127.0.0.1:0"}, func(a net.Addr) { ready <- a })
	})
	select {
	case a := <-ready:
		return a.String(), srv
	case err := <-errc:
		t.Fatalf("serve: %v", err)
	}
	return "", nil
}

// loadPlan writes yaml as a plan file and loads and validates it.
func loadPlan(t *testing.T, yaml string) *Plan {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPlan(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

func execute(t *testing.T, yaml string) (*results.Tree, *results.Manifest, error) {
	t.Helper()
	r := &Runner{Plan: loadPlan(t, yaml), PlanYAML: []byte(yaml), Version: "test", RunID: "r1"}
	return r.Execute(context.Background())
}

// nullPlan is a short plan on the sim backend (1 ms per sample); agents and extra lines are
// spliced in.
func nullPlan(out, agents, extra string) string {
	return fmt.Sprintf(`version: v1
agents:
%s
workload:
  backend: sim
  model: resnet50
  settings: {min_duration_ms: 200, warmup_ms: 0}
scenarios: [offline, single-stream]
profile: quick
repetitions: 2
output: %s
%s`, agents, out, extra)
}

func TestOrderParallelRunsBothSidesAtOnce(t *testing.T) {
	addrs := startAgents(t, 2)
	out := t.TempDir()
	// host tells validation the two loopback agents stand for two machines.
	_, m, err := execute(t, nullPlan(out, fmt.Sprintf(`
  - {name: base, address: %q, role: baseline, host: machine-a}
  - {name: cand, address: %q, role: candidate, host: machine-b}`, addrs[0], addrs[1]), "order: parallel\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Runs) != 8 {
		t.Fatalf("%d runs; want 2 scenarios × 2 repetitions × 2 sides", len(m.Runs))
	}
	// Runs of one step start together: each baseline run overlaps the
	// candidate run of the same scenario and repetition, and no other.
	for _, b := range m.Runs {
		if b.Status != results.StatusOK || b.Started == nil || b.Ended == nil {
			t.Fatalf("run %+v did not finish with times", b)
		}
		if b.Role != results.RoleBaseline {
			continue
		}
		for _, c := range m.Runs {
			if c.Role != results.RoleCandidate {
				continue
			}
			overlap := c.Started.Before(*b.Ended) && b.Started.Before(*c.Ended)
			same := c.Scenario == b.Scenario && c.Repetition == b.Repetition
			if overlap != same {
				t.Errorf("%s rep %d (base) and %s rep %d (cand): overlap %v", b.Scenario, b.Repetition, c.Scenario, c.Repetition, overlap)
			}
		}
	}
}

func TestOrderInterleavedAlternates(t *testing.T) {
	addrs := startAgents(t, 2)
	_, m, err := execute(t, nullPlan(t.TempDir(), fmt.Sprintf(`
  - {name: base, address: %q, role: baseline}
  - {name: cand, address: %q, role: candidate}`, addrs[0], addrs[1]), "order: interleaved\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, r := range m.Runs {
		if i > 0 && r.Started.Before(*m.Runs[i-1].Ended) {
			t.Errorf("run %d started before run %d ended", i, i-1)
		}
		got = append(got, fmt.Sprintf("%s/%s/%d", r.Scenario, r.Role[:4], r.Repetition))
	}
	want := []string{
		"Offline/base/0", "Offline/cand/0", "Offline/cand/1", "Offline/base/1",
		"SingleStream/base/0", "SingleStream/cand/0", "SingleStream/cand/1", "SingleStream/base/1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order\n got %v\nwant %v", got, want)
	}
}

func TestStoredBaseline(t *testing.T) {
	addrs := startAgents(t, 2)
	out := t.TempDir()
	first, m1, err := execute(t, nullPlan(out, fmt.Sprintf(`
  - {name: bm, address: %q, role: baseline}
  - {name: old, address: %q, role: candidate}`, addrs[0], addrs[1]), ""))
	if err != nil {
		t.Fatal(err)
	}

	out2 := t.TempDir()
	tree, m, err := execute(t, nullPlan(out2, fmt.Sprintf(`
  - {name: vm, address: %q, role: candidate}`, addrs[1]), "baseline: "+first.Root+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.StoredBaseline == nil || m.StoredBaseline.RunID != m1.RunID || m.Order != OrderSequential {
		t.Fatalf("stored baseline %+v, order %s", m.StoredBaseline, m.Order)
	}
	if !reflect.DeepEqual(m.Calibration, m1.Calibration) {
		t.Errorf("calibration %v; want the stored %v", m.Calibration, m1.Calibration)
	}
	byRole := map[string]int{}
	for _, r := range m.Runs {
		byRole[r.Role+"/"+r.Host]++
		if r.Status != results.StatusOK {
			t.Fatalf("run %+v", r)
		}
	}
	if byRole["baseline/bm"] != 4 || byRole["candidate/vm"] != 4 || len(byRole) != 2 {
		t.Fatalf("runs by role and host: %v", byRole)
	}
	if _, err := os.Stat(filepath.Join(tree.Root, "bm", "host.json")); err != nil {
		t.Errorf("baseline host not imported: %v", err)
	}
	// The candidate ran with exactly the stored baseline's settings.
	settingsOf := func(tr *results.Tree, role, scenario string, runs []results.RunRecord) any {
		for _, r := range runs {
			if r.Role == role && r.Scenario == scenario {
				res, err := tr.ReadResult(r.Dir)
				if err != nil {
					t.Fatal(err)
				}
				return res.Requested
			}
		}
		t.Fatalf("no %s run of %s", role, scenario)
		return nil
	}
	for _, sc := range []string{"Offline", "SingleStream"} {
		want := settingsOf(first, results.RoleBaseline, sc, m1.Runs)
		if got := settingsOf(tree, results.RoleCandidate, sc, m.Runs); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: candidate settings\n%+v\nwant the stored baseline's\n%+v", sc, got, want)
		}
	}

	// A stored baseline of another model, or without a scenario, is refused
	// before anything runs.
	for _, tc := range []struct{ edit, want string }{
		{"model: resnet50\n", "workload.model"},
		{"scenarios: [offline, single-stream]\n", "no finished baseline run of Server"},
	} {
		plan := nullPlan(t.TempDir(), fmt.Sprintf(`
  - {name: vm, address: %q, role: candidate}`, addrs[1]), "baseline: "+first.Root+"\n")
		switch tc.want {
		case "workload.model":
			plan = strings.Replace(plan, tc.edit, "model: bert\n", 1)
		default:
			plan = strings.Replace(plan, tc.edit, "scenarios: [offline, server]\n", 1)
		}
		if _, _, err := execute(t, plan); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), first.Root) {
			t.Errorf("err = %v; want it to name %q and the folder", err, tc.want)
		}
	}

}

func TestHypervisorValidation(t *testing.T) {
	for _, tc := range []struct{ agents, want string }{
		{`
  - {name: bm, address: "127.0.0.1:1", role: baseline, hypervisor: {address: "127.0.0.1:3"}}
  - {name: vm, address: "127.0.0.1:2", role: candidate}`, "agents[0].hypervisor: only a candidate runs on a vGPU hypervisor host"},
		{`
  - {name: bm, address: "127.0.0.1:1", role: baseline}
  - {name: vm, address: "127.0.0.1:2", role: candidate, hypervisor: {address: "10.0.0.9:7070"}}`, "agents[1].hypervisor.address: 10.0.0.9:7070 is not a loopback address"},
		{`
  - {name: bm, address: "127.0.0.1:1", role: baseline}
  - {name: vm, address: "127.0.0.1:2", role: candidate, hypervisor: {address: "nohost"}}`, `agents[1].hypervisor.address: must be host:port, got "nohost"`},
		{`
  - {name: bm, address: "127.0.0.1:1", role: baseline}
  - {name: vm, address: "127.0.0.1:2", role: candidate, hypervisor: {address: "127.0.0.1:3", token_file: missing.token}}`, "agents[1].hypervisor.token_file: "},
	} {
		p, err := ParsePlan(filepath.Join(t.TempDir(), "plan.yaml"), []byte(nullPlan(t.TempDir(), tc.agents, "")))
		if err == nil {
			err = p.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v; want %q", err, tc.want)
		}
	}
}

// Repetition k runs seed set k on both sides: the LoadGen seeds and the
// backend's own seed are the same within a pair and differ between pairs;
// seeds: fixed keeps set 0 for every run.
func TestSeedSetsPerPair(t *testing.T) {
	addrs := startAgents(t, 2)
	agents := fmt.Sprintf(`
  - {name: base, address: %q, role: baseline}
  - {name: cand, address: %q, role: candidate}`, addrs[0], addrs[1])
	for _, tc := range []struct {
		extra, mode string
		vary        bool
	}{{"", results.SeedsVary, true}, {"seeds: fixed\n", results.SeedsFixed, false}} {
		tree, m, err := execute(t, nullPlan(t.TempDir(), agents, tc.extra))
		if err != nil {
			t.Fatal(err)
		}
		if m.Seeds != tc.mode {
			t.Errorf("manifest seeds %q, want %q", m.Seeds, tc.mode)
		}
		type drawn struct {
			schedule, sample, backend uint64
		}
		seen := map[string]drawn{}
		for _, r := range m.Runs {
			res, err := tree.ReadResult(r.Dir)
			if err != nil {
				t.Fatal(err)
			}
			wantSet := 0
			if tc.vary {
				wantSet = r.Repetition
			}
			if res.SeedSet != wantSet || r.SeedSet != wantSet || res.BackendSeed == nil {
				t.Fatalf("%s %s rep %d: seed set %d (run.json %d), backend seed %v; want set %d", r.Role, r.Scenario, r.Repetition, res.SeedSet, r.SeedSet, res.BackendSeed, wantSet)
			}
			d := drawn{res.Effective.ScheduleRNGSeed, res.Effective.SampleIndexRNGSeed, *res.BackendSeed}
			key := fmt.Sprintf("%s/%d", r.Scenario, r.Repetition)
			if prev, ok := seen[key]; ok && prev != d {
				t.Errorf("%s: the sides drew %+v and %+v", key, prev, d)
			}
			seen[key] = d
			if res.BackendEffective["seed"] != "1" {
				t.Errorf("effective options %v; want sim's default seed 1", res.BackendEffective)
			}
		}
		if a, b := seen["Offline/0"], seen["Offline/1"]; (a != b) != tc.vary {
			t.Errorf("seeds %q: pair 0 drew %+v, pair 1 %+v", tc.mode, a, b)
		}
	}
}

// repetitions: auto runs a first look of four pairs, then ABBA blocks of
// two, comparing after each, until the verdict is decided or the cap.
func TestRepetitionsAuto(t *testing.T) {
	addrs := startAgents(t, 2)
	agents := fmt.Sprintf(`
  - {name: base, address: %q, role: baseline}
  - {name: cand, address: %q, role: candidate}`, addrs[0], addrs[1])
	plan := strings.Replace(nullPlan(t.TempDir(), agents, "max_repetitions: 6\nscenarios: [offline]\n"), "repetitions: 2\n", "repetitions: auto\n", 1)
	plan = strings.Replace(plan, "scenarios: [offline, single-stream]\n", "", 1)
	tree, m, err := execute(t, plan)
	if err != nil {
		t.Fatal(err)
	}
	seq := m.Sequential["Offline"]
	if seq == nil || len(seq.Looks) == 0 || seq.Looks[0] != 4 || seq.Stopped == "" || seq.MaxPairs != 6 {
		t.Fatalf("sequential record %+v", seq)
	}
	last := seq.Looks[len(seq.Looks)-1]
	if len(m.Runs) != 2*last {
		t.Errorf("%d runs after looks %v; want both sides of %d pairs", len(m.Runs), seq.Looks, last)
	}
	if !strings.HasPrefix(seq.Stopped, "decided") && last != 6 {
		t.Errorf("stopped %q at %d pairs of 6", seq.Stopped, last)
	}
	for i, r := range m.Runs {
		// ABBA: the baseline first in even repetitions.
		first := r.Repetition%2 == 0
		if (i%2 == 0) == first != (r.Role == results.RoleBaseline) {
			t.Errorf("run %d: %s in repetition %d out of ABBA order", i, r.Role, r.Repetition)
		}
	}
	c, err := results.Compare(tree, m, results.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Scenarios[0]
	if s.Sequential == nil || s.Interval == nil || s.Interval.Method != results.MethodRepeatedT || s.Sequential.NominalConfidence <= 0.95 {
		t.Errorf("comparison: sequential %+v, interval %+v", s.Sequential, s.Interval)
	}
}

func TestRepetitionsAutoPlan(t *testing.T) {
	p, err := ParsePlan("plan.yaml", []byte(planYAML(map[string]string{"repetitions": "auto"})))
	if err != nil {
		t.Fatal(err)
	}
	if !p.RepetitionsAuto || p.Repetitions != results.MinPairs || p.MaxRepetitions != 20 || p.Validate() != nil {
		t.Errorf("auto: %v, first look %d, cap %d, %v", p.RepetitionsAuto, p.Repetitions, p.MaxRepetitions, p.Validate())
	}
	p, err = ParsePlan("plan.yaml", []byte(planYAML(map[string]string{"repetitions": "auto", "order": "sequential", "max_repetitions": "7"})))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"plan.yaml: repetitions: auto adds ABBA pairs and looks at them between blocks: it needs order interleaved, got sequential",
	}
	if got := problems(p.Validate()); !slices.Equal(got, want) {
		t.Errorf("Validate() = %q; want %q", got, want)
	}
	p, err = ParsePlan("plan.yaml", []byte(planYAML(map[string]string{"repetitions": "auto", "max_repetitions": "7"})))
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"plan.yaml: max_repetitions: must be an even number of at least 6 (the first look's 4 pairs and one ABBA block more), got 7"}
	if got := problems(p.Validate()); !slices.Equal(got, want) {
		t.Errorf("Validate() = %q; want %q", got, want)
	}
}
