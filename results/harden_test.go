package results

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/results/mlperflog"
)

// writeManifest replaces a tree's run.json with raw JSON.
func writeRawManifest(t *testing.T, tree *Tree, js string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(tree.Root, "run.json"), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStoredTreePathsStayInside: a tree that names folders outside itself
// (a run's dir, a host) is refused, and importing from it writes nothing
// outside the new tree.
func TestStoredTreePathsStayInside(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "loot")
	if err := os.MkdirAll(secret, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secret, "result.json"), []byte(`{"metric":{"value":1}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := Create(t.TempDir(), "src")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(src.Root, secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, manifest, want string }{
		{"run folder outside", `{"schema":"gpuperf.run/v1","hosts":[{"name":"bm","role":"baseline"}],"runs":[{"host":"bm","role":"baseline","scenario":"Offline","status":"ok","dir":"` + rel + `"}]}`, "runs[0].dir"},
		{"absolute run folder", `{"schema":"gpuperf.run/v1","hosts":[{"name":"bm","role":"baseline"}],"runs":[{"host":"bm","role":"baseline","scenario":"Offline","status":"ok","dir":"` + secret + `"}]}`, "runs[0].dir"},
		{"host outside", `{"schema":"gpuperf.run/v1","hosts":[{"name":"../bm","role":"baseline"}],"runs":[]}`, "hosts[0].name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeRawManifest(t, src, tc.manifest)
			_, err := src.ReadManifest()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "run.json") {
				t.Fatalf("ReadManifest = %v; want an error naming run.json and %s", err, tc.want)
			}
		})
	}
	// The tree's own methods refuse such names too, whoever calls them.
	if _, err := src.ReadResult(rel); err == nil {
		t.Errorf("ReadResult(%q) read outside the tree", rel)
	}
	dst, err := Create(t.TempDir(), "dst")
	if err != nil {
		t.Fatal(err)
	}
	escape := filepath.Join("..", "..", filepath.Base(outside), "planted")
	if err := dst.ImportRun(src, escape); err == nil {
		t.Errorf("ImportRun(%q) accepted", escape)
	}
	if err := dst.ImportHost(src, "../../x"); err == nil {
		t.Error("ImportHost(../../x) accepted")
	}
	// A symbolic link inside the tree that points out of it is not
	// followed.
	link := filepath.Join(src.Root, "bm", "resnet50", "Offline", "performance", "run_1")
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	if _, err := src.ReadResult("bm/resnet50/Offline/performance/run_1"); err == nil {
		t.Error("ReadResult followed a link out of the tree")
	}
	if err := dst.ImportRun(src, "bm/resnet50/Offline/performance/run_1"); err == nil {
		t.Error("ImportRun followed a link out of the tree")
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 {
		t.Errorf("%d entries outside the trees; want only the planted loot: %v", len(entries), entries)
	}
}

// TestImportRunCopiesOnlyRunFiles: a run folder's other files stay behind.
func TestImportRunCopiesOnlyRunFiles(t *testing.T) {
	src, _ := Create(t.TempDir(), "src")
	rel := RunDir("bm", "resnet50", inference.Offline, 0)
	if err := src.WriteRun(rel, RunFiles{Result: []byte(`{}`), Summary: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src.Root, rel, "id_rsa"), []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	dst, _ := Create(t.TempDir(), "dst")
	if err := dst.ImportRun(src, rel); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dst.Root, rel))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "mlperf_log_summary.txt result.json" {
		t.Errorf("imported %v; want the run's own files only", names)
	}
}

// TestStrictNumbersInPublishedLogs: Go's number syntax, infinities and
// absurd magnitudes are errors naming the file and the line.
func TestStrictNumbersInPublishedLogs(t *testing.T) {
	for _, v := range []string{"0x1p10", "6_603.3", "inf", "NaN", "1e308", "1" + strings.Repeat("0", 300)} {
		t.Run(v, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "sys", "resnet50", "Offline")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			summary := "================================================\nMLPerf Results Summary\n================================================\n" +
				"SUT name : x\nScenario : Offline\nMode     : PerformanceOnly\nSamples per second: " + v + "\nResult is : VALID\n" +
				"  Min duration satisfied : Yes\n  Min queries satisfied : Yes\n  Early stopping satisfied: Yes\n\nNo warnings encountered during test.\n\nNo errors encountered during test.\n"
			path := filepath.Join(dir, mlperflog.SummaryFile)
			if err := os.WriteFile(path, []byte(summary), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadSource(filepath.Dir(filepath.Dir(dir)), RoleBaseline)
			var ie *InputError
			if !errors.As(err, &ie) || ie.File != path || ie.Line != 7 {
				t.Fatalf("ReadSource = %v; want an *InputError at %s:7", err, path)
			}
		})
	}
}

// TestStrictNumbersInResultJSON: a result.json headline of 1e308 is an
// error naming the file and the line, not a 300-digit retained share.
func TestStrictNumbersInResultJSON(t *testing.T) {
	tree, m := buildTree(t, "interleaved", nil, abba(inference.Offline, pairBase, pairCand, nil))
	path := filepath.Join(tree.Root, m.Runs[1].Dir, mlperflog.ResultFile)
	for _, tc := range []struct {
		name string
		edit func(string) string
		want string
	}{
		{"1e308", func(js string) string {
			return strings.Replace(js, `"samples_per_second": 960`, `"samples_per_second": 1e308`, 1)
		}, "number 1e308 is beyond"},
		{"300 digits", func(js string) string {
			return strings.Replace(js, `"samples_per_second": 960`, `"samples_per_second": 1`+strings.Repeat("0", 300), 1)
		}, "does not fit in 64 bits"},
		{"1e17", func(js string) string {
			return strings.Replace(js, `"samples_per_second": 960`, `"samples_per_second": 1e17`, 1)
		}, "samples_per_second 1e+17 is outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Indented, as the agent writes it, so the line means something.
			var indented bytes.Buffer
			if err := json.Indent(&indented, b, "", "  "); err != nil {
				t.Fatal(err)
			}
			edited := tc.edit(indented.String())
			if edited == indented.String() {
				t.Fatalf("the edit did not apply to %s", b)
			}
			if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(path, b, 0o644)
			_, err = Compare(&Tree{Root: tree.Root}, m, Options{})
			var ie *InputError
			if !errors.As(err, &ie) || ie.File != path || ie.Line < 2 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compare = %v; want an *InputError at a line of %s saying %q", err, path, tc.want)
			}
		})
	}
}

func TestCompareReadsEachResultOnceAndHonoursItsContext(t *testing.T) {
	tree, m := buildTree(t, "interleaved", nil, abba(inference.Offline, pairBase, pairCand, nil))
	if _, err := Compare(tree, m, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := tree.resultReads.Load(); got != int64(len(m.Runs)) {
		t.Errorf("%d result.json reads for %d runs; want each read once", got, len(m.Runs))
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := CompareContext(ctx, tree, m, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("CompareContext with a cancelled context = %v; want context.Canceled", err)
	}
	if _, err := ReadSourceContext(ctx, tree.Root, RoleBaseline); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadSourceContext with a cancelled context = %v; want context.Canceled", err)
	}
}

// TestStoredFilesAreCapped: a file past its size cap, or not a regular
// file (a FIFO would block the read forever), is refused without reading.
func TestStoredFilesAreCapped(t *testing.T) {
	tree, m := buildTree(t, "interleaved", nil, abba(inference.Offline, pairBase, pairCand, nil))
	path := filepath.Join(tree.Root, m.Runs[0].Dir, mlperflog.ResultFile)
	if err := os.Truncate(path, MaxResultBytes+1); err != nil {
		t.Fatal(err)
	}
	if _, err := (&Tree{Root: tree.Root}).ReadResult(m.Runs[0].Dir); err == nil || !strings.Contains(err.Error(), "more than the") {
		t.Errorf("a result.json of %d bytes: %v", MaxResultBytes+1, err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if _, err := (&Tree{Root: tree.Root}).ReadResult(m.Runs[0].Dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a FIFO result.json: %v", err)
	}
}
