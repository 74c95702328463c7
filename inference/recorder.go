package inference

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Recorder stamps completions: LoadGen's QuerySamplesComplete and
// FirstTokenComplete. Backends call it from any goroutine. Each call reads the
// clock once, on entry, as LoadGen does; everything after that is bookkeeping.
type Recorder struct {
	cur atomic.Pointer[phase]
	// calls counts Recorder calls in progress, so detach can wait for the
	// last one that might still write into a phase.
	calls atomic.Int64
}

// detach ends recording into the current phase and waits until no call is
// still writing into it; the phase's arrays are then the caller's alone
// (summarize sorts them in place, and a completion arriving after a drain
// timeout must not race with that).
func (r *Recorder) detach() {
	r.cur.Store(nil)
	for r.calls.Load() != 0 {
		runtime.Gosched()
	}
}

// epochShift puts a phase number in the top byte of every sample ID, so a
// completion that arrives after its phase ended (a late warm-up sample, say)
// is counted as stale instead of landing in the wrong slot.
const epochShift = 56

// phase holds the per-sample state of one warm-up or timed run. Memory per
// query is what bounds the longest Server run, so the arrays are flat and
// the per-sample latency is the only 8-byte-per-sample field.
type phase struct {
	epoch uint64
	// base is the run's start instant; origins are relative to it.
	base atomic.Int64
	// spq is samples per query; sample i belongs to query i/spq.
	spq uint64
	// origin is when each query's latency counts from, relative to base:
	// the scheduled time in Server, the issue time otherwise.
	origin []int64
	// latency is completion − origin, plus one so that zero means "pending"
	// and the array needs no initialising pass.
	latency []int64
	// firstToken and tokens exist only in token-latency runs.
	firstToken []int64
	tokens     []int64

	completed atomic.Uint64
	target    atomic.Uint64 // samples issued, set when issuing ends
	allDone   chan struct{}
	doneOnce  sync.Once

	// queryLeft counts the open samples of the one outstanding query in
	// SingleStream and MultiStream; queryDone is signalled when it hits zero.
	queryLeft atomic.Int64
	queryDone chan struct{}

	duplicate atomic.Uint64
	stale     atomic.Uint64
	failed    atomic.Uint64
	errMu     sync.Mutex
	firstErr  error
}

// newPhase allocates a phase's arrays. origin may be given (Server passes its
// schedule, which already holds every query's scheduled offset).
func newPhase(epoch uint64, queries, spq int, tokens bool, origin []int64) *phase {
	if origin == nil {
		origin = make([]int64, queries)
	}
	p := &phase{
		epoch:     epoch,
		spq:       uint64(spq),
		origin:    origin,
		latency:   make([]int64, queries*spq),
		allDone:   make(chan struct{}),
		queryDone: make(chan struct{}, 1),
	}
	if tokens {
		p.firstToken = make([]int64, queries*spq)
		p.tokens = make([]int64, queries*spq)
	}
	p.target.Store(^uint64(0))
	return p
}

// id returns the wire ID of sample seq in this phase.
func (p *phase) id(seq int) uint64 { return p.epoch<<epochShift | uint64(seq) }

// slot maps a wire ID back to a sample slot, or false for a foreign ID.
func (p *phase) slot(id uint64) (uint64, bool) {
	if id>>epochShift != p.epoch {
		return 0, false
	}
	s := id & (1<<epochShift - 1)
	return s, s < uint64(len(p.latency))
}

func (p *phase) query(slot uint64) uint64 {
	if p.spq == 1 {
		return slot
	}
	return slot / p.spq
}

// Complete records one finished sample.
func (r *Recorder) Complete(resp Response) {
	now := nanotime()
	r.calls.Add(1)
	defer r.calls.Add(-1)
	if p := r.cur.Load(); p != nil {
		p.complete(now, resp)
	}
}

// CompleteBatch records several samples that finished together; they share
// one timestamp, as in LoadGen.
func (r *Recorder) CompleteBatch(resps []Response) {
	now := nanotime()
	r.calls.Add(1)
	defer r.calls.Add(-1)
	p := r.cur.Load()
	if p == nil {
		return
	}
	for _, resp := range resps {
		p.complete(now, resp)
	}
}

// CompleteAt records samples that finished at the monotonic instant at
// (the clock of Now), not when the call is made. It is for simulated
// devices only: a simulator knows exactly when its virtual work finished,
// and stamping that instant keeps the host's scheduling noise out of the
// oracle it provides. A real backend must call Complete, so its latency
// ends when LoadGen's would.
func (r *Recorder) CompleteAt(at int64, resps []Response) {
	r.calls.Add(1)
	defer r.calls.Add(-1)
	p := r.cur.Load()
	if p == nil {
		return
	}
	for _, resp := range resps {
		p.complete(at, resp)
	}
}

// Now reads the monotonic clock the Recorder stamps with.
func Now() int64 { return nanotime() }

// FirstToken records the arrival of a sample's first output token.
func (r *Recorder) FirstToken(id uint64) {
	now := nanotime()
	r.calls.Add(1)
	defer r.calls.Add(-1)
	p := r.cur.Load()
	if p == nil || p.firstToken == nil {
		return
	}
	s, ok := p.slot(id)
	if !ok {
		p.stale.Add(1)
		return
	}
	atomic.CompareAndSwapInt64(&p.firstToken[s], 0, now-p.base.Load()-p.origin[p.query(s)]+1)
}

func (p *phase) complete(now int64, resp Response) {
	s, ok := p.slot(resp.ID)
	if !ok {
		p.stale.Add(1)
		return
	}
	if !atomic.CompareAndSwapInt64(&p.latency[s], 0, now-p.base.Load()-p.origin[p.query(s)]+1) {
		p.duplicate.Add(1)
		return
	}
	if p.tokens != nil {
		atomic.StoreInt64(&p.tokens[s], resp.Tokens)
	}
	if resp.Err != nil {
		p.failed.Add(1)
		p.errMu.Lock()
		if p.firstErr == nil {
			p.firstErr = resp.Err
		}
		p.errMu.Unlock()
	}
	if p.queryLeft.Add(-1) == 0 {
		select {
		case p.queryDone <- struct{}{}:
		default:
		}
	}
	if p.completed.Add(1) == p.target.Load() {
		p.finish()
	}
}

func (p *phase) finish() { p.doneOnce.Do(func() { close(p.allDone) }) }

// issuedAll tells the phase how many samples went out, so it can tell when
// the last one is back.
func (p *phase) issuedAll(n uint64) {
	p.target.Store(n)
	if p.completed.Load() >= n {
		p.finish()
	}
}

// sampleLatency returns a completed sample's latency, or -1 while pending.
func (p *phase) sampleLatency(slot int) int64 {
	return atomic.LoadInt64(&p.latency[slot]) - 1
}

// queryLatency is the latency of a query's last sample (MultiStream's query
// latency), or -1 while any sample is pending.
func (p *phase) queryLatency(q uint64) int64 {
	var worst int64 = -1
	for s := q * p.spq; s < (q+1)*p.spq; s++ {
		l := p.sampleLatency(int(s))
		if l < 0 {
			return -1
		}
		worst = max(worst, l)
	}
	return worst
}
