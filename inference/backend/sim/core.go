package sim

import (
	"slices"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/internal/ring"
)

// queue is the device's FIFO of waiting samples. Arrival instants are kept
// per IssueQuery call, as runs, so a query of a million samples costs one
// bulk copy and one run.
type queue struct {
	samples ring.Ring[inference.Sample]
	runs    ring.Ring[run]
	pushed  uint64 // samples ever pushed
	popped  uint64 // samples ever popped
}

// run is the samples pushed by one call: those numbered below end (and
// at or above the previous run's end) arrived at at.
type run struct {
	end uint64
	at  int64
}

func (q *queue) len() int { return q.samples.Len() }

func (q *queue) push(at int64, s []inference.Sample) {
	if len(s) == 0 {
		return
	}
	q.samples.PushSlice(s)
	q.pushed += uint64(len(s))
	q.runs.Push(run{end: q.pushed, at: at})
}

// head returns the arrival of the first waiting sample; the queue must not
// be empty.
func (q *queue) head() int64 { return q.runs.Front().at }

// popArrived moves into dst up to len(dst) samples from the front of the
// queue that arrived at or before t, and returns how many.
func (q *queue) popArrived(t int64, dst []inference.Sample) int {
	avail := uint64(0)
	for i := range q.runs.Len() {
		r := q.runs.At(i)
		if r.at > t {
			break
		}
		avail = r.end - q.popped
		if avail >= uint64(len(dst)) {
			break
		}
	}
	n := q.samples.Pop(dst[:min(avail, uint64(len(dst)))])
	q.popped += uint64(n)
	for q.runs.Len() > 0 && q.runs.Front().end <= q.popped {
		q.runs.Discard(1)
	}
	return n
}

// take is popArrived for the device's source: one queue has no owner.
func (q *queue) take(t int64, dst []inference.Sample) (int, *tenant) {
	return q.popArrived(t, dst), nil
}

// source is where the servers take their samples: one queue, or the
// queues of a shared device's tenants.
type source interface {
	len() int
	// head is the earliest arrival of a waiting sample; the source must
	// not be empty.
	head() int64
	// take moves into dst up to len(dst) samples that arrived at or before
	// t from one queue, and returns how many and whose they are.
	take(t int64, dst []inference.Sample) (int, *tenant)
}

var (
	_ source = (*queue)(nil)
	_ source = (*tenants)(nil)
)

// tenant is one backend on a shared device: its own FIFO queue, its
// samples served in turn with the other tenants'.
type tenant struct {
	q    queue
	user *Backend // nil once the backend has left
}

// tenants are a device's queues, one per backend using it. A free server
// takes its batch from the next tenant, in turn, whose head sample has
// arrived: a tenant that always has work waiting gets every other start
// against another such tenant (a time slice), and one with less work gets
// all it asks for while the other takes the rest.
type tenants struct {
	list []*tenant
	next int // the tenant whose turn comes first
}

func (ts *tenants) add(t *tenant) { ts.list = append(ts.list, t) }

func (ts *tenants) remove(t *tenant) {
	i := slices.Index(ts.list, t)
	if i < 0 {
		return
	}
	ts.list = slices.Delete(ts.list, i, i+1)
	if ts.next > i {
		ts.next--
	}
	if ts.next >= len(ts.list) {
		ts.next = 0
	}
}

func (ts *tenants) len() int {
	n := 0
	for _, t := range ts.list {
		n += t.q.len()
	}
	return n
}

func (ts *tenants) head() int64 {
	first, ok := int64(0), false
	for _, t := range ts.list {
		if t.q.len() > 0 && (!ok || t.q.head() < first) {
			first, ok = t.q.head(), true
		}
	}
	return first
}

func (ts *tenants) take(at int64, dst []inference.Sample) (int, *tenant) {
	n := len(ts.list)
	for i := range n {
		j := (ts.next + i) % n
		t := ts.list[j]
		if t.q.len() == 0 || t.q.head() > at {
			continue
		}
		ts.next = (j + 1) % n
		return t.q.popArrived(at, dst), t
	}
	return 0, nil
}

// core is the device model on a virtual clock: a discrete-event simulation
// that advance runs forward to a given instant. It knows nothing of real
// time, so tests can feed it synthetic arrivals.
type core struct {
	batch      int
	stall      int64
	stallEvery uint64
	service    *serviceTimes

	servers    []server
	idle       ring.Ring[int32] // idle servers, longest idle first
	events     events           // pending completions
	seq        uint64           // orders events that share an instant
	stallUntil int64            // no batch starts before this
	completed  uint64

	// Completions due, in order: the responses of the i-th are
	// out[outEnd[i-1]:outEnd[i]], its instant outAt[i], its tenant
	// outOwner[i] (nil for a device with one queue).
	out      []inference.Response
	outEnd   []int
	outAt    []int64
	outOwner []*tenant
}

type server struct {
	freeAt int64 // when it last became idle
	batch  []inference.Sample
	n      int     // samples in service
	owner  *tenant // whose they are
}

func newCore(c Config) *core {
	k := &core{
		batch:      c.Batch,
		stall:      int64(c.Stall),
		stallEvery: uint64(c.StallEvery),
		service:    newServiceTimes(c),
		servers:    make([]server, c.Servers),
	}
	for i := range k.servers {
		k.servers[i].batch = make([]inference.Sample, c.Batch)
		k.idle.Push(int32(i))
	}
	return k
}

// nextStart returns when the next batch would start, if no other sample
// arrived: when the longest-idle server, the head of the queue and the end
// of any stall allow.
func (k *core) nextStart(q source) (int64, bool) {
	if k.idle.Len() == 0 || q.len() == 0 {
		return 0, false
	}
	return max(k.servers[*k.idle.Front()].freeAt, q.head(), k.stallUntil), true
}

// advance runs the model up to now, taking samples from q: completions
// and batch starts due by now, in virtual-time order, completions first on
// a tie. Every sample that arrived by now must be in q. The completions
// are appended to out.
func (k *core) advance(now int64, q source) {
	for {
		s, okS := k.nextStart(q)
		if len(k.events) > 0 {
			if e := k.events[0].at; e <= now && (!okS || e <= s) {
				k.complete()
				continue
			}
		}
		if !okS || s > now {
			return
		}
		k.start(s, q)
	}
}

// next returns the instant of the next completion or batch start, if no
// other sample arrived.
func (k *core) next(q source) (int64, bool) {
	t, ok := k.nextStart(q)
	if len(k.events) > 0 && (!ok || k.events[0].at < t) {
		t, ok = k.events[0].at, true
	}
	return t, ok
}

// hungry reports whether an arrival changes what the event loop waits for:
// a server is idle and nothing waits. The loop is woken for an arrival
// only then; otherwise the arrival waits for a completion the loop already
// waits for.
func (k *core) hungry(q source) bool {
	return k.idle.Len() > 0 && q.len() == 0
}

func (k *core) start(s int64, q source) {
	id := *k.idle.Front()
	k.idle.Discard(1)
	srv := &k.servers[id]
	srv.n, srv.owner = q.take(s, srv.batch)
	k.events.push(event{at: s + k.service.next(), seq: k.seq, server: id})
	k.seq++
}

func (k *core) complete() {
	ev := k.events.pop()
	srv := &k.servers[ev.server]
	for _, smp := range srv.batch[:srv.n] {
		k.out = append(k.out, inference.Response{ID: smp.ID})
	}
	k.outEnd = append(k.outEnd, len(k.out))
	k.outAt = append(k.outAt, ev.at)
	k.outOwner = append(k.outOwner, srv.owner)

	before := k.completed
	k.completed += uint64(srv.n)
	srv.freeAt, srv.n, srv.owner = ev.at, 0, nil
	k.idle.Push(ev.server)

	if k.stallEvery == 0 {
		return
	}
	if crossed := k.completed/k.stallEvery - before/k.stallEvery; crossed > 0 {
		d := int64(crossed) * k.stall
		k.stallUntil = max(k.stallUntil, ev.at) + d
		// Services in progress pause too. Adding the same amount to
		// every later event keeps the heap ordered.
		for i := range k.events {
			if k.events[i].at > ev.at {
				k.events[i].at += d
			}
		}
	}
}

// clearOut forgets the completions reported so far.
func (k *core) clearOut() {
	clear(k.outOwner) // let departed tenants go
	k.out, k.outEnd, k.outAt, k.outOwner = k.out[:0], k.outEnd[:0], k.outAt[:0], k.outOwner[:0]
}

// event is a batch's completion.
type event struct {
	at     int64
	seq    uint64
	server int32
}

func (e event) before(f event) bool {
	if e.at != f.at {
		return e.at < f.at
	}
	return e.seq < f.seq
}

// events is a min-heap of completions by instant, then start order. It is
// typed rather than container/heap, whose any-typed Push allocates.
type events []event

func (h *events) push(e event) {
	*h = append(*h, e)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if !a[i].before(a[p]) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *events) pop() event {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && a[l].before(a[m]) {
			m = l
		}
		if r := l + 1; r < n && a[r].before(a[m]) {
			m = r
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}
