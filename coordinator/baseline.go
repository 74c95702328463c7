package coordinator

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/results"
)

// storedBaseline is an earlier plan's tree whose baseline runs stand in for
// live baseline agents, or one host folder of such a tree (TREE/HOST),
// whose runs stand in whatever their role was: last night's candidate as
// tonight's baseline. The candidate then runs with exactly the settings
// the stored baseline ran with (seeds, hints and query counts included), so
// the two sides did the same work.
type storedBaseline struct {
	dir      string
	tree     *results.Tree
	manifest *results.Manifest
	// host is the one host whose runs stand in, when the baseline names a
	// host folder; empty: the tree's baseline hosts.
	host string
	// runs are the stored baseline's finished runs of the plan's scenarios.
	runs []results.RunRecord
	// settings are the test settings each scenario's baseline ran with,
	// with the seeds of seed set 0.
	settings map[inference.Scenario]inference.TestSettings
	// seedsVaried: the stored runs drew seed set k in repetition k, so
	// the candidate does too; otherwise every run used set 0.
	seedsVaried bool
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
	root, host := p.Baseline, ""
	if _, err := os.Stat(filepath.Join(root, "run.json")); err != nil {
		parent := filepath.Dir(filepath.Clean(root))
		if _, perr := os.Stat(filepath.Join(parent, "run.json")); perr == nil {
			if _, herr := os.Stat(filepath.Join(root, results.HostFile)); herr == nil {
				root, host = parent, filepath.Base(filepath.Clean(root))
			}
		}
	}
	tree, err := results.Open(root)
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
	sb := &storedBaseline{dir: dir, tree: tree, manifest: m, host: host, settings: map[inference.Scenario]inference.TestSettings{}}
	sb.seedsVaried = m.Seeds == results.SeedsVary
	planned, err := r.baseSettings()
	if err != nil {
		return nil, err
	}
	for _, sc := range p.ScenarioList() {
		found := false
		var first string
		for _, run := range m.Runs {
			// Runs under a neighbour load stay out: the baseline stands in
			// with its quiet runs.
			if !sb.standsIn(run.Host, run.Role) || run.Scenario != sc.String() || run.Status != results.StatusOK || run.Interference != "" {
				continue
			}
			res, err := tree.ReadResult(run.Dir)
			if err != nil {
				return nil, fail("%v", err)
			}
			// Seed set k's seeds derive from set 0's: every run must
			// lead back to one set of settings.
			base, ok := seedSetZero(res.Requested, res.SeedSet, sb.settings[sc], found, planned[sc])
			if !ok && !found {
				return nil, fail("its %s run %s ran seed set %d, whose seeds do not derive from the plan's", sc, run.Dir, res.SeedSet)
			}
			if !ok {
				return nil, fail("its %s runs used different settings (%s differs from %s); a stored baseline needs one set", sc, run.Dir, first)
			}
			if !found {
				first = run.Dir
			}
			sb.settings[sc] = base
			sb.runs = append(sb.runs, run)
			found = true
		}
		if !found {
			if host != "" {
				return nil, fail("host %s has no finished run of %s", host, sc)
			}
			return nil, fail("it has no finished baseline run of %s", sc)
		}
	}
	return sb, nil
}

// standsIn reports whether a stored host's runs stand in for the baseline.
func (sb *storedBaseline) standsIn(host, role string) bool {
	if sb.host != "" {
		return host == sb.host
	}
	return role == results.RoleBaseline
}

// seedSetZero returns the settings of seed set 0 behind a run of seed set
// set: the earlier runs' (prev, when have), whose seeds must derive to the
// run's; for the first run, its own settings with the plan's seeds
// (planned) as set 0's, when they derive to the run's. ok is false when
// the run does not fit.
func seedSetZero(ran inference.TestSettings, set int, prev inference.TestSettings, have bool, planned inference.TestSettings) (inference.TestSettings, bool) {
	if !have {
		if set == 0 {
			return ran, true
		}
		prev = ran
		prev.QSLRNGSeed, prev.SampleIndexRNGSeed, prev.ScheduleRNGSeed = planned.QSLRNGSeed, planned.SampleIndexRNGSeed, planned.ScheduleRNGSeed
	}
	want := prev
	want.UseSeedSet(set)
	return prev, reflect.DeepEqual(want, ran)
}

// importInto copies the baseline's host descriptions and runs into the new
// tree, so the tree is complete on its own, and returns the settings the
// candidate must run with.
func (sb *storedBaseline) importInto(tree *results.Tree, m *results.Manifest) (map[inference.Scenario]inference.TestSettings, error) {
	m.StoredBaseline = &results.StoredBaseline{Dir: sb.dir, RunID: sb.manifest.RunID, StartedAt: sb.manifest.StartedAt, Version: sb.manifest.Version}
	m.Calibration = sb.manifest.Calibration
	// A stored host named like one of the plan's agents (the same machine,
	// measured again) is imported as <host>.<stored run id>.
	names := map[string]string{}
	for _, h := range sb.manifest.Hosts {
		if !sb.standsIn(h.Name, h.Role) {
			continue
		}
		as := h.Name
		if taken(m.Hosts, as) {
			as = h.Name + "." + sb.manifest.RunID
			if taken(m.Hosts, as) {
				return nil, fmt.Errorf("baseline %s: its host %q has the name of the plan's agent, and so has %q; rename the agent", sb.dir, h.Name, as)
			}
		}
		if err := tree.ImportHostAs(sb.tree, h.Name, as); err != nil {
			return nil, fmt.Errorf("baseline %s: %w", sb.dir, err)
		}
		names[h.Name] = as
		h.Name, h.Role = as, results.RoleBaseline
		m.Hosts = append(m.Hosts, h)
	}
	for _, run := range sb.runs {
		as, ok := names[run.Host]
		if !ok {
			return nil, fmt.Errorf("baseline %s: run %s names host %q, which run.json does not list", sb.dir, run.Dir, run.Host)
		}
		dir := run.Dir
		if as != run.Host {
			rest, ok := strings.CutPrefix(filepath.ToSlash(run.Dir), run.Host+"/")
			if !ok {
				return nil, fmt.Errorf("baseline %s: run %s is not in its host's folder %s", sb.dir, run.Dir, run.Host)
			}
			dir = filepath.Join(as, filepath.FromSlash(rest))
		}
		if err := tree.ImportRunAs(sb.tree, run.Dir, dir); err != nil {
			return nil, fmt.Errorf("baseline %s: %w", sb.dir, err)
		}
		run.Host, run.Role, run.Dir = as, results.RoleBaseline, dir
		run.Sequence = len(m.Runs)
		m.Runs = append(m.Runs, run)
	}
	out := make(map[inference.Scenario]inference.TestSettings, len(sb.settings))
	for sc, s := range sb.settings {
		out[sc] = s
	}
	return out, tree.WriteManifest(m)
}

func taken(hosts []results.Host, name string) bool {
	for _, h := range hosts {
		if h.Name == name {
			return true
		}
	}
	return false
}
