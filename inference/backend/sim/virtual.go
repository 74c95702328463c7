package sim

import (
	"errors"

	"github.com/gpuperf/gpuperf/inference"
)

// Virtual is the device model on a virtual clock, with no goroutine and no
// real time: a harness issues samples at instants it chooses and moves the
// clock itself. It runs the very model the event loop runs, so its
// completions are the device's, and a simulated run of any length takes
// microseconds per sample. The statistics' coverage tests use it to run
// thousands of simulated comparisons.
type Virtual struct {
	q      queue
	k      *core
	nextID uint64
	last   int64
}

// Completion is one batch's completion: its instant and the samples in it
// (the numbers Issue gave them).
type Completion struct {
	At  int64
	IDs []uint64
}

// NewVirtual returns the device c describes, idle at instant 0, drawing its
// service times from seed set set (see inference.DeriveSeed), as a run
// after Reseed(set) does.
func NewVirtual(c Config, set int) (*Virtual, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.Seed = inference.DeriveSeed(c.Seed, set)
	v := &Virtual{k: newCore(c)}
	return v, nil
}

// Issue queues n samples arriving at instant at (ns) and returns the
// number of the first; the rest follow in order. Instants must not
// decrease.
func (v *Virtual) Issue(at int64, n int) (uint64, error) {
	if at < v.last {
		return 0, errors.New("sim: virtual issue before the previous one")
	}
	v.last = at
	first := v.nextID
	s := make([]inference.Sample, n)
	for i := range s {
		s[i] = inference.Sample{ID: v.nextID}
		v.nextID++
	}
	v.q.push(at, s)
	return first, nil
}

// Advance runs the model to instant now and returns the completions due by
// then, in order.
func (v *Virtual) Advance(now int64) []Completion {
	v.k.advance(now, &v.q)
	var out []Completion
	start := 0
	for i, end := range v.k.outEnd {
		ids := make([]uint64, 0, end-start)
		for _, r := range v.k.out[start:end] {
			ids = append(ids, r.ID)
		}
		out = append(out, Completion{At: v.k.outAt[i], IDs: ids})
		start = end
	}
	v.k.clearOut()
	return out
}

// Next returns the instant of the next completion or batch start if no
// other sample arrives; ok is false when the device is idle and nothing
// waits.
func (v *Virtual) Next() (int64, bool) { return v.k.next(&v.q) }
