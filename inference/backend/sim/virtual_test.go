package sim

import (
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
)

// drain runs v until idle and returns each sample's completion instant.
func drain(v *Virtual) map[uint64]int64 {
	done := map[uint64]int64{}
	for {
		at, ok := v.Next()
		if !ok {
			return done
		}
		for _, c := range v.Advance(at) {
			for _, id := range c.IDs {
				done[id] = c.At
			}
		}
	}
}

// The virtual device keeps the model's arithmetic: a fixed-service burst
// of N samples on c servers with batch b completes sample k at
// (⌊k/(c·b)⌋+1)·D (package documentation).
func TestVirtualOfflineBurst(t *testing.T) {
	c := Config{Servers: 2, Latency: 3 * time.Millisecond, Dist: Fixed, Batch: 2, Seed: 1}
	v, err := NewVirtual(c, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Issue(0, 20); err != nil {
		t.Fatal(err)
	}
	done := drain(v)
	if len(done) != 20 {
		t.Fatalf("%d of 20 completed", len(done))
	}
	for k := range uint64(20) {
		want := int64(k/4+1) * int64(3*time.Millisecond)
		if done[k] != want {
			t.Errorf("sample %d at %d, want %d", k, done[k], want)
		}
	}
	if _, err := v.Issue(-1, 1); err == nil {
		t.Error("an arrival before the last one was accepted")
	}
}

// Seed sets: set 0 draws what the configured seed draws; another set
// draws other service times, the same ones every time.
func TestVirtualSeedSets(t *testing.T) {
	c := Config{Servers: 1, Latency: time.Millisecond, Dist: Lognormal, Sigma: 0.5, Batch: 1, Seed: 7}
	run := func(set int) []int64 {
		v, err := NewVirtual(c, set)
		if err != nil {
			t.Fatal(err)
		}
		var at []int64
		var now int64
		for range 50 {
			if _, err := v.Issue(now, 1); err != nil {
				t.Fatal(err)
			}
			for {
				next, _ := v.Next()
				if cs := v.Advance(next); len(cs) > 0 {
					now = cs[len(cs)-1].At
					break
				}
			}
			at = append(at, now)
		}
		return at
	}
	a, b, again := run(0), run(3), run(3)
	direct := newServiceTimes(c)
	var sum int64
	for i := range a {
		sum += direct.next()
		if a[i] != sum {
			t.Fatalf("set 0, sample %d: %d, want the configured seed's %d", i, a[i], sum)
		}
	}
	same := 0
	for i := range b {
		if b[i] != again[i] {
			t.Fatalf("set 3 is not repeatable at %d", i)
		}
		if b[i] == a[i] {
			same++
		}
	}
	if same == len(a) {
		t.Error("set 3 drew the same service times as set 0")
	}
	if inference.DeriveSeed(7, 0) != 7 || inference.DeriveSeed(7, 3) == 7 || inference.DeriveSeed(7, 3) == inference.DeriveSeed(8, 3) {
		t.Error("DeriveSeed")
	}
}
