//go:build !linux

package inference

import "time"

// sleeperName says how auto and never sleep where clock_nanosleep is not
// used: a Go timer, which may wake a millisecond late.
const sleeperName = "Go timer"

func sleepUntil(t int64) {
	if d := t - nanotime(); d > 0 {
		time.Sleep(time.Duration(d))
	}
}

func tightenTimerSlack() int   { return -1 }
func restoreTimerSlack(int)    {}
func threadCPU() (int64, bool) { return 0, false }
