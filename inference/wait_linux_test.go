package inference

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestTimerSlackRestored: auto tightens its thread's timer slack to 1 ns
// for the run and gives the thread back as it found it.
func TestTimerSlackRestored(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Skip(err)
	}
	w := newWaiter(SpinAuto, 1000)
	w.begin()
	during, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	w.end(1)
	after, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if during != 1 || after != before {
		t.Fatalf("timer slack %d before, %d during, %d after; want 1 during and the same after", before, during, after)
	}
}
