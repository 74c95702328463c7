package mlperflog

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
)

func TestWriteRunDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runs", "offline")
	r := offlineResult()
	r.Warnings = []string{"a warning"}
	for range 2 { // the second write replaces the first
		if err := WriteRunDir(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o644 {
			t.Errorf("%s mode %v", e.Name(), info.Mode().Perm())
		}
	}
	if want := []string{"mlperf_log_detail.txt", "mlperf_log_summary.txt", "result.json"}; !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v (no temporary files)", names, want)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("dir mode: %v %v", info.Mode().Perm(), err)
	}

	js, err := os.ReadFile(filepath.Join(dir, ResultFile))
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(js) || !bytes.HasSuffix(js, []byte("}\n")) {
		t.Fatalf("result.json is not JSON with a trailing newline:\n%s", js)
	}
	want, _ := json.MarshalIndent(r, "", "  ")
	if !bytes.Equal(js, append(want, '\n')) {
		t.Error("result.json is not MarshalIndent(r, \"\", \"  \")")
	}
	var back inference.Result
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.SamplesPerSecond != r.SamplesPerSecond || back.Effective.Scenario != inference.Offline || back.Warnings[0] != "a warning" {
		t.Errorf("result.json round trip lost data: %+v", back)
	}

	var sum, det bytes.Buffer
	_ = WriteSummary(&sum, r)
	_ = WriteDetail(&det, r)
	for name, want := range map[string][]byte{SummaryFile: sum.Bytes(), DetailFile: det.Bytes()} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the writer's output", name)
		}
	}
}

func TestWriteRunDirErrors(t *testing.T) {
	if err := WriteRunDir(t.TempDir(), nil); err == nil {
		t.Error("nil result accepted")
	}
	// A file where the directory should be.
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteRunDir(f, offlineResult()); err == nil {
		t.Error("WriteRunDir into a file succeeded")
	}
	// A directory in the way of a result file: the write fails and leaves
	// no temporary file behind.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, DetailFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, DetailFile, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteRunDir(dir, offlineResult()); err == nil {
		t.Error("rename over a non-empty directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != DetailFile && e.Name() != SummaryFile {
			t.Errorf("left behind %s", e.Name())
		}
	}
	if WriteSummary(&bytes.Buffer{}, nil) == nil || WriteDetail(&bytes.Buffer{}, nil) == nil {
		t.Error("nil result accepted")
	}
}
