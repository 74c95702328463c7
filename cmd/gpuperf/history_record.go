package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/gpuperf/gpuperf/coordinator"
	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/results"
	"github.com/gpuperf/gpuperf/results/history"
	"github.com/gpuperf/gpuperf/results/trend"
)

// GateTrend is --gate trend: the regression gate on this comparison, then
// the trend gate over the history including it.
const GateTrend = "trend"

// runHistory records one gpuperf run, compare or bench in the run
// history. It opens the store before anything is measured, so a store
// gpuperf must not use stops the command at once (exit 2), and records
// when the result is known; a store it cannot reach never costs the run:
// the tree is written, the message says the history was not updated, and
// the exit code is 1.
type runHistory struct {
	stderr io.Writer
	addr   string
	off    bool
	store  *history.Store
	// unreachable is why the store could not be opened at the start; the
	// record is tried again at the end.
	unreachable error

	// rec holds what is known before the run (plan hash, baseline
	// reference); build makes the record once the result is known.
	rec   *history.Record
	build func() *history.Record
	// trendGate is --gate trend; followsLastGood says the baseline moved
	// with the fleet (last-good), so the trend to judge is the candidate's
	// own metric rather than retained % against a moving baseline.
	trendGate       bool
	followsLastGood bool
	marginPct       float64
}

// startHistory opens the store for a command that records. It resolves
// --gate trend into the regression gate plus the trend gate.
func startHistory(cmd *cobra.Command, v *viper.Viper) (*runHistory, error) {
	h := &runHistory{stderr: cmd.ErrOrStderr(), addr: storeAddr(v)}
	if v.GetString("gate") == GateTrend {
		h.trendGate = true
		v.Set("gate", results.GateRegression)
	}
	if h.addr == history.Off {
		h.off = true
		if h.trendGate {
			return nil, usageErrorf("--gate trend judges the run history, but --store is off")
		}
		return h, nil
	}
	s, err := history.Open(cmd.Context(), h.addr)
	switch {
	case err == nil:
		h.store = s
	case errors.Is(err, history.ErrUnavailable):
		h.unreachable = err
		fmt.Fprintf(h.stderr, "gpuperf: warning: %v; the run goes on, and gpuperf tries the history again at the end\n", err)
	default:
		return nil, storeError(err)
	}
	return h, nil
}

// startPlanHistory is startHistory for a plan: a baseline named through the
// history (last-good, tag:NAME) is resolved to the stored tree before the
// plan is validated.
func startPlanHistory(cmd *cobra.Command, v *viper.Viper, plan *coordinator.Plan) (*runHistory, error) {
	h, err := startHistory(cmd, v)
	if err != nil {
		return nil, err
	}
	hash := planHash(plan)
	h.rec = &history.Record{PlanHash: hash}
	if !coordinator.IsStoreReference(plan.Baseline) {
		return h, nil
	}
	ref := plan.Baseline
	var names []string
	for _, a := range plan.Candidates() {
		names = append(names, a.Name)
	}
	dir, desc, err := h.resolveBaseline(cmd.Context(), ref, hash, strings.Join(names, "+"), "")
	if err != nil {
		h.close()
		return nil, err
	}
	plan.Baseline = dir
	h.rec.BaselineRef = desc
	h.followsLastGood = strings.HasPrefix(desc, coordinator.BaselineLastGood)
	return h, nil
}

// observePlan notes where a plan's tree, manifest and comparison will be:
// finish records them as they are then (a plan that ends before
// comparing is recorded without a comparison).
func (h *runHistory) observePlan(tree **results.Tree, m **results.Manifest, c **results.Comparison, compare bool) {
	if h == nil || h.off {
		return
	}
	h.build = func() *history.Record {
		if *tree == nil || *m == nil {
			return nil
		}
		return h.planRecord(*tree, *m, *c, compare)
	}
}

func (h *runHistory) planRecord(tree *results.Tree, m *results.Manifest, c *results.Comparison, compare bool) *history.Record {
	rec := h.rec
	if rec == nil {
		rec = &history.Record{}
	}
	rec.Kind = history.KindRun
	if compare {
		rec.Kind = history.KindCompare
	}
	rec.RunID, rec.Model, rec.Backend, rec.Profile = m.RunID, m.Model, m.Backend, m.Profile
	rec.Tree, _ = filepath.Abs(tree.Root)
	rec.StartedAt = m.StartedAt
	if m.EndedAt != nil {
		rec.EndedAt = *m.EndedAt
	}
	if rec.BaselineRef == "" && m.StoredBaseline != nil {
		rec.BaselineRef = m.StoredBaseline.Dir
	}
	if c != nil {
		if err := rec.AddComparison(c); err != nil {
			slogDefault().Warn("history: comparison not recorded", "err", err)
		}
		h.marginPct = c.Settings.MarginPct
		return rec
	}
	for _, role := range []string{results.RoleBaseline, results.RoleCandidate} {
		if src, err := results.ReadSource(tree.Root, role); err == nil {
			rec.AddSource(src)
		}
	}
	return rec
}

// observeStored notes where a comparison of stored results will be.
func (h *runHistory) observeStored(c **results.Comparison) {
	if h == nil || h.off {
		return
	}
	h.build = func() *history.Record {
		if *c == nil {
			return nil
		}
		return h.storedRecord(*c)
	}
}

func (h *runHistory) storedRecord(c *results.Comparison) *history.Record {
	rec := &history.Record{Kind: history.KindCompare, StartedAt: time.Now().UTC()}
	if h.rec != nil {
		rec.BaselineRef, rec.PlanHash = h.rec.BaselineRef, h.rec.PlanHash
	}
	// The record points to the candidate, and is dated when it ran.
	rec.Tree, _ = filepath.Abs(c.Candidate.Path)
	rec.RunID = c.Candidate.RunID
	if c.Candidate.Format == results.FormatGpuperf {
		if t, err := results.Open(c.Candidate.Path); err == nil {
			if m, err := t.ReadManifest(); err == nil {
				rec.StartedAt, rec.Model, rec.Backend, rec.Profile = m.StartedAt, m.Model, m.Backend, m.Profile
				if m.EndedAt != nil {
					rec.EndedAt = *m.EndedAt
				}
			}
			if rec.PlanHash == "" {
				if b, err := os.ReadFile(filepath.Join(c.Candidate.Path, "plan.yaml")); err == nil {
					rec.PlanHash = hashPlanYAML(b)
				}
			}
		}
	}
	if err := rec.AddComparison(c); err != nil {
		slogDefault().Warn("history: comparison not recorded", "err", err)
	}
	if rec.BaselineRef == "" && c.Baseline.StoredBaseline != "" {
		rec.BaselineRef = c.Baseline.StoredBaseline
	}
	h.marginPct = c.Settings.MarginPct
	return rec
}

// observeBench notes where a bench's result will be.
func (h *runHistory) observeBench(bs *benchSetup, res **inference.Result) {
	if h == nil || h.off {
		return
	}
	h.build = func() *history.Record {
		if *res == nil {
			return nil
		}
		return benchRecord(bs, *res)
	}
}

func benchRecord(bs *benchSetup, res *inference.Result) *history.Record {
	rec := &history.Record{Kind: history.KindBench, StartedAt: res.StartedAt, EndedAt: time.Now().UTC()}
	rec.Tree, _ = filepath.Abs(bs.out)
	host, _ := os.Hostname()
	rec.AddBench(host, res)
	opts := make([]string, 0, len(bs.opts))
	for k, v := range bs.opts {
		opts = append(opts, k+"="+v)
	}
	slices.Sort(opts)
	b, _ := json.Marshal([]any{bs.backend, opts, res.Model, string(res.Profile), res.Effective.Scenario.String()})
	sum := sha256.Sum256(b)
	rec.PlanHash = "bench-" + hex.EncodeToString(sum[:5])
	return rec
}

// finish records what was observed, with the exit code err gives, and
// returns the command's error: unchanged when the record is written (or
// nothing ran), exit 1 with the reason when the history could not be
// updated, exit 4 when --gate trend finds the newest runs a regression.
func (h *runHistory) finish(ctx context.Context, cmd *cobra.Command, err error) error {
	if h == nil {
		return err
	}
	defer h.close()
	if h.off || h.build == nil {
		return err
	}
	rec := h.build()
	if rec == nil {
		return err
	}
	h.rec = rec
	rec.ExitCode = codeOf(err)
	if ctx.Err() != nil && rec.ExitCode == exitFailure {
		rec.ExitCode = exitInterrupted
	}
	rec.Command, rec.Version, rec.RecordedBy = commandLine(cmd), gpuperfVersion(), recorder()
	// An interrupt must not lose the record of what finished.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if h.store == nil {
		s, oerr := history.Open(wctx, h.addr)
		if oerr != nil {
			return h.notUpdated(err, oerr)
		}
		h.store = s
	}
	if _, rerr := h.store.Record(wctx, rec); rerr != nil {
		return h.notUpdated(err, rerr)
	}
	fmt.Fprintf(h.stderr, "gpuperf: recorded as run %d in %s\n", rec.ID, h.store.Where())
	if h.trendGate {
		return h.gateTrend(wctx, err)
	}
	return err
}

// notUpdated reports a record that could not be written. The run's own
// outcome keeps precedence when it is a usage error or an interrupt;
// otherwise the command exits 1, with the run's message kept.
func (h *runHistory) notUpdated(err, cause error) error {
	where := ""
	if h.rec.Tree != "" {
		where = fmt.Sprintf("; the results are in %s (gpuperf import %s records them later)", h.rec.Tree, h.rec.Tree)
	}
	msg := fmt.Errorf("history not updated: %v%s", cause, where)
	switch code := codeOf(err); code {
	case exitUsage, exitInterrupted:
		fmt.Fprintln(h.stderr, "gpuperf:", msg)
		return err
	case exitOK:
		return &exitError{code: exitFailure, err: msg}
	default:
		return &exitError{code: exitFailure, err: fmt.Errorf("%v\n%v", msg, err)}
	}
}

// gateTrend is --gate trend after the record: the series this run belongs
// to, with it as the newest point, each segmented; a significant drop of
// the newest segment beyond the margin exits 4.
func (h *runHistory) gateTrend(ctx context.Context, err error) error {
	rec := h.rec
	if rec.Comparison == nil {
		return err
	}
	o := history.SeriesOptions{Filter: history.Filter{PlanHash: rec.PlanHash, Candidate: rec.CandidateName}, Metric: history.MetricRetained}
	if h.followsLastGood {
		// Against last night, retained % restarts at 100 each night: the
		// candidate's own metric is the trend.
		o.Metric = history.MetricCandidate
	} else {
		o.Baseline = rec.BaselineName
	}
	series, serr := h.store.Series(ctx, o)
	if serr != nil {
		return errors.Join(err, storeError(serr))
	}
	var ts []trend.Trend
	for _, s := range series {
		in := false
		for _, sc := range rec.Comparison.Scenarios {
			in = in || (sc.Benchmark == s.Benchmark && sc.Scenario == s.Scenario)
		}
		if !in || len(s.Points) == 0 || s.Points[len(s.Points)-1].Run != rec.ID {
			continue
		}
		t, aerr := trend.Analyze(s, trend.Options{MarginPct: h.marginPct})
		if aerr != nil {
			return errors.Join(err, aerr)
		}
		ts = append(ts, t)
	}
	g := trend.Decide(ts)
	if g.ExitCode == 0 {
		fmt.Fprintf(h.stderr, "gpuperf: trend gate: %s, none ends in a significant drop beyond the margin\n", countNoun(len(ts), "series", "series"))
		return err
	}
	msg := "trend gate: regression: " + strings.Join(g.Regressions, "; ")
	switch codeOf(err) {
	case exitOK, results.ExitInconclusive:
		return &exitError{code: results.ExitRegression, err: errors.New(msg)}
	default:
		fmt.Fprintln(h.stderr, "gpuperf:", msg)
		return err
	}
}

func (h *runHistory) close() {
	if h != nil && h.store != nil {
		h.store.Close()
		h.store = nil
	}
}
