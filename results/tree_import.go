package results

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gpuperf/gpuperf/internal/atomicfile"
)

// ImportHostAs copies host's host.json (and hypervisor.json, when it has
// one) from src into t under the name as: an earlier run of a machine the
// plan measures again keeps its own folder.
func (t *Tree) ImportHostAs(src *Tree, host, as string) error {
	if host == as {
		return t.ImportHost(src, host)
	}
	b, err := os.ReadFile(filepath.Join(src.Root, host, HostFile))
	if err != nil {
		return fmt.Errorf("read host %s: %w", host, err)
	}
	if err := t.WriteHost(as, b); err != nil {
		return err
	}
	b, err = os.ReadFile(filepath.Join(src.Root, host, HypervisorFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("read host %s's hypervisor: %w", host, err)
	}
	return t.WriteHypervisor(as, b)
}

// ImportRunAs copies the files of src's run folder rel to the folder as
// in t, each atomically.
func (t *Tree) ImportRunAs(src *Tree, rel, as string) error {
	if rel == "" || as == "" {
		return errors.New("run has no folder")
	}
	entries, err := os.ReadDir(filepath.Join(src.Root, rel))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src.Root, rel, e.Name()))
		if err != nil {
			return err
		}
		if err := atomicfile.Write(filepath.Join(t.Root, as), e.Name(), b); err != nil {
			return fmt.Errorf("store %s: %w", filepath.Join(as, e.Name()), err)
		}
	}
	return nil
}
