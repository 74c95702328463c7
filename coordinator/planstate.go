package coordinator

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/results"
)

// planState is what the plan learned from its failures so far: agents that
// are gone (a run failed every attempt because the agent froze or could
// not be reached) and a local I/O error that stops the plan. Runner.mu
// protects it.
type planState struct {
	gone  map[string]error
	fatal error
}

// waitToRetry waits the backoff before attempt; false when ctx ended.
func (r *Runner) waitToRetry(ctx context.Context, rec *results.RunRecord, attempt int) bool {
	d := backoff(attempt)
	r.Logger.Warn("retrying the run", "host", rec.Host, "scenario", rec.Scenario, "repetition", rec.Repetition+1, "attempt", attempt+1, "after", d.Round(1e6))
	return sleepCtx(ctx, d) == nil
}

// store writes a run's files; an error is a *storeError, and one that
// says the disk is full or failing stops the plan.
func (r *Runner) store(tree *results.Tree, dir string, files results.RunFiles) error {
	write := tree.WriteRun
	if r.writeRun != nil {
		write = r.writeRun
	}
	if err := write(dir, files); err != nil {
		se := &storeError{err: err}
		if fatalLocal(err) {
			r.mu.Lock()
			if r.state.fatal == nil {
				r.state.fatal = se
			}
			r.mu.Unlock()
		}
		return se
	}
	return nil
}

// afterFailure records what a failed attempt says about the plan and
// reports whether another attempt may do better.
func (r *Runner) afterFailure(j job, err error) bool {
	retry, gone := retryable(err)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state.fatal != nil {
		return false
	}
	if gone {
		// Remembered now, forgotten if a retry reaches the agent again.
		if r.state.gone == nil {
			r.state.gone = map[string]error{}
		}
		r.state.gone[j.agent.spec.Name] = err
	}
	return retry
}

// recovered forgets that an agent was gone: a run reached it.
func (r *Runner) recovered(name string) {
	r.mu.Lock()
	delete(r.state.gone, name)
	r.mu.Unlock()
}

// skipReason says why a job is not worth running, or "" to run it: the
// plan stopped, its agent is gone, or its scenario can no longer be
// compared because the other side has no finished run of it and none to
// come. r.mu must be held.
func (r *Runner) skipReason(j job, runs []results.RunRecord) string {
	if r.state.fatal != nil {
		return fmt.Sprintf("not run: the plan stopped: %v", r.state.fatal)
	}
	if err, ok := r.state.gone[j.agent.spec.Name]; ok {
		return fmt.Sprintf("not run: agent %s failed every attempt of an earlier run: %v", j.agent.spec.Name, err)
	}
	other := results.RoleCandidate
	if j.agent.spec.Role == results.RoleCandidate {
		other = results.RoleBaseline
	}
	if side := sideOf(runs, other, j.scenario, r.state.gone); side.total > 0 && side.ok == 0 && side.open == 0 {
		return fmt.Sprintf("not run: the %s comparison is impossible: no %s run of it finished", j.scenario, other)
	}
	return ""
}

// sideCount counts one role's runs of a scenario: finished, and still to
// come (pending, on an agent that is not gone).
type sideCount struct{ total, ok, open int }

func sideOf(runs []results.RunRecord, role string, sc inference.Scenario, gone map[string]error) sideCount {
	var c sideCount
	for _, run := range runs {
		if run.Role != role || run.Scenario != sc.String() {
			continue
		}
		c.total++
		switch run.Status {
		case results.StatusOK:
			c.ok++
		case results.StatusPending:
			if _, g := gone[run.Host]; !g {
				c.open++
			}
		}
	}
	return c
}

// checkResult decodes an agent's result.json and refuses one that claims
// what it cannot: an agent's result is checked, not trusted.
func checkResult(agent string, data []byte) (*inference.Result, error) {
	res, err := results.DecodeResult("result.json from agent "+agent, data)
	if err != nil {
		return nil, &incompleteError{agent: agent, why: err.Error()}
	}
	switch {
	case res.SamplesComplete > res.SamplesIssued:
		return nil, &incompleteError{agent: agent, why: fmt.Sprintf("%d samples completed of %d issued", res.SamplesComplete, res.SamplesIssued)}
	case res.Validity.Valid && res.SamplesComplete < res.SamplesIssued:
		return nil, &incompleteError{agent: agent, why: fmt.Sprintf("VALID with %d of %d samples complete", res.SamplesComplete, res.SamplesIssued)}
	case res.Validity.Valid && res.SamplesIssued == 0:
		return nil, &incompleteError{agent: agent, why: "VALID without a sample"}
	}
	return res, nil
}

// invalidReason is why a run is INVALID, for run.json; "" when VALID.
func invalidReason(res *inference.Result) string {
	if res.Validity.Valid {
		return ""
	}
	return strings.TrimSpace(res.InvalidExplanation())
}

// runOneRecovered is runOne with a panic turned into a failed run: one
// bad result must not end the plan, nor lose what is stored.
func (r *Runner) runOneRecovered(ctx context.Context, tree *results.Tree, j job, s inference.TestSettings, rec *results.RunRecord) {
	defer func() {
		if v := recover(); v != nil {
			r.Logger.Error("a run panicked", "host", rec.Host, "scenario", rec.Scenario, "panic", v, "stack", string(debug.Stack()))
			rec.Status, rec.Error, rec.Dir = results.StatusFailed, fmt.Sprintf("internal error: %v", v), ""
		}
	}()
	r.runOne(ctx, tree, j, s, rec)
}
