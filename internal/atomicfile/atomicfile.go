// Package atomicfile writes files so that a reader sees either the old
// content or the whole new content, never a partial file: every result
// gpuperf stores survives an interrupted run.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write writes data to dir/name through a synced temporary file in dir that
// is renamed over the final name. It creates dir (0o755) when missing.
func Write(dir, name string, data []byte) (err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
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
	if err = os.Rename(tmpName, filepath.Join(dir, name)); err != nil {
		return err
	}
	SyncDir(dir)
	return nil
}

// SyncDir makes renames in dir durable, best effort: not every filesystem
// can sync a directory.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
