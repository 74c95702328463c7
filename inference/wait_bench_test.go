package inference

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/internal/procstat"
)

// BenchmarkWaiter plays a Server schedule (official seed) for
// GPUPERF_WAIT_SECS seconds (default 3) through the generator's waiter
// under each policy and under variants of auto's tuning (the margin's
// quantile of the recent overshoots, and the spin budget), issuing
// nothing. It reports the issue delay, the waiting thread's CPU and the
// process's, so the tuning is chosen with figures (BENCHMARKS.md).
func BenchmarkWaiter(b *testing.B) {
	secs := 3.0
	if v, err := strconv.ParseFloat(os.Getenv("GPUPERF_WAIT_SECS"), 64); err == nil && v > 0 {
		secs = v
	}
	variants := []struct {
		name             string
		policy           SpinPolicy
		quantile, budget float64
	}{
		{"never", SpinNever, 0, 0},
		{"auto-q90-b1", SpinAuto, 0.9, 0.01},
		{"auto-q90-b2", SpinAuto, 0.9, 0.02},
		{"auto-q90-b3", SpinAuto, 0.9, 0.03},
		{"auto-q90-b5", SpinAuto, 0.9, 0.05},
		{"auto-q99-b2", SpinAuto, 0.99, 0.02},
		{"always", SpinAlways, 0, 0},
	}
	for _, qps := range []float64{1500, 5000} {
		offsets := ServerSchedule(OfficialScheduleSeed, qps, time.Duration(secs*float64(time.Second)), 1)
		for _, v := range variants {
			b.Run(fmt.Sprintf("qps=%g/%s", qps, v.name), func(b *testing.B) {
				for b.Loop() {
					w := newWaiter(v.policy, qps)
					if v.policy == SpinAuto {
						w.quantile, w.budget = v.quantile, v.budget
					}
					playWaiter(b, w, offsets)
				}
			})
		}
	}
}

func playWaiter(b *testing.B, w *waiter, offsets []int64) {
	var late histogram
	self0, _ := procstat.ReadSelf()
	w.begin()
	base := nanotime()
	for _, off := range offsets {
		due := base + off
		if nanotime() < due {
			w.wait(due, nil, false)
		}
		late.record(nanotime() - due)
	}
	wall := nanotime() - base
	w.end()
	self1, _ := procstat.ReadSelf()
	h := w.health()
	l := late.summary()
	b.ReportMetric(100*float64(self1.Sub(self0))/float64(wall), "proc-cpu%")
	if h.ThreadCPUPct >= 0 {
		b.ReportMetric(h.ThreadCPUPct, "thread-cpu%")
	}
	b.ReportMetric(100*float64(h.SpinNs)/float64(wall), "spin%")
	b.ReportMetric(float64(l.P50Ns)/1e3, "late-p50-us")
	b.ReportMetric(float64(l.P99Ns)/1e3, "late-p99-us")
	b.ReportMetric(float64(h.MarginNs)/1e3, "margin-us")
	b.ReportMetric(float64(h.MinSleepNs)/1e3, "minsleep-us")
	b.ReportMetric(float64(h.Sleeps)/float64(len(offsets)), "sleeps/arrival")
}
