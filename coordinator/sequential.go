package coordinator

import (
	"context"
	"fmt"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/results"
)

// executeAuto runs a plan with repetitions: auto, scenario by scenario: a
// first look of Plan.Repetitions pairs, then one ABBA block (two pairs) at
// a time, comparing after each, until the equivalence verdict is decided
// or Plan.MaxRepetitions pairs ran. The comparison at each look is a
// group-sequential one (results.SequentialRecord), so stopping on what it
// shows keeps its error rates. It finishes the manifest as Execute does.
func (r *Runner) executeAuto(ctx context.Context, tree *results.Tree, m *results.Manifest, agents []*agentConn,
	settings map[inference.Scenario]inference.TestSettings) (*results.Tree, *results.Manifest, error) {
	p := r.Plan
	var base, cand []*agentConn
	for _, a := range agents {
		if a.spec.Role == results.RoleBaseline {
			base = append(base, a)
		} else {
			cand = append(cand, a)
		}
	}
	m.Sequential = map[string]*results.SequentialRecord{}
	opts := results.Options{MarginPct: p.Thresholds.EquivalenceMarginPct, MinRetainedPct: p.Thresholds.MinRetainedPct, MinRetainedFrom: "plan", Version: r.Version}
	failed := false
	for _, sc := range p.ScenarioList() {
		rec := &results.SequentialRecord{MaxPairs: p.MaxRepetitions, Spending: results.SequentialSpending, MarginPct: p.Thresholds.EquivalenceMarginPct}
		m.Sequential[sc.String()] = rec
		for done := 0; done < p.MaxRepetitions && ctx.Err() == nil; {
			block := 2
			if done == 0 {
				block = p.Repetitions
			}
			block = min(block, p.MaxRepetitions-done)
			var steps [][]job
			for k := done; k < done+block; k++ {
				first, second := base, cand
				if k%2 == 1 {
					first, second = cand, base
				}
				for _, a := range append(append([]*agentConn{}, first...), second...) {
					steps = append(steps, []job{{agent: a, scenario: sc, rep: k}})
				}
			}
			stepFailed, err := r.runSteps(ctx, tree, m, steps, settings)
			if err != nil {
				return tree, m, err
			}
			failed = failed || stepFailed
			done += block
			if ctx.Err() != nil || r.fatal() != nil {
				break
			}
			rec.Looks = append(rec.Looks, done)
			verdict, stop := r.look(tree, m, sc, opts)
			if stop != "" {
				rec.Stopped = stop
				break
			}
			if verdict == results.VerdictEquivalent || verdict == results.VerdictLower || verdict == results.VerdictHigher {
				rec.Stopped = fmt.Sprintf("decided %s after %d pairs", verdict, done)
				break
			}
			if done >= p.MaxRepetitions {
				rec.Stopped = fmt.Sprintf("the cap of %d pairs reached, %s", p.MaxRepetitions, verdict)
			}
		}
		r.mu.Lock()
		err := tree.WriteManifest(m)
		r.mu.Unlock()
		if err != nil {
			return tree, m, err
		}
		if ctx.Err() != nil || r.fatal() != nil {
			break
		}
	}
	return r.finish(ctx, tree, m, failed)
}

// look compares what has run and returns the scenario's verdict, or why
// the design stops without one (the scenario is void, refused, or has no
// comparable pairs).
func (r *Runner) look(tree *results.Tree, m *results.Manifest, sc inference.Scenario, opts results.Options) (verdict, stop string) {
	r.mu.Lock()
	err := tree.WriteManifest(m)
	r.mu.Unlock()
	if err != nil {
		return "", "run.json could not be written: " + err.Error()
	}
	c, err := results.Compare(tree, m, opts)
	if err != nil {
		return "", "the comparison failed: " + err.Error()
	}
	for _, s := range c.Scenarios {
		if s.Scenario != sc.String() {
			continue
		}
		switch s.Status {
		case results.StatusCompared:
			return s.Verdict, ""
		case results.StatusVoid:
			return "", "void: " + s.Void
		case results.StatusRefused:
			return "", "refused: " + s.Refusal
		case results.StatusCandidateInvalid:
			return "", "the candidate is INVALID where the baseline is VALID"
		}
		return s.Verdict, ""
	}
	return "", "no comparable runs"
}

// finish closes the manifest: the end time, and the runs left pending
// marked skipped when a fatal error stopped the plan (a full disk) or
// cancelled when it was interrupted; it returns that error, the context's,
// or ErrRunsFailed when a run failed.
func (r *Runner) finish(ctx context.Context, tree *results.Tree, m *results.Manifest, failed bool) (*results.Tree, *results.Manifest, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now().UTC()
	m.EndedAt = &now
	if fatal := r.state.fatal; fatal != nil {
		for i := range m.Runs {
			if m.Runs[i].Status == results.StatusPending {
				m.Runs[i].Status, m.Runs[i].Error = results.StatusSkipped, fmt.Sprintf("not run: the plan stopped: %v", fatal)
			}
		}
		if err := tree.WriteManifest(m); err != nil {
			r.Logger.Error("store run.json", "err", err)
		}
		return tree, m, fmt.Errorf("the plan stopped, keeping the runs that finished: %w", fatal)
	}
	if ctx.Err() != nil {
		m.Interrupted = true
		for i := range m.Runs {
			if m.Runs[i].Status == results.StatusPending {
				m.Runs[i].Status = results.StatusCancelled
			}
		}
	}
	if err := tree.WriteManifest(m); err != nil {
		return tree, m, err
	}
	if ctx.Err() != nil {
		return tree, m, ctx.Err()
	}
	if failed {
		return tree, m, ErrRunsFailed
	}
	return tree, m, nil
}
