package inference

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Warm-up bounds: a closed loop with at most warmupWindow samples in
// flight, and no more than warmupCap samples in all so its memory stays
// small however fast the backend is. A slow device gets fewer in flight
// (see warmupAllowed) so the warm-up does not overrun its time by the
// minutes a full window would take to drain.
const (
	warmupWindow = 1024
	warmupChunk  = 64
	warmupCap    = 1 << 20
)

// warmup drives the backend untimed for d, shaped like the scenario: a
// closed loop of one query at a time for SingleStream and MultiStream, a
// window of outstanding samples for Offline and Server. It measures what a
// hint needs: the sustained rate and the mean query latency. Its samples
// come from their own RNG so the timed run's sequence is unchanged.
func warmup(ctx context.Context, b Backend, rec *Recorder, e EffectiveSettings, set []uint32, d time.Duration, guard drainGuard) (Warmup, error) {
	spq := int(e.SamplesPerQuery)
	stream := e.Scenario == SingleStream || e.Scenario == MultiStream
	if !stream {
		spq = warmupChunk
	}
	maxQueries := warmupCap / spq
	p := newPhase(1, maxQueries, spq, e.UseTokenLatencies, nil)
	rec.cur.Store(p)
	defer rec.cur.Store(nil)

	r := rand.New(rand.NewPCG(e.SampleIndexRNGSeed, 1))
	setSize := len(set) - max(spq-1, 0)
	if !stream || setSize <= 0 {
		setSize = len(set)
	}
	samples := make([]Sample, spq)
	base := nanotime()
	p.base.Store(base)
	deadline := base + int64(d)
	var q int
	var latSum int64
	for q < maxQueries && nanotime() < deadline && ctx.Err() == nil {
		start := r.IntN(setSize)
		for j := range samples {
			samples[j] = Sample{ID: p.id(q*spq + j), Index: set[(start+j)%len(set)]}
		}
		if stream {
			now := nanotime()
			p.origin[q] = now - base
			p.queryLeft.Store(int64(spq))
			b.IssueQuery(samples)
			if end := guard.wait(ctx, p.queryDone, &p.completed, false); end == stalled || end == overLimit {
				return Warmup{}, fmt.Errorf("a query did not complete: %s", guard.describe(end))
			}
			latSum += p.queryLatency(uint64(q))
			q++
			continue
		}
		// A chunk goes out only when all of it fits under the bound.
		for uint64(q*spq)-p.completed.Load()+uint64(spq) > warmupAllowed(p.completed.Load(), nanotime()-base, d) && nanotime() < deadline {
			time.Sleep(100 * time.Microsecond)
		}
		p.origin[q] = nanotime() - base
		b.IssueQuery(samples)
		q++
	}
	b.FlushQueries()
	p.issuedAll(uint64(q * spq))
	switch end := guard.wait(ctx, p.allDone, &p.completed, false); end {
	case cancelled:
		return Warmup{}, ctx.Err()
	case stalled, overLimit:
		return Warmup{}, fmt.Errorf("%d of %d samples did not complete: %s", uint64(q*spq)-p.completed.Load(), q*spq, guard.describe(end))
	}
	elapsed := nanotime() - base
	w := Warmup{DurationNs: elapsed, Queries: uint64(q), Samples: uint64(q * spq)}
	if elapsed > 0 {
		w.RatePerSec = float64(w.Samples) / (float64(elapsed) / 1e9)
	}
	if stream && q > 0 {
		w.MeanNs = latSum / int64(q)
	}
	return w, nil
}

// warmupAllowed is how many samples may be in flight during an Offline or
// Server warm-up of length d, after completed samples in elapsed ns: what
// the device completes in a quarter of d at the rate seen so far, between
// one chunk and warmupWindow. Before the first completion the rate is
// unknown and one chunk is allowed.
func warmupAllowed(completed uint64, elapsed int64, d time.Duration) uint64 {
	if completed == 0 || elapsed <= 0 {
		return warmupChunk
	}
	n := uint64(float64(completed) / float64(elapsed) * float64(d) / 4)
	return min(max(n, warmupChunk), warmupWindow)
}
