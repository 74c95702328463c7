package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/results"
	"github.com/gpuperf/gpuperf/results/mlperflog"
)

// TestFoldersStayInsideTheSide: a stored comparison's run folders are read
// only inside their side's folder, whatever report.json says.
func TestFoldersStayInsideTheSide(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, mlperflog.SummaryFile), []byte("Scenario : Offline\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	side := results.Side{Role: results.RoleBaseline, Path: t.TempDir(), Format: results.FormatGpuperf}
	rel, err := filepath.Rel(side.Path, outside)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{outside, rel} {
		_, err := Folders{}.Latency(side, results.Repetition{Dir: dir})
		if err == nil || !strings.Contains(err.Error(), "is not a folder inside") {
			t.Errorf("run folder %q: %v; want it refused", dir, err)
		}
	}
}
