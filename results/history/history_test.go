package history

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/internal/storetest"
	"github.com/gpuperf/gpuperf/internal/testpaths"
	"github.com/gpuperf/gpuperf/results"
	"github.com/gpuperf/gpuperf/results/report"
)

func open(t *testing.T, addr string) *Store {
	t.Helper()
	s, err := Open(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var t0 = time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)

// comparison is a one-scenario comparison of candidate against baseline
// retaining retained % within ±1.
func comparison(base, cand string, retained float64, verdict, outcome string) *results.Comparison {
	iv := &results.Interval{Method: results.MethodWelchT, Confidence: 0.95, LowPct: retained - 1, HighPct: retained + 1, HalfWidthPct: 1, N: 3}
	m := results.Metric{Name: "result_samples_per_second", Unit: "samples/s", HigherIsBetter: true}
	reps := func(host string, v float64) results.SideValues {
		sv := results.SideValues{Counted: 3, Valid: 3, Geomean: &v}
		for i := 1; i <= 3; i++ {
			sv.Runs = append(sv.Runs, results.Repetition{Repetition: i, Host: host, Dir: host + "/run", RawValue: v * (1 + float64(i-2)/100), Value: v, Status: results.StatusOK, Valid: true, Counted: true})
		}
		return sv
	}
	fp := func(host, virt string) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"hostname": host + ".lab", "collected_at": time.Now(), "virtualization": map[string]any{"verdict": map[string]any{"kind": virt}}, "gpus": []map[string]any{{"name": "NVIDIA H100"}}})
		return b
	}
	r := retained
	return &results.Comparison{
		Schema:    results.ComparisonSchema,
		Baseline:  results.Side{Role: results.RoleBaseline, Name: base, Format: results.FormatGpuperf, Hosts: []results.HostInfo{{Name: base, GPUs: 1, Fingerprint: fp(base, "bare_metal")}}},
		Candidate: results.Side{Role: results.RoleCandidate, Name: cand, Format: results.FormatGpuperf, Hosts: []results.HostInfo{{Name: cand, GPUs: 1, Fingerprint: fp(cand, "vgpu_vm")}}},
		Settings:  results.Settings{MarginPct: 2, MinRetainedPct: 95, Gate: results.GateRegression},
		Scenarios: []results.ScenarioComparison{{
			Benchmark: "resnet50", Scenario: "Offline", Metric: m, Status: results.StatusCompared, Pairing: results.PairingUnpaired,
			Baseline: reps(base, 1000), Candidate: reps(cand, 10*retained),
			RetainedPct: &r, Interval: iv, Verdict: verdict,
			Gate: results.ScenarioGate{Outcome: outcome},
		}},
		Gate: results.GateOutcome{Mode: results.GateRegression, MinRetainedPct: 95, Outcome: outcome},
	}
}

func compareRecord(t *testing.T, tree string, at time.Time, base, cand string, retained float64) *Record {
	t.Helper()
	r := &Record{Kind: KindCompare, Tree: tree, RunID: filepath.Base(tree), PlanHash: "plan1", StartedAt: at, Version: "test", Model: "resnet50"}
	verdict := results.VerdictEquivalent
	if retained < 98 {
		verdict = results.VerdictLower
	}
	if err := r.AddComparison(comparison(base, cand, retained, verdict, results.OutcomePass)); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOpenMigratesOnceAndReopens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, addr func(*testing.T) string) {
		a := addr(t)
		s := open(t, a)
		var v int
		if err := s.db.QueryRow("SELECT MAX(version) FROM gpuperf_schema").Scan(&v); err != nil || v != SchemaVersion() {
			t.Fatalf("schema version %d (%v), want %d", v, err, SchemaVersion())
		}
		s2 := open(t, a)
		var n int
		if err := s2.db.QueryRow("SELECT COUNT(*) FROM gpuperf_schema").Scan(&n); err != nil || n != SchemaVersion() {
			t.Fatalf("reopening applied the migrations again: %d rows (%v)", n, err)
		}
	})
}

func TestSQLiteStoreIsWAL(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "h.db"))
	var mode string
	if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q (%v), want wal", mode, err)
	}
}

func TestDefaultPathFollowsXDG(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/srv/data")
	if p, err := DefaultPath(); err != nil || p != "/srv/data/gpuperf/history.db" {
		t.Fatalf("DefaultPath %q %v", p, err)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/ci")
	if p, err := DefaultPath(); err != nil || p != "/home/ci/.local/share/gpuperf/history.db" {
		t.Fatalf("DefaultPath %q %v", p, err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, addr func(*testing.T) string) {
		s := open(t, addr(t))
		ctx := context.Background()
		c, err := report.Read(filepath.Join(testpaths.ModuleRoot(t), "results", "testdata", "tree.comparison.json"))
		if err != nil {
			t.Fatal(err)
		}
		r := &Record{Kind: KindCompare, Tree: "/srv/results/test-run", RunID: "test-run", PlanHash: "abc", StartedAt: t0, ExitCode: 2, Version: "v1.2.3", Command: "compare --plan p.yaml"}
		if err := r.AddComparison(c); err != nil {
			t.Fatal(err)
		}
		if dup, err := s.Record(ctx, r); err != nil || dup || r.ID == 0 {
			t.Fatalf("record: id %d dup %v err %v", r.ID, dup, err)
		}
		got, err := s.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Kind != KindCompare || got.Tree != r.Tree || got.RunID != "test-run" || !got.StartedAt.Equal(t0) || got.ExitCode != 2 ||
			got.BaselineName != "bm" || got.CandidateName != "vm" || got.Version != "v1.2.3" || got.Command != r.Command {
			t.Errorf("record read back: %+v", got)
		}
		if got.Comparison == nil || got.Comparison.GateOutcome != "invalid-input" || got.Comparison.MinRetainedPct == nil || *got.Comparison.MinRetainedPct != 97 {
			t.Fatalf("comparison: %+v", got.Comparison)
		}
		if len(got.Comparison.Scenarios) != 3 {
			t.Fatalf("want 3 scenarios, got %d", len(got.Comparison.Scenarios))
		}
		byName := map[string]Scenario{}
		for _, sc := range got.Comparison.Scenarios {
			byName[sc.Scenario] = sc
		}
		off := byName["Offline"]
		if off.RetainedPct == nil || *off.RetainedPct != *c.Scenarios[0].RetainedPct || off.LowPct == nil || *off.LowPct != c.Scenarios[0].Interval.LowPct ||
			off.Verdict != "lower" || off.GateOutcome != "regression" || off.GateExit != 4 || off.Method != c.Scenarios[0].Interval.Method {
			t.Errorf("Offline read back: %+v", off)
		}
		if ss := byName["SingleStream"]; ss.Status != results.StatusRefused || ss.RetainedPct != nil || ss.LowPct != nil {
			t.Errorf("refused SingleStream read back: %+v", ss)
		}
		// The scenario's own JSON is kept whole.
		var back results.ScenarioComparison
		if err := json.Unmarshal(off.Detail, &back); err != nil || back.Gate.Reason == "" || len(back.Baseline.Runs) != len(c.Scenarios[0].Baseline.Runs) {
			t.Errorf("detail JSON: %v %+v", err, back.Gate)
		}
		want := 0
		for _, sc := range c.Scenarios {
			want += len(sc.Baseline.Runs) + len(sc.Candidate.Runs)
		}
		if len(got.Metrics) != want {
			t.Errorf("metrics: %d, want %d", len(got.Metrics), want)
		}
		if len(got.Hosts) != 2 {
			t.Errorf("hosts: %+v", got.Hosts)
		}
	})
}

func TestRecordWithTheSameUIDIsNotDuplicated(t *testing.T) {
	storetest.Each(t, func(t *testing.T, addr func(*testing.T) string) {
		s := open(t, addr(t))
		ctx := context.Background()
		r := compareRecord(t, "/t/a", t0, "bm", "vm", 99)
		r.UID = "import:/t/a"
		if dup, err := s.Record(ctx, r); err != nil || dup {
			t.Fatalf("first: %v %v", dup, err)
		}
		first := r.ID
		r2 := compareRecord(t, "/t/a", t0, "bm", "vm", 99)
		r2.UID = "import:/t/a"
		if dup, err := s.Record(ctx, r2); err != nil || !dup || r2.ID != first {
			t.Fatalf("second: dup %v id %d (first %d) err %v", dup, r2.ID, first, err)
		}
		var n int
		if err := s.db.QueryRow("SELECT COUNT(*) FROM metrics").Scan(&n); err != nil || n != 6 {
			t.Fatalf("metrics rows %d (%v), want 6", n, err)
		}
	})
}

func TestListFilters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, addr func(*testing.T) string) {
		s := open(t, addr(t))
		ctx := context.Background()
		for i, r := range []*Record{
			compareRecord(t, "/t/1", t0, "bm", "vm1", 99.5),
			compareRecord(t, "/t/2", t0.Add(24*time.Hour), "bm", "vm2", 96),
			compareRecord(t, "/t/3", t0.Add(48*time.Hour), "bm", "vm1", 97),
		} {
			if i == 2 {
				r.Comparison.GateOutcome = results.OutcomeRegression
			}
			if _, err := s.Record(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		bench := &Record{Kind: KindBench, Tree: "/t/bench", StartedAt: t0.Add(72 * time.Hour), Model: "bert-99"}
		bench.Metrics = []Metric{{Benchmark: "bert-99", Scenario: "Server", Role: "candidate", Host: "box", Repetition: 1, Name: "result_completed_samples_per_sec", Value: ptr(500.0), Valid: true, Counted: true}}
		bench.Hosts = []Host{{Name: "box", Role: "candidate", Hostname: "box"}}
		if _, err := s.Record(ctx, bench); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			f    Filter
			want []string
		}{
			{"all, newest first", Filter{}, []string{"/t/bench", "/t/3", "/t/2", "/t/1"}},
			{"limit", Filter{Limit: 2}, []string{"/t/bench", "/t/3"}},
			{"host by name", Filter{Host: "VM1"}, []string{"/t/3", "/t/1"}},
			{"host by hostname", Filter{Host: "vm2.lab"}, []string{"/t/2"}},
			{"pool", Filter{Pool: "vgpu"}, []string{"/t/3", "/t/2", "/t/1"}},
			{"benchmark", Filter{Benchmark: "BERT-99"}, []string{"/t/bench"}},
			{"scenario spelled as a flag", Filter{Scenario: "offline"}, []string{"/t/3", "/t/2", "/t/1"}},
			{"verdict", Filter{Verdict: "lower"}, []string{"/t/3", "/t/2"}},
			{"since and until", Filter{Since: t0.Add(time.Hour), Until: t0.Add(48 * time.Hour)}, []string{"/t/2"}},
			{"kind", Filter{Kinds: []string{KindBench}}, []string{"/t/bench"}},
			{"gate outcome", Filter{GateOutcome: "regression"}, []string{"/t/3"}},
			{"plan prefix", Filter{PlanHash: "pla"}, []string{"/t/3", "/t/2", "/t/1"}},
			{"candidate", Filter{Candidate: "vm2"}, []string{"/t/2"}},
		} {
			recs, err := s.List(ctx, tc.f)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			var got []string
			for _, r := range recs {
				got = append(got, r.Tree)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			}
		}
	})
}

func TestSeriesRetainedAndSide(t *testing.T) {
	storetest.Each(t, func(t *testing.T, addr func(*testing.T) string) {
		s := open(t, addr(t))
		ctx := context.Background()
		vals := []float64{99, 99.4, 98.8, 96, 95.5}
		for i, v := range vals {
			if _, err := s.Record(ctx, compareRecord(t, "/t/"+string(rune('a'+i)), t0.Add(time.Duration(i)*24*time.Hour), "bm", "vm", v)); err != nil {
				t.Fatal(err)
			}
		}
		// The newest tree compared again: it replaces its own point.
		again := compareRecord(t, "/t/e", t0.Add(4*24*time.Hour), "bm", "vm", 95.7)
		if _, err := s.Record(ctx, again); err != nil {
			t.Fatal(err)
		}
		// Another pair is another series.
		if _, err := s.Record(ctx, compareRecord(t, "/t/x", t0, "bm", "other", 90)); err != nil {
			t.Fatal(err)
		}
		series, err := s.Series(ctx, SeriesOptions{Filter: Filter{Candidate: "vm"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(series) != 1 {
			t.Fatalf("want one series, got %d", len(series))
		}
		sr := series[0]
		if sr.Quantity != MetricRetained || sr.Candidate != "vm" || sr.Baseline != "bm" || sr.Scenario != "Offline" || sr.MarginPct == nil || *sr.MarginPct != 2 {
			t.Errorf("series: %+v", sr)
		}
		var got []float64
		for _, p := range sr.Points {
			got = append(got, p.Value)
			if p.Low == nil || p.High == nil || *p.High-*p.Low != 2 {
				t.Errorf("point without its interval: %+v", p)
			}
		}
		want := []float64{99, 99.4, 98.8, 96, 95.7}
		if len(got) != len(want) {
			t.Fatalf("points %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("points %v, want %v", got, want)
			}
		}

		side, err := s.Series(ctx, SeriesOptions{Filter: Filter{Candidate: "vm"}, Metric: MetricCandidate})
		if err != nil || len(side) != 1 {
			t.Fatalf("candidate series: %v %+v", err, side)
		}
		p := side[0].Points[0]
		// Three repetitions at 990 × (0.99, 1, 1.01): geomean just under 990.
		if side[0].Unit != "samples/s" || p.N != 3 || p.Value < 989.8 || p.Value > 990 || p.Low == nil || *p.Low >= p.Value || *p.High <= p.Value {
			t.Errorf("candidate point: %+v unit %q", p, side[0].Unit)
		}
		byPool, err := s.Series(ctx, SeriesOptions{Filter: Filter{Pool: "vgpu"}, By: ByPool})
		if err != nil || len(byPool) != 1 || byPool[0].Candidate != "vgpu_vm/NVIDIA H100" || len(byPool[0].Points) != 6 {
			t.Fatalf("by pool: %v %+v", err, byPool)
		}
	})
}

func TestTags(t *testing.T) {
	storetest.Each(t, func(t *testing.T, addr func(*testing.T) string) {
		s := open(t, addr(t))
		ctx := context.Background()
		a, b := compareRecord(t, "/t/a", t0, "bm", "vm", 99), compareRecord(t, "/t/b", t0.Add(time.Hour), "bm", "vm", 98)
		for _, r := range []*Record{a, b} {
			if _, err := s.Record(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SetTag(ctx, "known-good", a.ID, "candidate", "me", false); err != nil {
			t.Fatal(err)
		}
		if err := s.SetTag(ctx, "known-good", b.ID, "candidate", "me", false); !errors.Is(err, ErrTagExists) {
			t.Fatalf("moving a tag without force: %v", err)
		}
		if err := s.SetTag(ctx, "known-good", b.ID, "baseline", "me", true); err != nil {
			t.Fatal(err)
		}
		tag, err := s.LookupTag(ctx, "known-good")
		if err != nil || tag.Run != b.ID || tag.Side != "baseline" || tag.Tree != "/t/b" {
			t.Fatalf("tag %+v %v", tag, err)
		}
		if err := s.SetTag(ctx, "x", 12345, "candidate", "me", false); !errors.Is(err, ErrNotFound) {
			t.Fatalf("tagging a missing run: %v", err)
		}
		tags, err := s.Tags(ctx)
		if err != nil || len(tags) != 1 {
			t.Fatalf("tags %+v %v", tags, err)
		}
		if err := s.DeleteTag(ctx, "known-good"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LookupTag(ctx, "known-good"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted tag: %v", err)
		}
		if err := s.DeleteTag(ctx, "known-good"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleting twice: %v", err)
		}
	})
}

func TestLastGoodAndFind(t *testing.T) {
	storetest.Each(t, func(t *testing.T, addr func(*testing.T) string) {
		s := open(t, addr(t))
		ctx := context.Background()
		good := compareRecord(t, "/t/good", t0, "bm", "vm", 99)
		bad := compareRecord(t, "/t/bad", t0.Add(time.Hour), "bm", "vm", 90)
		bad.Comparison.GateOutcome, bad.ExitCode = results.OutcomeRegression, 4
		other := compareRecord(t, "/t/other-plan", t0.Add(2*time.Hour), "bm", "vm", 99)
		other.PlanHash = "plan2"
		for _, r := range []*Record{good, bad, other} {
			if _, err := s.Record(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		lg, err := s.LastGood(ctx, "plan1", "vm", 5)
		if err != nil || len(lg) != 1 || lg[0].Tree != "/t/good" {
			t.Fatalf("last good: %v %+v", err, lg)
		}
		if lg, _ := s.LastGood(ctx, "plan1", "other-host", 5); len(lg) != 0 {
			t.Fatalf("last good of another host: %+v", lg)
		}
		for _, ref := range []string{"good", "/t/good", itoa(good.ID)} {
			r, err := s.Find(ctx, ref)
			if err != nil || r.ID != good.ID {
				t.Errorf("find %q: %v %+v", ref, err, r)
			}
		}
		if _, err := s.Find(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("find nope: %v", err)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestNewerSchemaIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, addr func(*testing.T) string) {
		a := addr(t)
		s := open(t, a)
		if _, err := s.db.Exec("INSERT INTO gpuperf_schema (version, name, applied_at) VALUES ($1, 'future', 0)", SchemaVersion()+1); err != nil {
			t.Fatal(err)
		}
		_, err := Open(context.Background(), a)
		if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), "newer than this gpuperf") {
			t.Fatalf("newer schema: %v", err)
		}
	})
}

func TestCorruptSQLiteFileIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("this is not a database\n", 400)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), path)
	if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a readable SQLite database") {
		t.Fatalf("corrupt file: %v", err)
	}
}

func TestSQLiteFolderIsRefused(t *testing.T) {
	_, err := Open(context.Background(), t.TempDir())
	if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), "is a folder") {
		t.Fatalf("folder: %v", err)
	}
}

func TestUnreachablePostgresIsUnavailable(t *testing.T) {
	// Port 1 on loopback: nothing listens, the connection is refused.
	_, err := Open(context.Background(), "postgres://gpuperf:s3cret@127.0.0.1:1/gpuperf?connect_timeout=5")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unreachable: %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("the password is in the message: %v", err)
	}
	if _, err := Open(context.Background(), "postgres://[::1"); !errors.Is(err, ErrUnusable) {
		t.Fatalf("malformed URL: %v", err)
	}
}

// TestConcurrentWritersInOneProcess: several stores on one database,
// writing at once; cmd/gpuperf tests the same across processes.
func TestConcurrentWritersInOneProcess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, addr func(*testing.T) string) {
		a := addr(t)
		const writers, each = 6, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				s, err := Open(context.Background(), a)
				if err != nil {
					errs <- err
					return
				}
				defer s.Close()
				for i := range each {
					r := compareRecord(t, "/t/"+itoa(int64(w*100+i)), t0, "bm", "vm", 99)
					if _, err := s.Record(context.Background(), r); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		s := open(t, a)
		var runs, distinct int
		if err := s.db.QueryRow("SELECT COUNT(*), COUNT(DISTINCT tree) FROM runs").Scan(&runs, &distinct); err != nil {
			t.Fatal(err)
		}
		if runs != writers*each || distinct != runs {
			t.Fatalf("%d runs (%d distinct), want %d", runs, distinct, writers*each)
		}
	})
}

func TestImportPublishedSystems(t *testing.T) {
	root := filepath.Join(testpaths.MLPerf(t), "v4.0", "Dell")
	trees, systems, err := ImportTargets(root)
	if err != nil || len(trees) != 0 || len(systems) < 2 {
		t.Fatalf("import targets: %v %v %v", trees, systems, err)
	}
	var vm *Record
	for _, sys := range systems {
		r, err := FromPublished(sys)
		if err != nil {
			t.Fatalf("%s: %v", sys, err)
		}
		if filepath.Base(sys) == "vR760_L40S_48Cx2_TRT" {
			vm = r
		}
	}
	if vm == nil {
		t.Fatal("vR760_L40S_48Cx2_TRT not among the systems")
	}
	if vm.Kind != KindMLPerf || vm.Round != "v4.0" || vm.Submitter == "" || !vm.StartedAt.Equal(time.Date(2024, 3, 27, 0, 0, 0, 0, time.UTC)) ||
		vm.CandidateName != "vR760_L40S_48Cx2_TRT" || len(vm.Metrics) == 0 || len(vm.Hosts) != 1 || vm.Hosts[0].GPUs != 2 {
		t.Fatalf("record: %+v", vm)
	}
	for _, m := range vm.Metrics {
		if m.Value == nil || m.Benchmark == "" || m.Scenario == "" || m.Name == "" {
			t.Errorf("metric %+v", m)
		}
	}
	if _, _, err := ImportTargets(t.TempDir()); !errors.Is(err, ErrNothingToImport) {
		t.Fatalf("empty folder: %v", err)
	}
}
