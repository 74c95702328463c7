package results

import (
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gpuperf/gpuperf/results/mlperflog"
)

// SourceRun is one run of a Source as read, before any comparison: what
// the run history records of a side on its own.
type SourceRun struct {
	Benchmark string
	Scenario  string
	// Metric is the run's headline; HasMetric is false when the run has
	// none (it failed, or its peak search was not confirmed).
	Metric    Metric
	HasMetric bool
	// Rep holds the run's value (RawValue), host, folder and validity.
	Rep Repetition
}

// Runs returns the source's runs in the order they were read.
func (s *Source) Runs() []SourceRun {
	out := make([]SourceRun, 0, len(s.runs))
	for _, r := range s.runs {
		out = append(out, SourceRun{Benchmark: r.Benchmark, Scenario: r.Scenario, Metric: r.Metric, HasMetric: r.ok, Rep: r.Rep})
	}
	return out
}

// PublishedSystems lists the published MLPerf systems under root: every
// <system> folder holding <benchmark>/<Scenario>/[performance/run_<k>/]
// mlperf_log_summary.txt, as ReadSource reads them one at a time.
func PublishedSystems(root string) ([]string, error) {
	seen := map[string]bool{}
	// A root that is a symbolic link is walked where it points, and the
	// systems are named under the root as given.
	walkRoot := root
	if real, err := filepath.EvalSymlinks(root); err == nil {
		walkRoot = real
	}
	err := filepath.WalkDir(walkRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, rerr := filepath.Rel(walkRoot, p); rerr == nil {
			p = filepath.Join(root, rel)
		}
		if d.IsDir() && p != filepath.Clean(root) && (skipDirs[d.Name()] || strings.HasPrefix(d.Name(), "TEST")) {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != mlperflog.SummaryFile {
			return nil
		}
		dir := filepath.Dir(p)
		scenDir := dir
		if runDirRE.MatchString(filepath.Base(dir)) && filepath.Base(filepath.Dir(dir)) == "performance" {
			scenDir = filepath.Dir(filepath.Dir(dir))
		}
		if knownScenarios[filepath.Base(scenDir)] {
			seen[filepath.Dir(filepath.Dir(scenDir))] = true
		}
		return nil
	})
	if err != nil {
		return nil, &InputError{File: root, Err: err}
	}
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	slices.Sort(out)
	return out, nil
}
