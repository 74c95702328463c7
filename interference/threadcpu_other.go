//go:build !linux

package interference

import "time"

// threadClock has no per-thread clock to read here: a duty cycle is then
// paced in wall time.
func threadClock() (time.Duration, bool) { return 0, false }

type procThread struct{}

func newProcThread() (procThread, bool)        { return procThread{}, false }
func (procThread) cpuSeconds() (float64, bool) { return 0, false }
