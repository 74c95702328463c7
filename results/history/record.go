package history

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Kinds of records.
const (
	KindRun     = "run"     // gpuperf run: a plan's runs, not compared
	KindCompare = "compare" // gpuperf compare: a plan run and compared, or stored results compared
	KindBench   = "bench"   // gpuperf bench: one scenario in-process
	KindImport  = "import"  // gpuperf import of a stored gpuperf tree
	KindMLPerf  = "mlperf"  // gpuperf import of a published MLPerf system
)

// Record is one entry of the history.
type Record struct {
	// ID is the store's number for the record, set by Record.
	ID int64 `json:"id"`
	// UID makes recording idempotent: a second record with the same UID is
	// not added. Empty: a fresh random one.
	UID  string `json:"uid"`
	Kind string `json:"kind"`
	// Command is the gpuperf command line, without flags' secrets.
	Command string `json:"command,omitempty"`
	// RunID is the result tree's run id; Tree the tree's (or bench
	// folder's, or MLPerf system's) absolute path.
	RunID string `json:"run_id,omitempty"`
	Tree  string `json:"tree,omitempty"`
	// PlanHash identifies what the plan measures (workload, scenarios,
	// profile, Server load), so runs of one plan can be found again.
	PlanHash string `json:"plan_hash,omitempty"`
	Model    string `json:"model,omitempty"`
	Backend  string `json:"backend,omitempty"`
	Profile  string `json:"profile,omitempty"`
	// Round and Submitter are a published MLPerf result's.
	Round     string `json:"mlperf_round,omitempty"`
	Submitter string `json:"submitter,omitempty"`
	// BaselineName and CandidateName are the sides' host names (joined
	// with "+"); the pools their hosts' kinds (virtualization and GPU).
	BaselineName  string `json:"baseline_name,omitempty"`
	CandidateName string `json:"candidate_name,omitempty"`
	BaselinePool  string `json:"baseline_pool,omitempty"`
	CandidatePool string `json:"candidate_pool,omitempty"`
	// BaselineRef is what the baseline was named by (a folder, tag:NAME,
	// last-good) and what it resolved to.
	BaselineRef string    `json:"baseline_ref,omitempty"`
	Version     string    `json:"gpuperf_version,omitempty"`
	StartedAt   time.Time `json:"started_at"`
	EndedAt     time.Time `json:"ended_at,omitzero"`
	RecordedAt  time.Time `json:"recorded_at"`
	// RecordedBy is the machine that recorded.
	RecordedBy string `json:"recorded_by,omitempty"`
	ExitCode   int    `json:"exit_code"`

	Hosts      []Host      `json:"hosts,omitempty"`
	Metrics    []Metric    `json:"metrics,omitempty"`
	Comparison *Comparison `json:"comparison,omitempty"`
}

// Host is one machine of a record.
type Host struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Hostname is what the machine calls itself (from its fingerprint).
	Hostname string `json:"hostname,omitempty"`
	// Virtualization is the fingerprint's verdict (bare_metal, vgpu_vm,
	// passthrough_vm, ...); Accelerator the GPU model.
	Virtualization string            `json:"virtualization,omitempty"`
	Accelerator    string            `json:"accelerator,omitempty"`
	GPUs           int               `json:"gpus,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	// FingerprintHash is a digest of the fingerprint without its
	// collection time: equal hashes, the same machine state.
	FingerprintHash string          `json:"fingerprint_hash,omitempty"`
	Fingerprint     json.RawMessage `json:"fingerprint,omitempty"`
}

// Metric is one timed run's headline.
type Metric struct {
	Benchmark      string   `json:"benchmark"`
	Scenario       string   `json:"scenario"`
	Role           string   `json:"role"`
	Host           string   `json:"host,omitempty"`
	Repetition     int      `json:"repetition"`
	Name           string   `json:"metric,omitempty"`
	Unit           string   `json:"unit,omitempty"`
	HigherIsBetter bool     `json:"higher_is_better"`
	Value          *float64 `json:"value"`
	Valid          bool     `json:"valid"`
	// Counted says the run entered the comparison's statistics.
	Counted bool   `json:"counted"`
	Status  string `json:"status,omitempty"`
	Dir     string `json:"dir,omitempty"`
}

// Comparison is a record's comparison: the gate and each scenario.
type Comparison struct {
	GateMode       string          `json:"gate_mode"`
	GateOutcome    string          `json:"gate_outcome"`
	MinRetainedPct *float64        `json:"min_retained_pct,omitempty"`
	MarginPct      *float64        `json:"margin_pct,omitempty"`
	Gate           json.RawMessage `json:"gate,omitempty"`
	Scenarios      []Scenario      `json:"scenarios"`
}

// Scenario is one benchmark and scenario's comparison.
type Scenario struct {
	Benchmark      string   `json:"benchmark"`
	Scenario       string   `json:"scenario"`
	Metric         string   `json:"metric,omitempty"`
	Unit           string   `json:"unit,omitempty"`
	HigherIsBetter bool     `json:"higher_is_better"`
	Status         string   `json:"status"`
	Pairing        string   `json:"pairing,omitempty"`
	RetainedPct    *float64 `json:"retained_pct"`
	LowPct         *float64 `json:"low_pct,omitempty"`
	HighPct        *float64 `json:"high_pct,omitempty"`
	Confidence     *float64 `json:"confidence,omitempty"`
	Method         string   `json:"method,omitempty"`
	// BaselineValue and CandidateValue are each side's geometric mean.
	BaselineValue  *float64 `json:"baseline_value,omitempty"`
	CandidateValue *float64 `json:"candidate_value,omitempty"`
	BaselineN      int      `json:"baseline_n"`
	CandidateN     int      `json:"candidate_n"`
	Verdict        string   `json:"verdict"`
	GateOutcome    string   `json:"gate_outcome"`
	GateExit       int      `json:"gate_exit"`
	// Detail is the comparison's own JSON for the scenario.
	Detail json.RawMessage `json:"detail,omitempty"`
}

// NewUID returns a random record key.
func NewUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Record stores r in one transaction and sets r.ID. A record whose UID is
// already stored is not added again: dup is true and r.ID is the stored
// record's.
func (s *Store) Record(ctx context.Context, r *Record) (dup bool, err error) {
	if r.UID == "" {
		r.UID = NewUID()
	}
	if r.Kind == "" {
		return false, errors.New("history: record without a kind")
	}
	if r.RecordedAt.IsZero() {
		r.RecordedAt = time.Now().UTC()
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = r.RecordedAt
	}
	var gate string
	var minRet, margin *float64
	var gateMode, gateOutcome string
	if c := r.Comparison; c != nil {
		gate, minRet, margin = string(c.Gate), c.MinRetainedPct, c.MarginPct
		gateMode, gateOutcome = c.GateMode, c.GateOutcome
	}
	err = s.retry(ctx, func(tx *sql.Tx) error {
		dup = false
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO runs (uid, kind, command, run_id, tree, plan_hash, model, backend, profile,
  mlperf_round, submitter, baseline_name, candidate_name, baseline_pool, candidate_pool, baseline_ref, gpuperf_version,
  started_at, ended_at, recorded_at, recorded_by, exit_code, gate_mode, gate_outcome, min_retained_pct, margin_pct, gate_json)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)
ON CONFLICT (uid) DO NOTHING RETURNING id`,
			r.UID, r.Kind, r.Command, r.RunID, r.Tree, r.PlanHash, r.Model, r.Backend, r.Profile,
			r.Round, r.Submitter, r.BaselineName, r.CandidateName, r.BaselinePool, r.CandidatePool, r.BaselineRef, r.Version,
			micros(r.StartedAt), micros(r.EndedAt), micros(r.RecordedAt), r.RecordedBy, r.ExitCode, gateMode, gateOutcome,
			minRet, margin, gate).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			dup = true
			return tx.QueryRowContext(ctx, "SELECT id FROM runs WHERE uid = $1", r.UID).Scan(&r.ID)
		}
		if err != nil {
			return err
		}
		r.ID = id
		return insertChildren(ctx, tx, r)
	})
	if err != nil {
		return false, s.wrap("recording", err)
	}
	return dup, nil
}

func insertChildren(ctx context.Context, tx *sql.Tx, r *Record) error {
	for _, h := range r.Hosts {
		labels := ""
		if len(h.Labels) > 0 {
			b, err := json.Marshal(h.Labels)
			if err != nil {
				return err
			}
			labels = string(b)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO hosts (run, name, role, hostname, virtualization, accelerator, gpus, labels, fingerprint_hash, fingerprint)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
			r.ID, h.Name, h.Role, h.Hostname, h.Virtualization, h.Accelerator, h.GPUs, labels, h.FingerprintHash, string(h.Fingerprint)); err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
	}
	if len(r.Metrics) > 0 {
		st, err := tx.PrepareContext(ctx, `INSERT INTO metrics (run, benchmark, scenario, role, host, repetition, metric, unit, higher_is_better, value, valid, counted, status, dir)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, m := range r.Metrics {
			if _, err := st.ExecContext(ctx, r.ID, m.Benchmark, m.Scenario, m.Role, m.Host, m.Repetition, m.Name, m.Unit,
				b2i(m.HigherIsBetter), m.Value, b2i(m.Valid), b2i(m.Counted), m.Status, m.Dir); err != nil {
				return fmt.Errorf("metric %s %s: %w", m.Benchmark, m.Scenario, err)
			}
		}
	}
	if c := r.Comparison; c != nil {
		for _, sc := range c.Scenarios {
			if _, err := tx.ExecContext(ctx, `INSERT INTO comparisons (run, benchmark, scenario, metric, unit, higher_is_better, status, pairing,
  retained_pct, low_pct, high_pct, confidence, method, baseline_value, candidate_value, baseline_n, candidate_n, verdict, gate_outcome, gate_exit, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) ON CONFLICT DO NOTHING`,
				r.ID, sc.Benchmark, sc.Scenario, sc.Metric, sc.Unit, b2i(sc.HigherIsBetter), sc.Status, sc.Pairing,
				sc.RetainedPct, sc.LowPct, sc.HighPct, sc.Confidence, sc.Method, sc.BaselineValue, sc.CandidateValue,
				sc.BaselineN, sc.CandidateN, sc.Verdict, sc.GateOutcome, sc.GateExit, string(sc.Detail)); err != nil {
				return fmt.Errorf("comparison %s %s: %w", sc.Benchmark, sc.Scenario, err)
			}
		}
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
