package coordinator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/internal/testpaths"
)

// FuzzParsePlan parses and validates arbitrary plan files: an error or a
// plan, never a panic, and quickly whatever the nesting (the size and
// depth caps come before the YAML parser).
func FuzzParsePlan(f *testing.F) {
	for _, name := range []string{"default.yaml", "nightly-regression.yaml", "passthrough-vs-baremetal.yaml", "vgpu-vs-baremetal.yaml"} {
		b, err := os.ReadFile(filepath.Join(testpaths.ModuleRoot(f), "configs", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "plans", "issue-sample.yaml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("version: v1\nrepetitions: 2000000000\n"))
	f.Add([]byte("version: v1\nworkload:\n  settings: {min_query_count: 18446744073709551615, offline_expected_qps: .nan}\n"))
	f.Add([]byte("x: " + strings.Repeat("[", 80) + strings.Repeat("]", 80)))
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		p, err := ParsePlan("fuzz/plan.yaml", data)
		if err == nil {
			_ = p.Validate()
			_ = p.Warnings()
		}
		// A loaded host runs fuzzing slowly; minutes would be the bug.
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("%d bytes took %s", len(data), d)
		}
	})
}
