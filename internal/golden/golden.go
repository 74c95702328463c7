// Package golden compares test output with files under testdata, and
// rewrites them when the test binary runs with -update.
package golden

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// update is registered in every test binary that imports this package,
// and only there.
var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// Check compares got with testdata/name. Under -update it writes got there
// first, so the comparison passes and the diff shows in version control.
func Check(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (check the change, then run go test -update):\n%s", path, Diff(want, got))
	}
}

// Diff shows where want and got first part: the line and column, and
// the text around that point on both sides (a long line, an SVG's or a
// JSON document's, is cut to the part that differs).
func Diff(want, got []byte) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	if i == len(want) && i == len(got) {
		return "(no difference)"
	}
	line := 1 + bytes.Count(want[:i], []byte("\n"))
	col := i - (bytes.LastIndexByte(want[:i], '\n') + 1)
	return fmt.Sprintf("line %d, column %d:\nwant: %s\ngot:  %s", line, col+1, around(want, i), around(got, i))
}

// around quotes b's line at offset i, cut to 120 bytes either side of it.
func around(b []byte, i int) string {
	const keep = 120
	start := bytes.LastIndexByte(b[:min(i, len(b))], '\n') + 1
	end := len(b)
	if j := bytes.IndexByte(b[min(i, len(b)):], '\n'); j >= 0 {
		end = min(i, len(b)) + j
	}
	pre, post := "", ""
	if i-start > keep {
		start, pre = i-keep, "…"
	}
	if end-i > keep {
		end, post = i+keep, "…"
	}
	return fmt.Sprintf("%s%q%s", pre, b[start:end], post)
}
