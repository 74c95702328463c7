package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Filter selects records. Empty fields select everything.
type Filter struct {
	// Host matches a host's name or hostname, on either side, exactly
	// (case-insensitive).
	Host string
	// Pool matches part of either side's pool (case-insensitive): a pool
	// label, a virtualization kind (vgpu_vm, bare_metal, ...) or a GPU
	// model.
	Pool string
	// Baseline and Candidate match one side's name exactly.
	Baseline  string
	Candidate string
	// Benchmark and Scenario match the model key and LoadGen scenario
	// (case-insensitive; Scenario also as its flag spelling, e.g.
	// single-stream).
	Benchmark string
	Scenario  string
	// Verdict matches a compared scenario's verdict; GateOutcome the
	// record's gate outcome.
	Verdict     string
	GateOutcome string
	// Kinds limits the record kinds.
	Kinds []string
	// PlanHash matches the start of the plan hash.
	PlanHash string
	// Since and Until bound the start time (Until exclusive).
	Since, Until time.Time
	// Limit keeps the newest Limit records (0: all).
	Limit int
}

// builder assembles a WHERE clause with numbered parameters.
type builder struct {
	where []string
	args  []any
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

func (b *builder) add(cond string) { b.where = append(b.where, cond) }

func (b *builder) sql() string {
	if len(b.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(b.where, " AND ")
}

// ScenarioName folds a scenario's spellings (Offline, offline,
// single-stream, SingleStream) to LoadGen's.
func ScenarioName(s string) string {
	switch strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(s, "-", ""), "_", "")) {
	case "offline":
		return "Offline"
	case "server":
		return "Server"
	case "singlestream":
		return "SingleStream"
	case "multistream":
		return "MultiStream"
	}
	return s
}

func (f Filter) build(b *builder) {
	if f.Host != "" {
		p := b.arg(strings.ToLower(f.Host))
		b.add("EXISTS (SELECT 1 FROM hosts h WHERE h.run = runs.id AND (LOWER(h.name) = " + p + " OR LOWER(h.hostname) = " + p + "))")
	}
	if f.Pool != "" {
		p := b.arg("%" + strings.ToLower(f.Pool) + "%")
		b.add("(LOWER(baseline_pool) LIKE " + p + " OR LOWER(candidate_pool) LIKE " + p + ")")
	}
	if f.Baseline != "" {
		b.add("baseline_name = " + b.arg(f.Baseline))
	}
	if f.Candidate != "" {
		b.add("candidate_name = " + b.arg(f.Candidate))
	}
	if f.Benchmark != "" || f.Scenario != "" || f.Verdict != "" {
		var c, m []string
		if f.Benchmark != "" {
			p := b.arg(strings.ToLower(f.Benchmark))
			c = append(c, "LOWER(c.benchmark) = "+p)
			m = append(m, "LOWER(m.benchmark) = "+p)
		}
		if f.Scenario != "" {
			p := b.arg(ScenarioName(f.Scenario))
			c = append(c, "c.scenario = "+p)
			m = append(m, "m.scenario = "+p)
		}
		cond := "EXISTS (SELECT 1 FROM comparisons c WHERE c.run = runs.id AND " + strings.Join(c, " AND ")
		if f.Verdict != "" {
			if len(c) == 0 {
				cond = "EXISTS (SELECT 1 FROM comparisons c WHERE c.run = runs.id"
			}
			cond += " AND c.verdict = " + b.arg(f.Verdict) + ")"
		} else {
			cond += ") OR EXISTS (SELECT 1 FROM metrics m WHERE m.run = runs.id AND " + strings.Join(m, " AND ") + ")"
		}
		b.add("(" + cond + ")")
	}
	if f.GateOutcome != "" {
		b.add("gate_outcome = " + b.arg(f.GateOutcome))
	}
	if len(f.Kinds) > 0 {
		var ps []string
		for _, k := range f.Kinds {
			ps = append(ps, b.arg(k))
		}
		b.add("kind IN (" + strings.Join(ps, ", ") + ")")
	}
	if f.PlanHash != "" {
		b.add("plan_hash LIKE " + b.arg(f.PlanHash+"%"))
	}
	if !f.Since.IsZero() {
		b.add("started_at >= " + b.arg(micros(f.Since)))
	}
	if !f.Until.IsZero() {
		b.add("started_at < " + b.arg(micros(f.Until)))
	}
}

const runColumns = `id, uid, kind, command, run_id, tree, plan_hash, model, backend, profile, mlperf_round, submitter,
  baseline_name, candidate_name, baseline_pool, candidate_pool, baseline_ref, gpuperf_version,
  started_at, ended_at, recorded_at, recorded_by, exit_code, gate_mode, gate_outcome, min_retained_pct, margin_pct, gate_json`

type scanner interface{ Scan(dest ...any) error }

func scanRun(sc scanner) (*Record, error) {
	var r Record
	var started, ended, recorded int64
	var minRet, margin sql.NullFloat64
	var gateMode, gateOutcome, gate string
	if err := sc.Scan(&r.ID, &r.UID, &r.Kind, &r.Command, &r.RunID, &r.Tree, &r.PlanHash, &r.Model, &r.Backend, &r.Profile,
		&r.Round, &r.Submitter, &r.BaselineName, &r.CandidateName, &r.BaselinePool, &r.CandidatePool, &r.BaselineRef, &r.Version,
		&started, &ended, &recorded, &r.RecordedBy, &r.ExitCode, &gateMode, &gateOutcome, &minRet, &margin, &gate); err != nil {
		return nil, err
	}
	r.StartedAt, r.EndedAt, r.RecordedAt = fromMicros(started), fromMicros(ended), fromMicros(recorded)
	if gateMode != "" || gateOutcome != "" {
		r.Comparison = &Comparison{GateMode: gateMode, GateOutcome: gateOutcome}
		if minRet.Valid {
			r.Comparison.MinRetainedPct = ptr(minRet.Float64)
		}
		if margin.Valid {
			r.Comparison.MarginPct = ptr(margin.Float64)
		}
		if gate != "" {
			r.Comparison.Gate = json.RawMessage(gate)
		}
	}
	return &r, nil
}

// List returns the records f selects, newest first, with their
// comparisons' scenarios and metrics (not their hosts' fingerprints).
func (s *Store) List(ctx context.Context, f Filter) ([]*Record, error) {
	var b builder
	f.build(&b)
	q := "SELECT " + runColumns + " FROM runs" + b.sql() + " ORDER BY started_at DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, b.args...)
	if err != nil {
		return nil, s.wrap("listing runs", err)
	}
	var out []*Record
	byID := map[int64]*Record{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return nil, s.wrap("listing runs", err)
		}
		out = append(out, r)
		byID[r.ID] = r
	}
	if err := rows.Close(); err != nil {
		return nil, s.wrap("listing runs", err)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("listing runs", err)
	}
	if err := s.loadChildren(ctx, byID, false); err != nil {
		return nil, err
	}
	return out, nil
}

// loadChildren fills the comparisons' scenarios, metrics and hosts of the
// records in byID, a few hundred ids per query.
func (s *Store) loadChildren(ctx context.Context, byID map[int64]*Record, fingerprints bool) error {
	ids := make([]int64, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	const batch = 500
	for len(ids) > 0 {
		n := min(batch, len(ids))
		chunk := ids[:n]
		ids = ids[n:]
		var b builder
		var ps []string
		for _, id := range chunk {
			ps = append(ps, b.arg(id))
		}
		in := "run IN (" + strings.Join(ps, ", ") + ")"
		if err := s.loadComparisons(ctx, byID, in, b.args); err != nil {
			return err
		}
		if err := s.loadMetrics(ctx, byID, in, b.args); err != nil {
			return err
		}
		if err := s.loadHosts(ctx, byID, in, b.args, fingerprints); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) loadComparisons(ctx context.Context, byID map[int64]*Record, in string, args []any) error {
	rows, err := s.db.QueryContext(ctx, `SELECT run, benchmark, scenario, metric, unit, higher_is_better, status, pairing,
  retained_pct, low_pct, high_pct, confidence, method, baseline_value, candidate_value, baseline_n, candidate_n,
  verdict, gate_outcome, gate_exit, detail FROM comparisons WHERE `+in+` ORDER BY run, benchmark, scenario`, args...)
	if err != nil {
		return s.wrap("reading comparisons", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var sc Scenario
		var hib int
		var ret, low, high, conf, bv, cv sql.NullFloat64
		var detail string
		if err := rows.Scan(&id, &sc.Benchmark, &sc.Scenario, &sc.Metric, &sc.Unit, &hib, &sc.Status, &sc.Pairing,
			&ret, &low, &high, &conf, &sc.Method, &bv, &cv, &sc.BaselineN, &sc.CandidateN,
			&sc.Verdict, &sc.GateOutcome, &sc.GateExit, &detail); err != nil {
			return s.wrap("reading comparisons", err)
		}
		sc.HigherIsBetter = hib != 0
		sc.RetainedPct, sc.LowPct, sc.HighPct, sc.Confidence = nullPtr(ret), nullPtr(low), nullPtr(high), nullPtr(conf)
		sc.BaselineValue, sc.CandidateValue = nullPtr(bv), nullPtr(cv)
		if detail != "" {
			sc.Detail = json.RawMessage(detail)
		}
		r := byID[id]
		if r.Comparison == nil {
			r.Comparison = &Comparison{}
		}
		r.Comparison.Scenarios = append(r.Comparison.Scenarios, sc)
	}
	if err := rows.Err(); err != nil {
		return s.wrap("reading comparisons", err)
	}
	return nil
}

func (s *Store) loadMetrics(ctx context.Context, byID map[int64]*Record, in string, args []any) error {
	rows, err := s.db.QueryContext(ctx, `SELECT run, benchmark, scenario, role, host, repetition, metric, unit, higher_is_better,
  value, valid, counted, status, dir FROM metrics WHERE `+in+` ORDER BY run, benchmark, scenario, role, repetition, host`, args...)
	if err != nil {
		return s.wrap("reading metrics", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var m Metric
		var hib, valid, counted int
		var v sql.NullFloat64
		if err := rows.Scan(&id, &m.Benchmark, &m.Scenario, &m.Role, &m.Host, &m.Repetition, &m.Name, &m.Unit, &hib,
			&v, &valid, &counted, &m.Status, &m.Dir); err != nil {
			return s.wrap("reading metrics", err)
		}
		m.HigherIsBetter, m.Valid, m.Counted, m.Value = hib != 0, valid != 0, counted != 0, nullPtr(v)
		byID[id].Metrics = append(byID[id].Metrics, m)
	}
	if err := rows.Err(); err != nil {
		return s.wrap("reading metrics", err)
	}
	return nil
}

func (s *Store) loadHosts(ctx context.Context, byID map[int64]*Record, in string, args []any, fingerprints bool) error {
	fp := "''"
	if fingerprints {
		fp = "fingerprint"
	}
	rows, err := s.db.QueryContext(ctx, `SELECT run, name, role, hostname, virtualization, accelerator, gpus, labels, fingerprint_hash, `+fp+`
FROM hosts WHERE `+in+` ORDER BY run, role, name`, args...)
	if err != nil {
		return s.wrap("reading hosts", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var h Host
		var labels, fpText string
		if err := rows.Scan(&id, &h.Name, &h.Role, &h.Hostname, &h.Virtualization, &h.Accelerator, &h.GPUs, &labels, &h.FingerprintHash, &fpText); err != nil {
			return s.wrap("reading hosts", err)
		}
		if labels != "" {
			_ = json.Unmarshal([]byte(labels), &h.Labels)
		}
		if fpText != "" {
			h.Fingerprint = json.RawMessage(fpText)
		}
		byID[id].Hosts = append(byID[id].Hosts, h)
	}
	if err := rows.Err(); err != nil {
		return s.wrap("reading hosts", err)
	}
	return nil
}

func nullPtr(v sql.NullFloat64) *float64 {
	if !v.Valid {
		return nil
	}
	return ptr(v.Float64)
}

// Get returns one record with everything stored of it.
func (s *Store) Get(ctx context.Context, id int64) (*Record, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, "SELECT "+runColumns+" FROM runs WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("run %d: %w in the history (%s)", id, ErrNotFound, s.where)
	}
	if err != nil {
		return nil, s.wrap("reading a run", err)
	}
	if err := s.loadChildren(ctx, map[int64]*Record{r.ID: r}, true); err != nil {
		return nil, err
	}
	return r, nil
}

// Find resolves what a user calls a run: the history's number, a result
// tree's run id (when one record has it), or a result tree's path.
func (s *Store) Find(ctx context.Context, ref string) (*Record, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil && id > 0 {
		if r, err := s.Get(ctx, id); err == nil || !errors.Is(err, ErrNotFound) {
			return r, err
		}
	}
	abs, _ := filepath.Abs(ref)
	rows, err := s.db.QueryContext(ctx, "SELECT id, kind, tree FROM runs WHERE run_id = $1 OR tree = $2 ORDER BY started_at DESC, id DESC LIMIT 10", ref, abs)
	if err != nil {
		return nil, s.wrap("finding a run", err)
	}
	var ids []int64
	var desc []string
	for rows.Next() {
		var id int64
		var kind, tree string
		if err := rows.Scan(&id, &kind, &tree); err != nil {
			rows.Close()
			return nil, s.wrap("finding a run", err)
		}
		ids = append(ids, id)
		desc = append(desc, fmt.Sprintf("%d (%s %s)", id, kind, tree))
	}
	if err := rows.Close(); err != nil {
		return nil, s.wrap("finding a run", err)
	}
	switch len(ids) {
	case 0:
		return nil, fmt.Errorf("run %q: %w in the history (%s): give the number gpuperf history shows, a tree's run id, or its folder", ref, ErrNotFound, s.where)
	case 1:
		return s.Get(ctx, ids[0])
	}
	// The same tree recorded twice (run, then compare) is one run: take
	// the newest record of it.
	if s.sameTree(ctx, ids) {
		return s.Get(ctx, ids[0])
	}
	return nil, fmt.Errorf("run %q names %d records: %s; give the number", ref, len(ids), strings.Join(desc, ", "))
}

func (s *Store) sameTree(ctx context.Context, ids []int64) bool {
	var first string
	for i, id := range ids {
		var tree string
		if err := s.db.QueryRowContext(ctx, "SELECT tree FROM runs WHERE id = $1", id).Scan(&tree); err != nil {
			return false
		}
		if i == 0 {
			first = tree
		} else if tree != first {
			return false
		}
	}
	return true
}

// HasTree reports the newest record of the tree at path, if any.
func (s *Store) HasTree(ctx context.Context, path string) (int64, bool, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, "SELECT id FROM runs WHERE tree = $1 ORDER BY id DESC LIMIT 1", path).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, s.wrap("looking up a tree", err)
	}
	return id, true, nil
}

// LastGood returns the newest records, newest first, of the plan planHash
// on the candidate hosts candidate whose gate passed: candidates for
// --baseline last-good (the caller skips those whose tree is gone).
func (s *Store) LastGood(ctx context.Context, planHash, candidate string, limit int) ([]*Record, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+runColumns+` FROM runs
WHERE plan_hash = $1 AND candidate_name = $2 AND gate_outcome = 'pass' AND exit_code = 0 AND kind IN ('compare', 'import') AND tree <> ''
ORDER BY started_at DESC, id DESC LIMIT $3`, planHash, candidate, limit)
	if err != nil {
		return nil, s.wrap("finding the last good run", err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, s.wrap("finding the last good run", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("finding the last good run", err)
	}
	return out, nil
}
