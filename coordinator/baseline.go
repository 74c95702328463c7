package coordinator

import (
	"fmt"
	"path/filepath"
	"reflect"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/results"
)

// storedBaseline is an earlier plan's tree whose baseline runs stand in for
// live baseline agents. The candidate then runs with exactly the settings
// the stored baseline ran with (seeds, hints and query counts included), so
// the two sides did the same work.
type storedBaseline struct {
	dir      string
	tree     *results.Tree
	manifest *results.Manifest
	// runs are the stored baseline's finished runs of the plan's scenarios.
	runs []results.RunRecord
	// settings are the test settings each scenario's baseline ran with.
	settings map[inference.Scenario]inference.TestSettings
}

// openBaseline reads the plan's stored baseline and checks that it can
// stand in for this plan: same model, backend and profile, and finished
// baseline runs of every scenario the plan asks for, all with one set of
// settings.
func (r *Runner) openBaseline() (*storedBaseline, error) {
	p := r.Plan
	fail := func(format string, args ...any) error {
		return fmt.Errorf("baseline %s: %s", p.Baseline, fmt.Sprintf(format, args...))
	}
	tree, err := results.Open(p.Baseline)
	if err != nil {
		return nil, fail("%v", err)
	}
	m, err := tree.ReadManifest()
	if err != nil {
		return nil, fail("%v", err)
	}
	for _, c := range []struct{ field, stored, plan string }{
		{"workload.model", m.Model, p.Workload.Model},
		{"workload.backend", m.Backend, p.Workload.Backend},
		{"profile", m.Profile, p.Profile},
	} {
		if c.stored != c.plan {
			return nil, fail("it ran %s %q; the plan's %s is %q", c.field, c.stored, c.field, c.plan)
		}
	}
	dir, err := filepath.Abs(p.Baseline)
	if err != nil {
		return nil, fail("%v", err)
	}
	sb := &storedBaseline{dir: dir, tree: tree, manifest: m, settings: map[inference.Scenario]inference.TestSettings{}}
	for _, sc := range p.ScenarioList() {
		found := false
		for _, run := range m.Runs {
			// Runs under a neighbour load stay out: the baseline stands in
			// with its quiet runs.
			if run.Role != results.RoleBaseline || run.Scenario != sc.String() || run.Status != results.StatusOK || run.Interference != "" {
				continue
			}
			res, err := tree.ReadResult(run.Dir)
			if err != nil {
				return nil, fail("%v", err)
			}
			if prev, ok := sb.settings[sc]; ok && !reflect.DeepEqual(prev, res.Requested) {
				return nil, fail("its %s runs used different settings (%s differs from the first); a stored baseline needs one set", sc, run.Dir)
			}
			sb.settings[sc] = res.Requested
			sb.runs = append(sb.runs, run)
			found = true
		}
		if !found {
			return nil, fail("it has no finished baseline run of %s", sc)
		}
	}
	return sb, nil
}

// importInto copies the baseline's host descriptions and runs into the new
// tree, so the tree is complete on its own, and returns the settings the
// candidate must run with.
func (sb *storedBaseline) importInto(tree *results.Tree, m *results.Manifest) (map[inference.Scenario]inference.TestSettings, error) {
	m.StoredBaseline = &results.StoredBaseline{Dir: sb.dir, RunID: sb.manifest.RunID, StartedAt: sb.manifest.StartedAt, Version: sb.manifest.Version}
	m.Calibration = sb.manifest.Calibration
	hosts := map[string]bool{}
	for _, h := range sb.manifest.Hosts {
		if h.Role != results.RoleBaseline {
			continue
		}
		for _, a := range m.Hosts {
			if a.Name == h.Name {
				return nil, fmt.Errorf("baseline %s: its host %q has the name of the plan's agent; rename the agent", sb.dir, h.Name)
			}
		}
		if err := tree.ImportHost(sb.tree, h.Name); err != nil {
			return nil, fmt.Errorf("baseline %s: %w", sb.dir, err)
		}
		m.Hosts = append(m.Hosts, h)
		hosts[h.Name] = true
	}
	for _, run := range sb.runs {
		if !hosts[run.Host] {
			return nil, fmt.Errorf("baseline %s: run %s names host %q, which run.json does not list", sb.dir, run.Dir, run.Host)
		}
		if err := tree.ImportRun(sb.tree, run.Dir); err != nil {
			return nil, fmt.Errorf("baseline %s: %w", sb.dir, err)
		}
		run.Sequence = len(m.Runs)
		m.Runs = append(m.Runs, run)
	}
	out := make(map[inference.Scenario]inference.TestSettings, len(sb.settings))
	for sc, s := range sb.settings {
		out[sc] = s
	}
	return out, tree.WriteManifest(m)
}
