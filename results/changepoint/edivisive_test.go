package changepoint

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// series is n points at level 100 with Gaussian noise of sigma percent,
// dropping by shift percent from index at on.
func series(rng *rand.Rand, n, at int, shift, sigma float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		level := 100.0
		if i >= at {
			level *= 1 - shift/100
		}
		x[i] = level * (1 + sigma/100*rng.NormFloat64())
	}
	return x
}

func TestConstantSeriesHasNoChangePoint(t *testing.T) {
	x := make([]float64, 40)
	for i := range x {
		x[i] = 97.5
	}
	r, err := Detect(x, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ChangePoints) != 0 || len(r.Segments) != 1 || r.Segments[0].Mean != 97.5 {
		t.Fatalf("constant series: %+v", r)
	}
}

func TestPlantedShiftIsFound(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	x := series(rng, 60, 40, 5, 1)
	r, err := Detect(x, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ChangePoints) != 1 {
		t.Fatalf("want one change point near 40, got %+v", r.ChangePoints)
	}
	cp := r.ChangePoints[0]
	if cp.Index < 38 || cp.Index > 42 {
		t.Errorf("change point at %d, planted at 40", cp.Index)
	}
	if cp.PValue > 0.01 {
		t.Errorf("p-value %v for a 5-sigma shift", cp.PValue)
	}
	if !(cp.Before > 99 && cp.Before < 101 && cp.After > 94 && cp.After < 96) {
		t.Errorf("means %v → %v, planted 100 → 95", cp.Before, cp.After)
	}
	if len(r.Segments) != 2 || r.Segments[0].End != cp.Index || r.Segments[1].Start != cp.Index || r.Segments[1].End != 60 {
		t.Errorf("segments %+v do not meet at the change point", r.Segments)
	}
}

func TestTwoShiftsAreFoundHierarchically(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	x := series(rng, 90, 30, 4, 0.8)
	for i := 60; i < 90; i++ {
		x[i] *= 1.06 // a recovery above the first level
	}
	r, err := Detect(x, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ChangePoints) != 2 {
		t.Fatalf("want change points near 30 and 60, got %+v", r.ChangePoints)
	}
	for i, want := range []int{30, 60} {
		if got := r.ChangePoints[i].Index; got < want-2 || got > want+2 {
			t.Errorf("change point %d at %d, planted at %d", i, got, want)
		}
	}
	if !(r.ChangePoints[0].After < r.ChangePoints[0].Before && r.ChangePoints[1].After > r.ChangePoints[1].Before) {
		t.Errorf("directions wrong: %+v", r.ChangePoints)
	}
}

func TestDetectIsReproducible(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	x := series(rng, 50, 25, 2, 1)
	a, err := Detect(x, Options{Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Detect(x, Options{Seed: 42})
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different results:\n%+v\n%+v", a, b)
	}
}

func TestShortSeriesAndBadInput(t *testing.T) {
	r, err := Detect([]float64{1, 2, 3, 10, 11}, Options{})
	if err != nil || len(r.ChangePoints) != 0 || len(r.Segments) != 1 {
		t.Fatalf("5 points cannot hold two segments of 3: %+v %v", r, err)
	}
	r, err = Detect(nil, Options{})
	if err != nil || len(r.ChangePoints) != 0 || len(r.Segments) != 1 {
		t.Fatalf("empty series: %+v %v", r, err)
	}
	if _, err := Detect([]float64{1, math.NaN(), 3}, Options{}); !errors.Is(err, ErrNaN) {
		t.Fatalf("NaN: %v", err)
	}
	for _, o := range []Options{{Alpha: 1.5}, {Permutations: 5}, {MinSize: 1}} {
		if _, err := Detect([]float64{1, 2, 3}, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

// TestSegmentBoundaryRespectsMinSize: a lone outlier at the end is not a
// segment of its own.
func TestSegmentBoundaryRespectsMinSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	x := series(rng, 30, 30, 0, 0.5)
	x[29] = 80
	r, err := Detect(x, Options{MinSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Segments {
		if s.End-s.Start < 3 {
			t.Fatalf("segment shorter than 3: %+v", r.Segments)
		}
	}
}
