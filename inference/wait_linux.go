package inference

import "golang.org/x/sys/unix"

// sleeper blocks the calling thread until an absolute instant on the
// monotonic clock (the runtime's nanotime is CLOCK_MONOTONIC, so it wakes
// after exactly that instant, never before). A timer fd has no timer
// slack, which a sleep would otherwise get (50 µs by default, per thread:
// PR_SET_TIMERSLACK would have to follow the goroutine from thread to
// thread), and a Go timer wakes up to a millisecond late (the runtime's
// poller rounds its timeout to milliseconds). Without a timer fd it falls
// back on clock_nanosleep with TIMER_ABSTIME.
type sleeper struct {
	fd   int
	name string
	buf  [8]byte // the timer fd's expiration count, read and dropped
}

func openSleeper() sleeper {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		return sleeper{fd: -1, name: "clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) (no timer fd: " + err.Error() + ")"}
	}
	return sleeper{fd: fd, name: "timerfd (CLOCK_MONOTONIC, absolute), blocking read"}
}

func (s *sleeper) until(t int64) {
	ts := unix.NsecToTimespec(t)
	if s.fd < 0 {
		for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil) == unix.EINTR {
		}
		return
	}
	its := unix.ItimerSpec{Value: ts}
	if unix.TimerfdSettime(s.fd, unix.TFD_TIMER_ABSTIME, &its, nil) != nil {
		for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil) == unix.EINTR {
		}
		return
	}
	for {
		if _, err := unix.Read(s.fd, s.buf[:]); err != unix.EINTR {
			return
		}
	}
}

func (s *sleeper) close() {
	if s.fd >= 0 {
		unix.Close(s.fd)
	}
}

// threadTime is the calling thread's id and CPU time in ns.
func threadTime() (tid int, cpu int64, ok bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, 0, false
	}
	return unix.Gettid(), ts.Nano(), true
}
