package interference

import (
	"os"
	"time"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// threadClock is the calling thread's CPU time, from the kernel's
// per-thread clock: precise, for pacing a duty cycle.
func threadClock() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

// procThread reads the calling thread's CPU time (user plus system) from
// /proc/self/task/<tid>/stat, as top and ps see it. The caller must have
// locked its OS thread.
type procThread struct {
	fs  procfs.FS
	tid int
}

func newProcThread() (procThread, bool) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return procThread{}, false
	}
	return procThread{fs: fs, tid: unix.Gettid()}, true
}

func (p procThread) cpuSeconds() (float64, bool) {
	t, err := p.fs.Thread(os.Getpid(), p.tid)
	if err != nil {
		return 0, false
	}
	st, err := t.Stat()
	if err != nil {
		return 0, false
	}
	return st.CPUTime(), true
}
