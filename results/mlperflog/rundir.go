package mlperflog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/internal/atomicfile"
)

// File names in a run directory.
const (
	SummaryFile = "mlperf_log_summary.txt"
	DetailFile  = "mlperf_log_detail.txt"
	ResultFile  = "result.json"
)

// WriteRunDir writes mlperf_log_summary.txt, mlperf_log_detail.txt and
// result.json (json.MarshalIndent of r, 2 spaces, trailing newline) into dir,
// creating dir (0o755) if needed. Each file is written to a temporary file
// in dir, synced and renamed over its final name, so a reader never sees a
// partial file. Everything is rendered before anything is written.
func WriteRunDir(dir string, r *inference.Result) error {
	if r == nil {
		return errors.New("mlperflog: nil result")
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("mlperflog: encoding %s: %w", ResultFile, err)
	}
	files := []struct {
		name string
		data []byte
	}{
		{SummaryFile, []byte(renderSummary(r))},
		{DetailFile, []byte(renderDetail(r, os.Getpid()))},
		{ResultFile, append(js, '\n')},
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mlperflog: %w", err)
	}
	for _, f := range files {
		if err := atomicfile.Write(dir, f.name, f.data); err != nil {
			return fmt.Errorf("mlperflog: writing %s: %w", filepath.Join(dir, f.name), err)
		}
	}
	return nil
}
