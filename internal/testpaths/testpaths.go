// Package testpaths finds, for tests, the module root and the published
// MLPerf results kept beside the checkout (../shared/testdata/mlperf):
// real summaries and system descriptions the tests read in place, never
// copied into the repository.
package testpaths

import (
	"os"
	"path/filepath"
	"testing"
)

// ModuleRoot returns the folder of the go.mod above the test's working
// directory.
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// MLPerf returns the published MLPerf results, the module root's
// ../shared/testdata/mlperf, or skips the test, saying where it looked,
// when they are not there.
func MLPerf(tb testing.TB) string {
	tb.Helper()
	p := filepath.Join(ModuleRoot(tb), "..", "shared", "testdata", "mlperf")
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("published MLPerf results not found at %s (%v): they live in the shared test data beside the checkout", p, err)
	}
	return p
}
