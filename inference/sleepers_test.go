//go:build linux

package inference

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

//go:linkname entersyscallblock runtime.entersyscallblock
func entersyscallblock()

//go:linkname exitsyscall runtime.exitsyscall
func exitsyscall()

// nanosleepHandoff hands the thread's processor away before it blocks, as
// the runtime does for calls it knows block (gVisor does this too).
//
//go:nosplit
func nanosleepHandoff(ts *unix.Timespec) {
	entersyscallblock()
	unix.RawSyscall6(unix.SYS_CLOCK_NANOSLEEP, unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	exitsyscall()
}

// The ways a generator thread can sleep until an absolute monotonic instant,
// compared by BenchmarkSleepers and BenchmarkSleepersHandoff. Only one of
// them is the generator's (see waiter and sleeper); the others stay here so
// the choice can be measured again.
type sleeperKind struct {
	name   string
	locked bool // runs on a locked OS thread
	slack  int  // PR_SET_TIMERSLACK in ns; 0 leaves the thread's default
	open   func(b *testing.B) func(deadline int64)
}

var sleeperKinds = []sleeperKind{
	{name: "go-timer", open: func(*testing.B) func(int64) {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return func(deadline int64) {
			t.Reset(time.Duration(deadline - nanotime()))
			<-t.C
		}
	}},
	{name: "nanosleep", locked: true, open: openNanosleep},
	{name: "nanosleep-slack1", locked: true, slack: 1, open: openNanosleep},
	{name: "nanosleep-slack1-yield4ms", locked: true, slack: 1, open: func(*testing.B) func(int64) {
		// A yield every 4 ms keeps the runtime from retaking the thread's
		// processor after 10 ms in a system call.
		last := nanotime()
		return func(deadline int64) {
			if now := nanotime(); now-last >= int64(4*time.Millisecond) && deadline-now >= int64(300*time.Microsecond) {
				runtime.Gosched()
				last = nanotime()
			}
			sleepUntil(deadline)
		}
	}},
	{name: "nanosleep-slack1-yieldeach", locked: true, slack: 1, open: func(*testing.B) func(int64) {
		// A yield before every sleep lets what the last issue woke run
		// before the thread blocks with its processor.
		return func(deadline int64) {
			runtime.Gosched()
			sleepUntil(deadline)
		}
	}},
	{name: "nanosleep-slack1-yieldeach-unlocked", open: func(*testing.B) func(int64) {
		// Unlocked, the goroutine may move between threads, so each sleep
		// sets its thread's slack first.
		return func(deadline int64) {
			runtime.Gosched()
			unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_TIMERSLACK, 1, 0, 0, 0, 0)
			sleepUntil(deadline)
		}
	}},
	{name: "nanosleep-slack1-handoff", locked: true, slack: 1, open: func(*testing.B) func(int64) {
		return func(deadline int64) {
			ts := unix.NsecToTimespec(deadline)
			for nanotime() < deadline {
				nanosleepHandoff(&ts)
			}
		}
	}},
	{name: "timerfd-poller", open: func(b *testing.B) func(int64) {
		fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
		if err != nil {
			b.Skip(err)
		}
		f := os.NewFile(uintptr(fd), "timerfd")
		b.Cleanup(func() { f.Close() })
		var buf [8]byte
		return func(deadline int64) {
			its := unix.ItimerSpec{Value: unix.NsecToTimespec(deadline)}
			if err := unix.TimerfdSettime(fd, unix.TFD_TIMER_ABSTIME, &its, nil); err != nil {
				panic(err)
			}
			if _, err := f.Read(buf[:]); err != nil {
				panic(err)
			}
		}
	}},
	{name: "generator-timerfd-yieldeach-unlocked", open: func(b *testing.B) func(int64) {
		sl := openSleeper()
		b.Cleanup(sl.close)
		return func(deadline int64) {
			runtime.Gosched()
			sl.until(deadline)
		}
	}},
}

func openNanosleep(*testing.B) func(int64) { return sleepUntil }

func sleepUntil(deadline int64) {
	ts := unix.NsecToTimespec(deadline)
	for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil) == unix.EINTR {
	}
}

// BenchmarkSleepers plays a Server schedule (official seed) for
// GPUPERF_SLEEPERS_SECS seconds (default 3) with each way of sleeping
// until each arrival, without spinning. It reports how late each wake-up
// was (the issue delay a generator that never spins would have) and the
// CPU it took: the thread's own where it is locked, the process's
// (the Go runtime's threads included) always.
func BenchmarkSleepers(b *testing.B) {
	secs := 3.0
	if v, err := strconv.ParseFloat(os.Getenv("GPUPERF_SLEEPERS_SECS"), 64); err == nil && v > 0 {
		secs = v
	}
	for _, qps := range []float64{1500, 5000} {
		offsets := ServerSchedule(OfficialScheduleSeed, qps, time.Duration(secs*float64(time.Second)), 1)
		for _, k := range sleeperKinds {
			b.Run(fmt.Sprintf("qps=%g/%s", qps, k.name), func(b *testing.B) {
				for b.Loop() {
					playSleeper(b, k, offsets)
				}
			})
		}
	}
}

func playSleeper(b *testing.B, k sleeperKind, offsets []int64) {
	playSleeperWith(b, k, offsets, func() {})
}

func playSleeperWith(b *testing.B, k sleeperKind, offsets []int64, issue func()) {
	if k.locked {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	if k.slack > 0 {
		old, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
		if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(k.slack), 0, 0, 0); err != nil {
			b.Skip(err)
		}
		defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
	}
	sleep := k.open(b)
	var late histogram
	var ts0, ts1 unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts0)
	var ru0, ru1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	base := nanotime() + int64(time.Millisecond)
	sleeps := 0
	for _, off := range offsets {
		due := base + off
		if due > nanotime() {
			sleep(due)
			sleeps++
		}
		late.record(nanotime() - due)
		issue()
	}
	wall := nanotime() - base
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts1)
	unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	proc := (ru1.Utime.Nano() + ru1.Stime.Nano()) - (ru0.Utime.Nano() + ru0.Stime.Nano())
	if k.locked {
		b.ReportMetric(100*float64(ts1.Nano()-ts0.Nano())/float64(wall), "thread-cpu%")
	}
	b.ReportMetric(100*float64(proc)/float64(wall), "proc-cpu%")
	l := late.summary()
	b.ReportMetric(float64(l.P50Ns)/1e3, "late-p50-us")
	b.ReportMetric(float64(l.P99Ns)/1e3, "late-p99-us")
	b.ReportMetric(float64(sleeps)/float64(len(offsets)), "sleeps/arrival")
}

// BenchmarkSleepersHandoff is BenchmarkSleepers at 1,500 QPS with what a
// backend in the same process does: a goroutine woken by every arrival
// (IssueQuery handing work to a worker) while another goroutine keeps the
// other processor busy, yielding every 10 µs. It reports how long the
// woken goroutine waited to run: a sleeper that keeps its processor while
// it blocks strands the goroutines queued on it.
func BenchmarkSleepersHandoff(b *testing.B) {
	secs := 3.0
	if v, err := strconv.ParseFloat(os.Getenv("GPUPERF_SLEEPERS_SECS"), 64); err == nil && v > 0 {
		secs = v
	}
	offsets := ServerSchedule(OfficialScheduleSeed, 1500, time.Duration(secs*float64(time.Second)), 1)
	kinds := append([]sleeperKind{{name: "spin-always", open: func(*testing.B) func(int64) {
		return func(deadline int64) { waitUntil(deadline, nil) }
	}}}, sleeperKinds...)
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			for b.Loop() {
				var wg sync.WaitGroup
				stop := make(chan struct{})
				wg.Go(func() {
					last := nanotime()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if now := nanotime(); now-last > int64(10*time.Microsecond) {
							runtime.Gosched()
							last = now
						}
					}
				})
				sent := make(chan int64, 1024)
				var woke histogram
				wg.Go(func() {
					for t := range sent {
						woke.record(nanotime() - t)
					}
				})
				playSleeperWith(b, k, offsets, func() { sent <- nanotime() })
				close(stop)
				close(sent)
				wg.Wait()
				w := woke.summary()
				b.ReportMetric(float64(w.P50Ns)/1e3, "woken-p50-us")
				b.ReportMetric(float64(w.P99Ns)/1e3, "woken-p99-us")
				b.ReportMetric(float64(w.MaxNs)/1e3, "woken-max-us")
			}
		})
	}
}
