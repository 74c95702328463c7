package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gpuperf/gpuperf/internal/golden"
	"github.com/gpuperf/gpuperf/results"
)

// TestWriteTableFromComparisons prints the comparisons package results
// pins in its own golden files (a gpuperf tree: a paired Offline
// regression under the gate, a fixed-QPS Server latency ratio, a
// SingleStream refused for its query counts; and a published pair per
// GPU), so the table is checked on what results really computes.
func TestWriteTableFromComparisons(t *testing.T) {
	for _, name := range []string{"tree", "published"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("..", "testdata", name+".comparison.json")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var c results.Comparison
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			var out bytes.Buffer
			if err := WriteWideTable(&out, &c); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "table_"+name+".golden", out.Bytes())
			// The compact table: every line within 100 columns.
			out.Reset()
			if err := WriteTable(&out, &c); err != nil {
				t.Fatal(err)
			}
			for i, l := range strings.Split(out.String(), "\n") {
				if n := utf8.RuneCountInString(l); n > compactWidth {
					t.Errorf("compact line %d is %d columns: %q", i+1, n, l)
				}
			}
			golden.Check(t, "table_"+name+"_compact.golden", out.Bytes())
			// On an 80-column terminal: the same within 80.
			out.Reset()
			if err := Write(&out, Table, &c, Options{Width: 80}); err != nil {
				t.Fatal(err)
			}
			for i, l := range strings.Split(out.String(), "\n") {
				if n := utf8.RuneCountInString(l); n > 80 {
					t.Errorf("80-column line %d is %d columns: %q", i+1, n, l)
				}
			}
		})
	}
}
