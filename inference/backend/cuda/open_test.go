package cuda

import (
	"errors"
	"os"
	"testing"

	"github.com/gpuperf/gpuperf/inference/backend"
)

// TestOpenWithoutDriver: on a machine without the NVIDIA driver (this
// project's CI), Open fails with the one line a user must see, marked
// unavailable, and calling it again says the same (the load is tried once).
func TestOpenWithoutDriver(t *testing.T) {
	if _, err := os.Stat("/dev/nvidiactl"); err == nil {
		t.Skip("an NVIDIA driver is installed here")
	}
	d, err := Open()
	if err == nil {
		t.Skipf("libcuda.so.1 loaded (%T) without /dev/nvidiactl", d)
	}
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Open() = %v; want backend.ErrUnavailable", err)
	}
	if errors.Is(err, ErrNoDriver) {
		const want = "cuda: libcuda.so.1 not found: the NVIDIA driver is not installed in this guest"
		if err.Error() != want {
			t.Errorf("Open() = %q; want %q", err, want)
		}
	}
	if _, again := Open(); again == nil || again.Error() != err.Error() {
		t.Errorf("Open() again = %v; want %v", again, err)
	}
}
