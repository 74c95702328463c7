package history

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gpuperf/gpuperf/results"
	"github.com/gpuperf/gpuperf/results/mlperflog"
	"github.com/gpuperf/gpuperf/results/report"
)

// PlanHasher turns a tree's plan.yaml into the plan hash (nil or empty
// input: no plan).
type PlanHasher func(planYAML []byte) string

// FromTree builds the record of a stored gpuperf result tree: the
// manifest's metadata, its comparison (report.json, whose gate outcome is
// kept; without one, compared afresh with the default settings and no
// gate) and every run's metric. Bad input is a *results.InputError.
func FromTree(dir string, hash PlanHasher) (*Record, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, &results.InputError{File: dir, Err: err}
	}
	t, err := results.Open(abs)
	if err != nil {
		return nil, &results.InputError{File: dir, Err: err}
	}
	m, err := t.ReadManifest()
	if err != nil {
		return nil, &results.InputError{File: filepath.Join(dir, "run.json"), Err: err}
	}
	r := &Record{
		UID: "import:" + abs, Kind: KindImport, RunID: m.RunID, Tree: abs,
		Model: m.Model, Backend: m.Backend, Profile: m.Profile, Version: m.Version, StartedAt: m.StartedAt,
	}
	if m.EndedAt != nil {
		r.EndedAt = *m.EndedAt
	}
	if m.StoredBaseline != nil {
		r.BaselineRef = m.StoredBaseline.Dir
	}
	if hash != nil {
		if b, err := os.ReadFile(filepath.Join(abs, "plan.yaml")); err == nil {
			r.PlanHash = hash(b)
		}
	}
	var c *results.Comparison
	rp := filepath.Join(abs, report.ReportFile)
	switch _, err := os.Stat(rp); {
	case err == nil:
		if c, err = report.Read(rp); err != nil {
			return nil, err
		}
	case errors.Is(err, fs.ErrNotExist):
		// No comparison stored: compare when both sides are there.
		if cc, err := results.Compare(t, m, results.Options{}); err == nil {
			c = cc
			c.ApplyGate(results.Failures{})
		}
	default:
		return nil, &results.InputError{File: rp, Err: err}
	}
	if c != nil {
		if err := r.AddComparison(c); err != nil {
			return nil, err
		}
		r.ExitCode = c.Gate.ExitCode
	} else {
		for _, role := range []string{results.RoleBaseline, results.RoleCandidate} {
			if src, err := results.ReadSource(abs, role); err == nil {
				r.AddSource(src)
			}
		}
	}
	for _, run := range m.Runs {
		if run.Status == results.StatusFailed && r.ExitCode == 0 {
			r.ExitCode = 1
		}
	}
	if m.Interrupted {
		r.ExitCode = 130
	}
	return r, nil
}

// FromPublished builds the record of one published MLPerf system (a
// folder results.PublishedSystems lists): its runs' metrics, dated by the
// round's publication.
func FromPublished(systemDir string) (*Record, error) {
	abs, err := filepath.Abs(systemDir)
	if err != nil {
		return nil, &results.InputError{File: systemDir, Err: err}
	}
	src, err := results.ReadSource(abs, results.RoleCandidate)
	if err != nil {
		return nil, err
	}
	r := &Record{UID: "mlperf:" + abs, Kind: KindMLPerf, Tree: abs}
	r.AddSource(src)
	r.StartedAt = roundDate(r.Round)
	if r.StartedAt.IsZero() {
		r.StartedAt = newestSummary(abs)
	}
	return r, nil
}

// roundDates are the days MLPerf Inference rounds were published, which
// order published results in time.
var roundDates = map[string]string{
	"v0.5": "2019-11-06", "v0.7": "2020-10-21", "v1.0": "2021-04-21", "v1.1": "2021-09-22",
	"v2.0": "2022-04-06", "v2.1": "2022-09-08", "v3.0": "2023-04-05", "v3.1": "2023-09-11",
	"v4.0": "2024-03-27", "v4.1": "2024-08-28", "v5.0": "2025-04-02", "v5.1": "2025-09-09",
}

func roundDate(round string) time.Time {
	t, err := time.Parse(time.DateOnly, roundDates[round])
	if err != nil {
		return time.Time{}
	}
	return t
}

func newestSummary(dir string) time.Time {
	var newest time.Time
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != mlperflog.SummaryFile {
			return nil
		}
		if info, err := d.Info(); err == nil && info.ModTime().After(newest) {
			newest = info.ModTime().UTC()
		}
		return nil
	})
	return newest
}

// ErrNothingToImport: a folder holds neither a gpuperf tree nor a
// published MLPerf system.
var ErrNothingToImport = errors.New("nothing to import")

// ImportTargets lists what a folder holds: itself when it is a gpuperf
// tree, the trees directly inside it (an output folder of many runs), or
// the published MLPerf systems under it.
func ImportTargets(dir string) (trees, systems []string, err error) {
	if _, err := os.Stat(filepath.Join(dir, "run.json")); err == nil {
		return []string{dir}, nil, nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, nil, &results.InputError{File: dir, Err: err}
	}
	if !st.IsDir() {
		return nil, nil, &results.InputError{File: dir, Err: errors.New("not a folder")}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, &results.InputError{File: dir, Err: err}
	}
	for _, e := range entries {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), "run.json")); err == nil {
				trees = append(trees, filepath.Join(dir, e.Name()))
			}
		}
	}
	if len(trees) > 0 {
		return trees, nil, nil
	}
	systems, err = results.PublishedSystems(dir)
	if err != nil {
		return nil, nil, err
	}
	if len(systems) == 0 {
		return nil, nil, &results.InputError{File: dir, Err: fmt.Errorf("%w: no gpuperf result tree (run.json) and no published MLPerf results (%s) here", ErrNothingToImport, mlperflog.SummaryFile)}
	}
	return nil, systems, nil
}
