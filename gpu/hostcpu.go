package gpu

import "github.com/gpuperf/gpuperf/internal/procstat"

type cpuTimes = procstat.CPU

// shareOf is field f's share of all CPU ticks over the window, in percent.
func shareOf(w *window, f func(cpuTimes) uint64) (float64, bool) {
	return procstat.Share(w.cpu0, w.cpu1, f)
}
