package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/internal/storetest"
	"github.com/gpuperf/gpuperf/internal/testpaths"
	"github.com/gpuperf/gpuperf/results/history"
)

// embeddedPlan writes a plan whose agents gpuperf starts in-process: sim
// backend, Offline only, short runs. baseline: a stored baseline (no
// baseline agent).
func embeddedPlan(t *testing.T, dir, name, baseline string) string {
	t.Helper()
	agents := "  - {name: bm, address: embedded, role: baseline}\n  - {name: vm, address: embedded, role: candidate}\norder: interleaved\n"
	if baseline != "" {
		agents = "  - {name: vm, address: embedded, role: candidate}\norder: sequential\nbaseline: " + baseline + "\n"
	}
	plan := `version: v1
agents:
` + agents + `workload:
  backend: sim
  model: resnet50
  settings: {min_duration_ms: 200, warmup_ms: 50, min_query_count: 100}
scenarios: [offline]
profile: quick
repetitions: 2
thresholds: {min_retained_pct: 90, equivalence_margin_pct: 3}
output: ` + filepath.Join(dir, "out") + "\n"
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type historyJSON struct {
	Schema  string           `json:"schema"`
	Records []history.Record `json:"records"`
}

func readHistory(t *testing.T, store string, args ...string) historyJSON {
	t.Helper()
	out, stderr, code := run(t, nil, append([]string{"history", "--store", store, "--format", "json", "--limit", "0"}, args...)...)
	if code != 0 {
		t.Fatalf("history: exit %d: %s", code, stderr)
	}
	var h historyJSON
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatalf("history --format json: %v\n%s", err, out)
	}
	return h
}

// nightlyLoop is the README's nightly loop on both engines: a known-good
// run tagged as the first baseline, a night against it, a night against
// last-good (the night before, which passed), each recorded; the history
// and the candidate's trend then hold all of them.
func TestNightlyLoopSQLite(t *testing.T) { nightlyLoop(t, storetest.Engines()[0].Addr(t)) }

func TestNightlyLoopPostgres(t *testing.T) { nightlyLoop(t, storetest.Postgres(t)) }

func nightlyLoop(t *testing.T, store string) {
	dir := t.TempDir()
	kg := embeddedPlan(t, dir, "known-good.yaml", "")
	nightly := embeddedPlan(t, dir, "nightly.yaml", "last-good,tag:known-good")

	_, stderr, code := run(t, nil, "run", "--plan", kg, "--run-id", "kg", "--store", store)
	if code != 0 || !strings.Contains(stderr, "gpuperf: recorded as run 1 in ") {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	// No night has passed yet: last-good has nothing to offer, and
	// nothing is measured.
	_, stderr, code = run(t, nil, "compare", "--plan", nightly, "--run-id", "n0", "--store", store)
	if code != exitUsage || !strings.Contains(stderr, "no run of this plan") || !strings.Contains(stderr, "on vm has passed its gate") || !strings.Contains(stderr, `no tag "known-good"`) {
		t.Fatalf("last-good before any pass: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "n0")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused baseline still ran: %v", err)
	}

	out, stderr, code := run(t, nil, "baseline", "tag", "kg", "known-good", "--store", store)
	if code != 0 || !strings.Contains(out, "tag:known-good → run 1") || !strings.Contains(out, filepath.Join(dir, "out", "kg", "vm")) {
		t.Fatalf("baseline tag: exit %d\n%s%s", code, out, stderr)
	}
	// Night 1: no night has passed, so the known-good run stands in.
	_, stderr, code = run(t, nil, "compare", "--plan", nightly, "--run-id", "n1", "--store", store)
	if code != 0 || !strings.Contains(stderr, "taking the next alternative") || !strings.Contains(stderr, "gpuperf: baseline tag:known-good: run 1") {
		t.Fatalf("night 1: exit %d\n%s", code, stderr)
	}
	m := readTreeHosts(t, filepath.Join(dir, "out", "n1"))
	if !hasHost(m, "vm.kg", "baseline") || !hasHost(m, "vm", "candidate") {
		t.Fatalf("night 1's tree: the known-good candidate should stand in as baseline vm.kg: %+v", m.Hosts)
	}

	_, stderr, code = run(t, nil, "compare", "--plan", nightly, "--run-id", "n2", "--gate", "trend", "--store", store)
	if code != 0 || !strings.Contains(stderr, "gpuperf: baseline last-good: run 2 ") || !strings.Contains(stderr, "trend gate: 1 series") {
		t.Fatalf("night 2: exit %d\n%s", code, stderr)
	}
	if m := readTreeHosts(t, filepath.Join(dir, "out", "n2")); !hasHost(m, "vm.n1", "baseline") {
		t.Fatalf("night 2's baseline should be night 1's candidate: %+v", m.Hosts)
	}

	h := readHistory(t, store)
	if len(h.Records) != 3 {
		t.Fatalf("history holds %d records, want 3", len(h.Records))
	}
	n2, n1, first := h.Records[0], h.Records[1], h.Records[2]
	if n2.RunID != "n2" || n2.Kind != history.KindCompare || !strings.HasPrefix(n2.BaselineRef, "last-good: run 2") ||
		n2.BaselineName != "vm.n1" || n2.CandidateName != "vm" || n2.Comparison == nil || n2.Comparison.GateOutcome != "pass" ||
		!strings.Contains(n2.Command, "--gate=trend") || n2.PlanHash == "" {
		t.Errorf("night 2's record: %+v", n2)
	}
	if n1.RunID != "n1" || !strings.HasPrefix(n1.BaselineRef, "tag:known-good") || first.Kind != history.KindRun || first.PlanHash != n2.PlanHash {
		t.Errorf("records: %+v\n%+v", n1, first)
	}
	if sc := n2.Comparison.Scenarios; len(sc) != 1 || sc[0].RetainedPct == nil || sc[0].LowPct == nil || len(sc[0].Detail) == 0 {
		t.Errorf("night 2's comparison: %+v", n2.Comparison.Scenarios)
	}

	// Stored results compare against last-good too: night 2's tree against
	// the newest passing run other than itself, night 1.
	n2tree := filepath.Join(dir, "out", "n2")
	_, stderr, code = run(t, nil, "compare", "--baseline", "last-good", n2tree, "--store", store)
	if code != 0 || !strings.Contains(stderr, "gpuperf: baseline last-good: run 2 ") || !strings.Contains(stderr, "recorded as run 4") {
		t.Fatalf("stored compare against last-good: exit %d\n%s", code, stderr)
	}
	if h := readHistory(t, store); len(h.Records) != 4 || h.Records[0].Tree != n2tree || h.Records[0].BaselineName != "vm" || h.Records[0].RunID != "n2" {
		t.Fatalf("the stored comparison's record: %+v", h.Records[0])
	}

	out, stderr, code = run(t, nil, "trend", "--store", store, "--metric", "candidate", "--candidate", "vm", "--format", "csv")
	if code != 0 {
		t.Fatalf("trend: exit %d: %s", code, stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 4 {
		t.Fatalf("trend csv: %v, %d rows (want a header and the three runs)\n%s", err, len(rows), out)
	}
	for i, want := range []string{"kg", "n1", "n2"} {
		if rows[i+1][8] != want {
			t.Errorf("trend row %d is run %q, want %q", i+1, rows[i+1][8], want)
		}
	}
}

type manifestHosts struct {
	Hosts []struct{ Name, Role string } `json:"hosts"`
}

func readTreeHosts(t *testing.T, tree string) manifestHosts {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tree, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifestHosts
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func hasHost(m manifestHosts, name, role string) bool {
	for _, h := range m.Hosts {
		if h.Name == name && h.Role == role {
			return true
		}
	}
	return false
}

var benchArgs = []string{"bench", "--backend", "sim", "--backend-opt", "servers=4", "--backend-opt", "latency=1ms", "--scenario", "offline", "--min-duration", "200ms", "--expected-qps", "4000"}

func TestCorruptOrNewerStoreExits2BeforeRunning(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "history.db")
	if err := os.WriteFile(bad, bytes.Repeat([]byte("not sqlite "), 500), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"history"}, {"trend"}, append(benchArgs, "--out", filepath.Join(dir, "b"))} {
		_, stderr, code := run(t, nil, append(args, "--store", bad)...)
		if code != exitUsage || !strings.Contains(stderr, bad) || !strings.Contains(stderr, "not a readable SQLite database") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s on a corrupt store: exit %d\n%s", args[0], code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "b")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bench ran on a corrupt store: %v", err)
	}

	storetest.Each(t, func(t *testing.T, addr func(*testing.T) string) {
		store := addr(t)
		s, err := history.Open(context.Background(), store)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		bump(t, store)
		out := filepath.Join(t.TempDir(), "b")
		_, stderr, code := run(t, nil, append(benchArgs, "--out", out, "--store", store)...)
		if code != exitUsage || !strings.Contains(stderr, "newer than this gpuperf") || strings.Count(stderr, "\n") != 1 {
			t.Fatalf("newer schema: exit %d\n%s", code, stderr)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("bench ran on a newer store: %v", err)
		}
	})
}

// bump marks the store as written by a newer gpuperf, through its own
// schema table.
func bump(t *testing.T, addr string) {
	t.Helper()
	driver := "sqlite"
	if history.IsPostgres(addr) {
		driver = "pgx"
	}
	db, err := sql.Open(driver, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(fmt.Sprintf("INSERT INTO gpuperf_schema (version, name, applied_at) VALUES (%d, 'from the future', 0)", history.SchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
}

func TestUnreachablePostgresKeepsTheRun(t *testing.T) {
	dir := t.TempDir()
	plan := embeddedPlan(t, dir, "plan.yaml", "")
	store := "postgres://gpuperf:hunter2@127.0.0.1:1/gpuperf?connect_timeout=3"
	_, stderr, code := run(t, nil, "run", "--plan", plan, "--run-id", "r1", "--store", store)
	tree := filepath.Join(dir, "out", "r1")
	if code != exitFailure || !strings.Contains(stderr, "history not updated") || !strings.Contains(stderr, "gpuperf import "+tree) {
		t.Fatalf("unreachable store: exit %d\n%s", code, stderr)
	}
	if strings.Contains(stderr, "hunter2") {
		t.Fatalf("the password is printed:\n%s", stderr)
	}
	m := readTreeHosts(t, tree)
	if !hasHost(m, "vm", "candidate") {
		t.Fatalf("the tree is not complete: %+v", m)
	}
	// The history can be backfilled later from the tree.
	local := filepath.Join(dir, "h.db")
	out, stderr, code := run(t, nil, "import", tree, "--store", local)
	if code != 0 || !strings.Contains(out, "run 1: import "+tree) {
		t.Fatalf("import: exit %d\n%s%s", code, out, stderr)
	}
}

func TestStoreOff(t *testing.T) {
	dir := t.TempDir()
	env := []string{"GPUPERF_STORE=off"}
	_, stderr, code := run(t, env, append(benchArgs, "--out", filepath.Join(dir, "b"))...)
	if code != 0 || strings.Contains(stderr, "recorded") {
		t.Fatalf("bench with the store off: exit %d\n%s", code, stderr)
	}
	_, stderr, code = run(t, env, "history")
	if code != exitUsage || !strings.Contains(stderr, "--store is off") {
		t.Fatalf("history with the store off: exit %d\n%s", code, stderr)
	}
	_, stderr, code = run(t, env, "compare", "--plan", embeddedPlan(t, dir, "n.yaml", "last-good"))
	if code != exitUsage || !strings.Contains(stderr, "--store is off") {
		t.Fatalf("last-good with the store off: exit %d\n%s", code, stderr)
	}
}

// TestBenchRecordsIntoTheDefaultStore: with no --store, the record goes to
// $XDG_DATA_HOME/gpuperf/history.db.
func TestBenchRecordsIntoTheDefaultStore(t *testing.T) {
	data := t.TempDir()
	env := []string{"XDG_DATA_HOME=" + data}
	_, stderr, code := run(t, env, append(benchArgs, "--out", filepath.Join(t.TempDir(), "b"))...)
	want := filepath.Join(data, "gpuperf", "history.db")
	if code != 0 || !strings.Contains(stderr, "recorded as run 1 in "+want) {
		t.Fatalf("bench: exit %d\n%s", code, stderr)
	}
	out, _, code := run(t, env, "history", "--kind", "bench")
	if code != 0 || !strings.Contains(out, "bench") || !strings.Contains(out, "Offline") {
		t.Fatalf("history: exit %d\n%s", code, out)
	}
}

// eightProcesses: eight gpuperf processes import into one
// store at the same moment, each many records; every record arrives once,
// and none meets "database is locked".
func TestEightProcessesRecordAtOnceSQLite(t *testing.T) {
	eightProcesses(t, storetest.Engines()[0].Addr(t))
}

func TestEightProcessesRecordAtOncePostgres(t *testing.T) { eightProcesses(t, storetest.Postgres(t)) }

func eightProcesses(t *testing.T, store string) {
	t.Helper()
	mlperf := testpaths.MLPerf(t)
	// Each process gets its own links to the published results, so
	// every record is new (the history keys imports by path).
	const procs, copies = 8, 3
	root := t.TempDir()
	var dirs []string
	for p := range procs {
		d := filepath.Join(root, fmt.Sprintf("p%d", p))
		for c := range copies {
			if err := os.MkdirAll(filepath.Join(d, fmt.Sprint(c)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(mlperf, filepath.Join(d, fmt.Sprint(c), "mlperf")); err != nil {
				t.Fatal(err)
			}
		}
		dirs = append(dirs, d)
	}
	_, perCopy, err := history.ImportTargets(filepath.Join(dirs[0], "0", "mlperf"))
	if err != nil || len(perCopy) == 0 {
		t.Fatalf("published systems: %v", err)
	}
	// Start them together.
	var wg sync.WaitGroup
	type result struct {
		code   int
		stderr string
	}
	res := make([]result, procs)
	start := make(chan struct{})
	for p, d := range dirs {
		var args []string
		for c := range copies {
			args = append(args, filepath.Join(d, fmt.Sprint(c), "mlperf"))
		}
		wg.Go(func() {
			cmd := exec.Command(gpuperfBin, append([]string{"import", "--store", store}, args...)...)
			var errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = nil, &errb
			<-start
			err := cmd.Run()
			res[p] = result{code: exitOf(err), stderr: errb.String()}
		})
	}
	close(start)
	wg.Wait()
	for p, r := range res {
		if r.code != 0 || strings.Contains(r.stderr, "locked") || strings.Contains(r.stderr, "busy") {
			t.Errorf("process %d: exit %d\n%s", p, r.code, r.stderr)
		}
	}
	want := procs * copies * len(perCopy)
	h := readHistory(t, store, "--kind", "mlperf")
	trees := map[string]int{}
	metrics := 0
	for _, r := range h.Records {
		trees[r.Tree]++
		metrics += len(r.Metrics)
	}
	if len(h.Records) != want || len(trees) != want {
		t.Fatalf("%d records over %d trees, want %d of each", len(h.Records), len(trees), want)
	}
	// Every record carries all its runs: the same count for each copy.
	perSystem := map[string]int{}
	for _, r := range h.Records {
		perSystem[filepath.Base(r.Tree)] = len(r.Metrics)
	}
	total := 0
	for _, n := range perSystem {
		total += n
	}
	if metrics != total*procs*copies {
		t.Fatalf("%d metric rows, want %d", metrics, total*procs*copies)
	}
}

func exitOf(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// seedTrend records n comparisons of vm against bm retaining 99.5% ± 0.4,
// dropping by drop percentage points from index at.
func seedTrend(t *testing.T, store string, n, at int, drop float64) {
	t.Helper()
	s, err := history.Open(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(9, 9))
	t0 := time.Date(2026, 2, 1, 2, 0, 0, 0, time.UTC)
	for i := range n {
		v := 99.5 + 0.4*rng.NormFloat64()
		if i >= at {
			v -= drop
		}
		lo, hi, margin := v-0.8, v+0.8, 2.0
		r := &history.Record{Kind: history.KindCompare, RunID: fmt.Sprintf("night-%02d", i), Tree: fmt.Sprintf("/srv/nightly/night-%02d", i),
			PlanHash: "p1", StartedAt: t0.AddDate(0, 0, i), BaselineName: "bm", CandidateName: "vm",
			Comparison: &history.Comparison{GateMode: "regression", GateOutcome: "pass", MarginPct: &margin, Scenarios: []history.Scenario{{
				Benchmark: "resnet50", Scenario: "Offline", Metric: "result_samples_per_second", Unit: "samples/s", HigherIsBetter: true,
				Status: "compared", RetainedPct: &v, LowPct: &lo, HighPct: &hi, BaselineN: 4, CandidateN: 4, Verdict: "equivalent", GateOutcome: "pass"}}}}
		if _, err := s.Record(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTrendGateAndOutputs(t *testing.T) {
	dir := t.TempDir()
	dropped, steady := filepath.Join(dir, "dropped.db"), filepath.Join(dir, "steady.db")
	seedTrend(t, dropped, 30, 24, 4)
	seedTrend(t, steady, 30, 99, 0)

	out, stderr, code := run(t, nil, "trend", "--store", dropped, "--gate", "trend")
	if code != 4 || !strings.Contains(stderr, "trend gate: regression: resnet50 Offline, vm vs bm") || !strings.Contains(out, "change at run 25 (night-24)") {
		t.Fatalf("a 4 pp drop: exit %d\n%s\n%s", code, out, stderr)
	}
	if out, stderr, code := run(t, nil, "trend", "--store", steady, "--gate", "trend"); code != 0 || strings.Contains(out, "REGRESSION") {
		t.Fatalf("no drop: exit %d\n%s\n%s", code, out, stderr)
	}
	// Without the gate the drop is reported, not enforced.
	if _, _, code := run(t, nil, "trend", "--store", dropped); code != 0 {
		t.Fatalf("trend without a gate: exit %d", code)
	}
	// A margin wider than the drop lets it pass.
	if _, _, code := run(t, nil, "trend", "--store", dropped, "--gate", "trend", "--margin", "5"); code != 0 {
		t.Fatalf("a 4 pp drop within a 5 pp margin: exit %d", code)
	}
	// --last keeps the newest runs: too few before the drop to call it.
	if out, _, code := run(t, nil, "trend", "--store", dropped, "--last", "8"); code != 0 || !strings.Contains(out, "8 runs") {
		t.Fatalf("--last 8: exit %d\n%s", code, out)
	}

	html, png := filepath.Join(dir, "t.html"), filepath.Join(dir, "t.png")
	for _, f := range []struct{ format, path, magic string }{{"html", html, "<!doctype html>"}, {"png", png, "\x89PNG"}} {
		if _, stderr, code := run(t, nil, "trend", "--store", dropped, "--format", f.format, "--output", f.path); code != 0 {
			t.Fatalf("--format %s: exit %d\n%s", f.format, code, stderr)
		}
		b, err := os.ReadFile(f.path)
		if err != nil || !bytes.HasPrefix(b, []byte(f.magic)) {
			t.Fatalf("%s: %v %.40q", f.path, err, b)
		}
	}
	out, _, code = run(t, nil, "trend", "--store", dropped, "--format", "json")
	var j struct {
		Trends []struct {
			ChangePoints []struct {
				Index  int     `json:"index"`
				PValue float64 `json:"p_value"`
			} `json:"change_points"`
			Regression bool `json:"regression"`
		} `json:"trends"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &j) != nil || len(j.Trends) != 1 || !j.Trends[0].Regression || len(j.Trends[0].ChangePoints) == 0 {
		t.Fatalf("json: exit %d\n%s", code, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"trend", "--format", "svg"}, "--format"},
		{[]string{"trend", "--metric", "power"}, "--metric"},
		{[]string{"trend", "--alpha", "2"}, "significance"},
		{[]string{"trend", "--gate", "qualify"}, "--gate"},
		{[]string{"history", "--since", "last tuesday"}, "--since"},
		{[]string{"history", "--scenario", "batch"}, "--scenario"},
		{[]string{"history", "--kind", "nightly"}, "--kind"},
		{[]string{"baseline", "tag", "1", "bad name"}, "tag name"},
		{[]string{"baseline", "tag", "999", "x"}, "not found"},
	} {
		if _, stderr, code := run(t, nil, append(tc.args, "--store", dropped)...); code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 naming %q\n%s", tc.args, code, tc.want, stderr)
		}
	}
}

func TestImportTreesTwiceAndPublished(t *testing.T) {
	dir := t.TempDir()
	plan := embeddedPlan(t, dir, "plan.yaml", "")
	if _, stderr, code := run(t, nil, "compare", "--plan", plan, "--run-id", "a", "--store", "off"); code != 0 {
		t.Fatalf("compare: exit %d\n%s", code, stderr)
	}
	store := filepath.Join(dir, "h.db")
	out, stderr, code := run(t, nil, "import", filepath.Join(dir, "out"), "--store", store)
	if code != 0 || !strings.Contains(out, "run 1: import "+filepath.Join(dir, "out", "a")) {
		t.Fatalf("import: exit %d\n%s%s", code, out, stderr)
	}
	_, stderr, code = run(t, nil, "import", filepath.Join(dir, "out", "a"), "--store", store)
	if code != 0 || !strings.Contains(stderr, "already in the history as run 1") || !strings.Contains(stderr, "imported 0 records") {
		t.Fatalf("import again: exit %d\n%s", code, stderr)
	}
	h := readHistory(t, store)
	if len(h.Records) != 1 || h.Records[0].Comparison == nil || h.Records[0].Comparison.GateOutcome != "pass" || h.Records[0].PlanHash == "" {
		t.Fatalf("imported tree: %+v", h.Records)
	}

	mlperf := testpaths.MLPerf(t)
	out, stderr, code = run(t, nil, "import", filepath.Join(mlperf, "v4.0"), "--store", store)
	if code != 0 || !strings.Contains(out, "mlperf") {
		t.Fatalf("import mlperf: exit %d\n%s%s", code, out, stderr)
	}
	out, _, code = run(t, nil, "history", "--kind", "mlperf", "--host", "vR760_L40S_48Cx2_TRT", "--format", "csv", "--store", store)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) < 2 || rows[1][1] != "2024-03-27T00:00:00Z" || rows[1][7] != "vR760_L40S_48Cx2_TRT" {
		t.Fatalf("history of the published system: exit %d %v\n%s", code, err, out)
	}
	if _, stderr, code := run(t, nil, "import", t.TempDir(), "--store", store); code != exitUsage || !strings.Contains(stderr, "nothing to import") {
		t.Fatalf("empty folder: exit %d\n%s", code, stderr)
	}
}
