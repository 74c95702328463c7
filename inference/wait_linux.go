package inference

import "golang.org/x/sys/unix"

// sleeperName says how auto and never sleep on Linux (WaitHealth.Sleeper).
const sleeperName = "clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), locked thread, timer slack 1 ns"

// sleepUntil blocks the calling thread until the monotonic instant t: the
// runtime's nanotime is CLOCK_MONOTONIC, so an absolute sleep on that
// clock wakes after exactly t, never before, whatever preempted the
// thread on the way in. A Go timer would wake up to a millisecond late
// (the runtime's poller rounds its timeout to milliseconds).
func sleepUntil(t int64) {
	ts := unix.NsecToTimespec(t)
	for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil) == unix.EINTR {
	}
}

// tightenTimerSlack sets the calling thread's timer slack to 1 ns and
// returns the previous value, or -1 when it could not. Linux lets a
// sleeping thread's timer fire up to its slack late (50 µs by default) to
// batch wake-ups; the generator wants its instant.
func tightenTimerSlack() int {
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return -1
	}
	if unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0) != nil {
		return -1
	}
	return old
}

func restoreTimerSlack(old int) {
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
}

// threadCPU is the calling thread's CPU time in ns.
func threadCPU() (int64, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return ts.Nano(), true
}
