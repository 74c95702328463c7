package sim

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
)

// TestCoreTenantsShare: on a shared device (2 servers, fixed 2 ms: 1000
// samples/s) a tenant with a backlog (an Offline burst) gets what a
// Poisson neighbour at λ leaves: 1000 − λ samples/s, by work
// conservation, since taking turns serves the neighbour at once. Two
// backlogged tenants split the device in half. In virtual time the model
// is exact; the only slack is the neighbour's count over the burst's span
// (a sample or two at its edges).
func TestCoreTenantsShare(t *testing.T) {
	c := fixed(2, 1, 2*time.Millisecond)
	capacity := c.Capacity()
	for _, lambda := range []float64{0, 250, 500} {
		k := newCore(c)
		var ts tenants
		a, b := &tenant{}, &tenant{}
		ts.add(a)
		ts.add(b)
		const n = 2000
		burst := make([]inference.Sample, n)
		a.q.push(0, burst)
		var arrivals []int64
		if lambda > 0 {
			for _, w := range poisson(int(lambda*5), lambda, 11) {
				b.q.push(w.at, []inference.Sample{{}})
				arrivals = append(arrivals, w.at)
			}
		}
		k.advance(math.MaxInt64, &ts)
		var aLast int64
		var aDone int
		for i, end := range k.outEnd {
			if k.outOwner[i] == a {
				aLast = k.outAt[i]
				aDone += end - max(0, prevEnd(k.outEnd, i))
			}
		}
		if aDone != n {
			t.Fatalf("λ=%v: tenant a completed %d of %d", lambda, aDone, n)
		}
		span := float64(aLast) / 1e9
		got := n / span
		// The neighbour's arrivals while the burst was served.
		seen := 0
		for _, at := range arrivals {
			if at <= aLast {
				seen++
			}
		}
		want := capacity - float64(seen)/span
		if math.Abs(got-want) > 2/span {
			t.Errorf("λ=%v: the backlogged tenant got %.1f samples/s; want %.1f (capacity %.0f less the neighbour's %.1f)", lambda, got, want, capacity, float64(seen)/span)
		}
		t.Logf("λ=%v: backlogged tenant %.1f samples/s (predicted %.1f)", lambda, got, want)
	}

	// Two backlogged tenants take turns: half each.
	k := newCore(c)
	var ts tenants
	a, b := &tenant{}, &tenant{}
	ts.add(a)
	ts.add(b)
	a.q.push(0, make([]inference.Sample, 1000))
	b.q.push(0, make([]inference.Sample, 1000))
	k.advance(math.MaxInt64, &ts)
	var aLast, bLast int64
	for i := range k.outEnd {
		if k.outOwner[i] == a {
			aLast = k.outAt[i]
		} else {
			bLast = k.outAt[i]
		}
	}
	if d := time.Duration(aLast - bLast).Abs(); d > 2*time.Millisecond {
		t.Errorf("two backlogged tenants finished %v apart; want together", d)
	}
	if got := time.Duration(aLast); got < 1998*time.Millisecond || got > 2*time.Second {
		t.Errorf("1000 samples with half of a 1000/s device took %v; want 2 s", got)
	}
}

func prevEnd(ends []int, i int) int {
	if i == 0 {
		return 0
	}
	return ends[i-1]
}

// TestSharedDevice runs two backends on one named device in real time:
// the first's burst is served at the device's full rate alone, and at half
// while the second is backlogged too; a backend stopping leaves the other
// running, and the device's loop ends with its last user.
func TestSharedDevice(t *testing.T) {
	opts := map[string]string{"servers": "2", "latency": "2ms", "device": "shared-" + t.Name()}
	a, b := newSim(t, opts), newSim(t, opts)
	fa, fb := new(backendtest.Fake), new(backendtest.Fake)
	if err := a.StartWith(context.Background(), fa); err != nil {
		t.Fatal(err)
	}
	if err := b.StartWith(context.Background(), fb); err != nil {
		t.Fatal(err)
	}
	a.IssueQuery(burst(400))
	b.IssueQuery(burst(400))
	if err := fa.Wait(400, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := fb.Wait(400, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// 800 samples at 1000/s: both bursts end after 800 ms (virtual time).
	ra, rb := fa.Records(), fb.Records()
	span := time.Duration(max(ra[399].At, rb[399].At) - min(ra[0].At, rb[0].At))
	if span < 790*time.Millisecond || span > 810*time.Millisecond {
		t.Errorf("two bursts of 400 on a shared 1000/s device took %v; want 800 ms", span)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	// a alone: its next burst at the full rate.
	fa2 := new(backendtest.Fake)
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	backendtest.WaitGone(t, "sim.(*device).loop")
	if err := a.StartWith(context.Background(), fa2); err != nil {
		t.Fatal(err)
	}
	a.IssueQuery(burst(400))
	if err := fa2.Wait(400, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	r := fa2.Records()
	if d := time.Duration(r[399].At - r[0].At); d < 395*time.Millisecond || d > 405*time.Millisecond {
		t.Errorf("alone, 400 samples took %v; want 400 ms less one service", d)
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	backendtest.WaitGone(t, "sim.(*device).loop")
}

// TestSharedDeviceStopAlone: one user stopping, or its context ending,
// leaves the device serving the other.
func TestSharedDeviceStopAlone(t *testing.T) {
	opts := map[string]string{"latency": "1ms", "device": "shared-" + t.Name()}
	a, b := newSim(t, opts), newSim(t, opts)
	fa, fb := new(backendtest.Fake), new(backendtest.Fake)
	ctx, cancel := context.WithCancel(context.Background())
	if err := a.StartWith(ctx, fa); err != nil {
		t.Fatal(err)
	}
	if err := b.StartWith(context.Background(), fb); err != nil {
		t.Fatal(err)
	}
	a.IssueQuery(burst(1000)) // a second of work
	time.Sleep(20 * time.Millisecond)
	cancel()
	b.IssueQuery(burst(50))
	if err := fb.Wait(50, 5*time.Second); err != nil {
		t.Fatalf("after the other user's context ended: %v", err)
	}
	// a's queued samples left with it: b's 50 took about 50 ms, not a second.
	r := fb.Records()
	if d := time.Duration(r[49].At - r[0].At); d > 100*time.Millisecond {
		t.Errorf("b's 50 samples took %v: a's queue was not dropped", d)
	}
	n := fa.Len()
	time.Sleep(20 * time.Millisecond)
	if fa.Len() != n {
		t.Error("completions reported to a user whose context ended")
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	backendtest.WaitGone(t, "sim.(*device).loop")
}

func TestSharedDeviceConfigMustAgree(t *testing.T) {
	name := "shared-" + t.Name()
	if _, err := New(map[string]string{"servers": "2", "device": name}); err != nil {
		t.Fatal(err)
	}
	_, err := New(map[string]string{"servers": "4", "device": name})
	if err == nil || !strings.Contains(err.Error(), `device="`+name+`" is already a device with servers=2`) {
		t.Errorf("a second configuration under one device name: %v", err)
	}
	if _, err := New(map[string]string{"servers": "2", "device": name}); err != nil {
		t.Errorf("the same configuration again: %v", err)
	}
}
