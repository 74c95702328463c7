//go:build !linux

package inference

import "time"

// sleeper sleeps on a Go timer where timer fds do not exist: it may wake
// a millisecond late, which auto's margin then absorbs.
type sleeper struct{ name string }

func openSleeper() sleeper { return sleeper{name: "Go timer"} }

func (sleeper) until(t int64) {
	if d := t - nanotime(); d > 0 {
		time.Sleep(time.Duration(d))
	}
}

func (sleeper) close() {}

func threadTime() (tid int, cpu int64, ok bool) { return 0, 0, false }
