package interference

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// startDisk writes blocks to a new file in dir, each followed by fsync, so
// that every write reaches the device (a page-cache write would not load
// it); past FileMB it writes from the start again. The file is removed
// when the load stops.
func startDisk(l *Load, dir string) (func(*Report, time.Duration), error) {
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "gpuperf-neighbour-*.dat")
	if err != nil {
		return nil, fmt.Errorf("create the file it writes: %w", err)
	}
	path := f.Name()
	block := make([]byte, l.spec.BlockKB<<10)
	// Data that neither compresses nor deduplicates.
	x := uint64(0x9e3779b97f4a7c15)
	for i := range block {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		block[i] = byte(x)
	}
	size := int64(l.spec.FileMB) << 20
	var written, syncs atomic.Uint64
	var syncNs atomic.Int64
	l.wg.Go(func() {
		defer func() {
			f.Close()
			os.Remove(path)
		}()
		pace := newPacer(l.spec.RateMBps, 1)
		var off int64
		for l.ctx.Err() == nil {
			if off+int64(len(block)) > size {
				off = 0
			}
			if _, err := f.WriteAt(block, off); err != nil {
				l.fail(fmt.Errorf("write %s: %w", path, err))
				return
			}
			t := time.Now()
			if err := f.Sync(); err != nil {
				l.fail(fmt.Errorf("fsync %s: %w", path, err))
				return
			}
			syncNs.Add(int64(time.Since(t)))
			syncs.Add(1)
			off += int64(len(block))
			if !pace.wait(l.ctx, written.Add(uint64(len(block)))) {
				return
			}
		}
	})
	return func(r *Report, d time.Duration) {
		r.Unit = "MB/s"
		r.Target = l.spec.RateMBps
		r.Achieved = float64(written.Load()) / 1e6 / d.Seconds()
		r.Counters["bytes"] = float64(written.Load())
		r.Counters["fsyncs"] = float64(syncs.Load())
		if n := syncs.Load(); n > 0 {
			r.Counters["fsync_mean_ms"] = float64(syncNs.Load()) / float64(n) / 1e6
		}
	}, nil
}
