package coordinator

import (
	"context"
	"fmt"
	"sync"
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
			if r.runAutoSteps(ctx, tree, m, steps, settings) {
				failed = true
			}
			done += block
			if ctx.Err() != nil {
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
		if ctx.Err() != nil {
			break
		}
	}
	return r.finish(ctx, tree, m, failed)
}

// runAutoSteps runs steps one after another, recording each run in the
// manifest as it is scheduled and as it ends; failed reports a run that
// failed after its retries.
func (r *Runner) runAutoSteps(ctx context.Context, tree *results.Tree, m *results.Manifest, steps [][]job,
	settings map[inference.Scenario]inference.TestSettings) (failed bool) {
	r.mu.Lock()
	first := len(m.Runs)
	for _, step := range steps {
		for _, j := range step {
			m.Runs = append(m.Runs, results.RunRecord{
				Host: j.agent.spec.Name, Role: j.agent.spec.Role, Scenario: j.scenario.String(),
				Repetition: j.rep, Sequence: len(m.Runs), Status: results.StatusPending,
			})
		}
	}
	if err := tree.WriteManifest(m); err != nil {
		r.Logger.Error("store run.json", "err", err)
	}
	r.mu.Unlock()
	idx := first
	for _, step := range steps {
		if ctx.Err() != nil {
			break
		}
		var wg sync.WaitGroup
		for _, j := range step {
			at := idx
			idx++
			wg.Go(func() {
				r.mu.Lock()
				rec := m.Runs[at]
				r.mu.Unlock()
				r.runOne(ctx, tree, j, settings[j.scenario], &rec)
				r.mu.Lock()
				m.Runs[at] = rec
				if rec.Status == results.StatusFailed {
					failed = true
				}
				if err := tree.WriteManifest(m); err != nil {
					r.Logger.Error("store run.json", "err", err)
				}
				r.mu.Unlock()
			})
		}
		wg.Wait()
	}
	return failed
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

// finish closes the manifest: the end time, the runs an interrupt left
// pending marked cancelled; it returns the context's error, or
// ErrRunsFailed when a run failed.
func (r *Runner) finish(ctx context.Context, tree *results.Tree, m *results.Manifest, failed bool) (*results.Tree, *results.Manifest, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now().UTC()
	m.EndedAt = &now
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
