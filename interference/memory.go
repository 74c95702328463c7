package interference

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// copyChunk is how much one copy call moves between looks at the clock
// and the stop signal.
const copyChunk = 1 << 20

// startMemory starts one copying thread per core, each over its share of
// the buffer: the source half streamed into the destination half, again
// and again. With the buffer larger than the last-level cache every pass
// goes to memory. The pages are touched before the load counts, so page
// faults are not mistaken for bandwidth.
func startMemory(l *Load) (func(*Report, time.Duration), error) {
	per := (l.spec.BufferMB << 20) / l.spec.Cores
	half := max(per/2/copyChunk, 1) * copyChunk
	var moved atomic.Uint64
	bufs := make([][]byte, l.spec.Cores)
	for i := range bufs {
		bufs[i] = make([]byte, 2*half)
		fill(bufs[i])
	}
	for _, buf := range bufs {
		l.wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			pt, procOK := newProcThread()
			var cpu0 float64
			if procOK {
				cpu0, procOK = pt.cpuSeconds()
			}
			src, dst := buf[:half], buf[half:]
			pace := newPacer(l.spec.RateMBps, l.spec.Cores)
			var mine uint64
		loop:
			for {
				for off := 0; off < half; off += copyChunk {
					copy(dst[off:off+copyChunk], src[off:off+copyChunk])
					// A copy reads and writes every byte.
					mine += 2 * copyChunk
					moved.Add(2 * copyChunk)
					if !pace.wait(l.ctx, mine) {
						break loop
					}
				}
				src, dst = dst, src
			}
			if procOK {
				if cpu1, ok := pt.cpuSeconds(); ok {
					l.addCPU(cpu1 - cpu0)
				}
			}
		})
	}
	return func(r *Report, d time.Duration) {
		r.Unit = "GB/s"
		r.Target = l.spec.RateMBps / 1e3
		r.Achieved = float64(moved.Load()) / 1e9 / d.Seconds()
		r.Counters["bytes"] = float64(moved.Load())
		r.Counters["buffer_bytes"] = float64(2 * half * l.spec.Cores)
		if llc := lastLevelCache(); llc > 0 {
			r.Counters["llc_bytes"] = float64(llc)
		}
	}, nil
}

// fill writes a pattern over b, touching every page: a short pattern
// copied over itself in doubling lengths (fast even under the race
// detector, which checks each byte a loop writes).
func fill(b []byte) {
	n := min(len(b), 4096)
	for i := range n {
		b[i] = byte(i * 31)
	}
	for n < len(b) {
		n += copy(b[n:], b[:n])
	}
}

// defaultBufferMB is four times the last-level cache, at least
// minBufferMB, so that the copy misses the cache on every host.
func defaultBufferMB() int {
	return max(minBufferMB, int(4*lastLevelCache()>>20))
}

// lastLevelCache is the size in bytes of the largest cache level sysfs
// lists for CPU 0, or 0 when it lists none.
func lastLevelCache() int64 {
	dirs, _ := filepath.Glob("/sys/devices/system/cpu/cpu0/cache/index*")
	var best, bestLevel int64
	for _, d := range dirs {
		lv, err1 := readInt(filepath.Join(d, "level"))
		size, err2 := readSize(filepath.Join(d, "size"))
		if err1 != nil || err2 != nil {
			continue
		}
		if lv > bestLevel || (lv == bestLevel && size > best) {
			best, bestLevel = size, lv
		}
	}
	return best
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// readSize reads a sysfs cache size such as "32768K".
func readSize(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}
