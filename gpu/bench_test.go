//go:build linux && cgo

package gpu

import (
	"fmt"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/gpu/gputest"
)

// BenchmarkSamplerTick is the sampler's cost per tick on go-nvml's mock
// (every device read, XID events drained, /proc/stat read for steal), and
// what that costs at 10 Hz as a share of one core (target: under 0.5%).
// The mock's calls cost far less than the driver's ioctls, so on a real
// GPU the NVML part is larger: scripts/gpu-check.sh measures that.
func BenchmarkSamplerTick(b *testing.B) {
	for _, gpus := range []int{0, 1, 8} {
		b.Run(fmt.Sprintf("gpus=%d", gpus), func(b *testing.B) {
			var n *NVML
			if gpus == 0 {
				n = unavailable("NVML library not found", nil)
			} else {
				r := gputest.NewRig(b, gpus)
				n = OpenLibrary(r.Server, Options{})
				defer n.Close()
			}
			s := n.NewSampler(SamplerConfig{})
			s.mu.Lock()
			defer s.mu.Unlock()
			s.begin(0)
			b.ReportAllocs()
			i := int64(0)
			for b.Loop() {
				i++
				if i%10_000 == 0 {
					s.begin(i) // bound the series' memory
				}
				s.sample(i * int64(100*time.Millisecond))
			}
			perTick := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(perTick*10/1e9*100, "%core@10Hz")
		})
	}
}

// BenchmarkSamplerWindow10Hz runs the real sampler goroutine at 10 Hz for
// two seconds per iteration on an 8-GPU mock and reports the CPU time of
// its thread (ticker wake-ups included) as a share of one core.
func BenchmarkSamplerWindow10Hz(b *testing.B) {
	r := gputest.NewRig(b, 8)
	n := OpenLibrary(r.Server, Options{})
	defer n.Close()
	s := n.NewSampler(SamplerConfig{Interval: 100 * time.Millisecond})
	var pct, ticks float64
	runs := 0
	for b.Loop() {
		origin := time.Now()
		s.Window(true, 0)
		time.Sleep(2 * time.Second)
		s.Window(false, int64(time.Since(origin)))
		sum := s.Summary()
		pct += sum.Sampler.CorePct
		ticks += float64(sum.Ticks)
		runs++
	}
	b.ReportMetric(pct/float64(runs), "%core")
	b.ReportMetric(ticks/float64(runs), "ticks/window")
}
