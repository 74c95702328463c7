package mlperflog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gpuperf/gpuperf/inference"
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
		{DetailFile, []byte(renderDetail(r))},
		{ResultFile, append(js, '\n')},
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mlperflog: %w", err)
	}
	for _, f := range files {
		if err := writeAtomic(dir, f.name, f.data); err != nil {
			return fmt.Errorf("mlperflog: writing %s: %w", filepath.Join(dir, f.name), err)
		}
	}
	syncDir(dir)
	return nil
}

// writeAtomic writes data to dir/name through a synced temporary file.
func writeAtomic(dir, name string, data []byte) (err error) {
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmpName)
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmpName, filepath.Join(dir, name))
}

// syncDir makes the renames durable, best effort: not every filesystem can
// sync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
