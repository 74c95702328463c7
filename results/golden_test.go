package results

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/internal/golden"
)

// TestCompareTreeGolden pins a gpuperf tree's comparison: a paired Offline
// regression under the gate, a fixed-QPS Server latency ratio, and a
// SingleStream refused for its query counts.
func TestCompareTreeGolden(t *testing.T) {
	runs := abba(inference.Offline, pairBase, pairCand, nil)
	runs = append(runs, abba(inference.Server, []float64{5.0e6, 5.2e6, 4.9e6, 5.1e6}, []float64{5.5e6, 5.6e6, 5.4e6, 5.45e6}, nil)...)
	runs = append(runs, abba(inference.SingleStream, []float64{1.2e6, 1.21e6, 1.19e6, 1.2e6}, []float64{1.3e6, 1.31e6, 1.29e6, 1.3e6}, func(r *run) {
		if r.role == RoleCandidate {
			r.queries = 1100
		}
	})...)
	c := compareTree(t, "interleaved", nil, runs, Options{Gate: GateRegression, MinRetainedPct: 97, MinRetainedFrom: "plan"})
	golden.Check(t, "tree.comparison.json", comparisonJSON(t, c, ""))
}

// TestComparePublishedGolden pins a published pair per GPU: one run per
// side, point values only.
func TestComparePublishedGolden(t *testing.T) {
	d := mlperfDir(t)
	c := comparePublished(t, filepath.Join(d, "v4.0/Dell/R760xa_L40Sx4_TRT"), filepath.Join(d, "v4.0/Dell/vR760_L40S_48Cx2_TRT"), Options{PerGPU: true, Gate: GateQualify})
	golden.Check(t, "published.comparison.json", comparisonJSON(t, c, d))
}

// comparisonJSON is c as gpuperf compare writes it, less what changes
// from one test run or checkout to the next: the time, the temporary
// folders, and where the published results are (root, written as
// "<mlperf>").
func comparisonJSON(t *testing.T, c *Comparison, root string) []byte {
	t.Helper()
	c.CreatedAt = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	for _, s := range []*Side{&c.Baseline, &c.Candidate} {
		s.Path = filepath.Base(s.Path)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if root != "" {
		b = bytes.ReplaceAll(b, []byte(root), []byte("<mlperf>"))
	}
	return append(b, '\n')
}
