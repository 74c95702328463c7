package ring

import (
	"math/rand/v2"
	"testing"
)

// TestRingMatchesSlice checks random pushes and pops against a plain slice.
func TestRingMatchesSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var r Ring[int]
	var want []int
	next := 0
	dst := make([]int, 300)
	for step := range 20000 {
		switch rng.IntN(4) {
		case 0:
			r.Push(next)
			want = append(want, next)
			next++
		case 1:
			vs := make([]int, rng.IntN(200))
			for i := range vs {
				vs[i] = next
				next++
			}
			r.PushSlice(vs)
			want = append(want, vs...)
		case 2:
			k := r.Pop(dst[:rng.IntN(len(dst))])
			for i := range k {
				if dst[i] != want[i] {
					t.Fatalf("step %d: Pop()[%d] = %d; want %d", step, i, dst[i], want[i])
				}
			}
			want = want[k:]
		case 3:
			k := min(rng.IntN(50), r.Len())
			r.Discard(k)
			want = want[k:]
		}
		if r.Len() != len(want) {
			t.Fatalf("step %d: Len() = %d; want %d", step, r.Len(), len(want))
		}
		if len(want) > 0 {
			if got := *r.Front(); got != want[0] {
				t.Fatalf("step %d: Front() = %d; want %d", step, got, want[0])
			}
			if i := rng.IntN(len(want)); r.At(i) != want[i] {
				t.Fatalf("step %d: At(%d) = %d; want %d", step, i, r.At(i), want[i])
			}
		}
	}
	r.Reset(0)
	if r.Len() != 0 || r.buf != nil {
		t.Fatalf("Reset(0) left Len() = %d, cap %d", r.Len(), len(r.buf))
	}
}

// TestRingSteadyStateAllocs checks that push/pop cycles stop allocating.
func TestRingSteadyStateAllocs(t *testing.T) {
	var r Ring[uint64]
	dst := make([]uint64, 8)
	src := make([]uint64, 5)
	r.PushSlice(src)
	r.Pop(dst)
	allocs := testing.AllocsPerRun(1000, func() {
		r.Push(1)
		r.PushSlice(src)
		r.Pop(dst)
	})
	if allocs != 0 {
		t.Fatalf("allocations per push/pop cycle = %v; want 0", allocs)
	}
}
