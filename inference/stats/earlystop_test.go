package stats

import (
	"fmt"
	"math"
	"sync"
	"testing"
)

// Every expected value in this file is from §6 of the LoadGen spec
// (shared/reference/loadgen.md), observed from LoadGen 6.0.17 or reproduced by
// a port that matches its output.

func TestMinPassingQueriesConstants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p      float64
		h0, h1 int64
	}{
		{0.90, 44, 63},
		{0.99, 459, 661},
		{0.999, 4603, 6635},
	}
	for _, tc := range tests {
		if got := MinPassingQueries(0, tc.p); got != tc.h0 {
			t.Errorf("MinPassingQueries(0, %v) = %d; want %d", tc.p, got, tc.h0)
		}
		if got := MinPassingQueries(1, tc.p); got != tc.h1 {
			t.Errorf("MinPassingQueries(1, %v) = %d; want %d", tc.p, got, tc.h1)
		}
	}
}

func TestServerNeededQueries(t *testing.T) {
	t.Parallel()
	tests := []struct{ t, want int64 }{
		{0, 459}, {1, 662}, {2, 838}, {5, 1307}, {10, 2010},
		{50, 6898}, {100, 12571}, {1000, 107569}, {3000, 312926},
	}
	for _, tc := range tests {
		got := CheckServer(0, tc.t, 0.99)
		if got.Needed != tc.want {
			t.Errorf("CheckServer(0, %d, 0.99).Needed = %d; want %d", tc.t, got.Needed, tc.want)
		}
		if got.Met {
			t.Errorf("CheckServer(0, %d, 0.99).Met = true; want false", tc.t)
		}
		if pass := CheckServer(tc.want, tc.t, 0.99); !pass.Met {
			t.Errorf("CheckServer(%d, %d, 0.99).Met = false; want true", tc.want, tc.t)
		}
		if fail := CheckServer(tc.want-1, tc.t, 0.99); fail.Met {
			t.Errorf("CheckServer(%d, %d, 0.99).Met = true; want false", tc.want-1, tc.t)
		}
	}
}

func TestCheckServerAt270336(t *testing.T) {
	t.Parallel()
	tests := []struct {
		overlatency int64
		want        ServerCheck
	}{
		{2583, ServerCheck{Met: true, Queries: 270336, Overlatency: 2583, Needed: 270312}},
		{2584, ServerCheck{Met: false, Queries: 270336, Overlatency: 2584, Needed: 270415}},
	}
	for _, tc := range tests {
		if got := CheckServer(270336, tc.overlatency, 0.99); got != tc.want {
			t.Errorf("CheckServer(270336, %d, 0.99) = %+v; want %+v", tc.overlatency, got, tc.want)
		}
	}
}

func TestEstimatePercentile(t *testing.T) {
	t.Parallel()
	// With latencies 0..q-1 the reported latency equals its index q-t.
	tests := []struct {
		p    float64
		q    int
		want Estimate
	}{
		{0.90, 63, Estimate{Met: false, Queries: 63, MinQueries: 64}},
		{0.90, 64, Estimate{Met: true, Queries: 64, MinQueries: 64, Discarded: 0, Latency: 63}},
		{0.90, 100, Estimate{Met: true, Queries: 100, MinQueries: 64, Discarded: 2, Latency: 97}},
		{0.90, 1024, Estimate{Met: true, Queries: 1024, MinQueries: 64, Discarded: 79, Latency: 944}},
		{0.90, 2001, Estimate{Met: true, Queries: 2001, MinQueries: 64, Discarded: 167, Latency: 1833}},
		{0.90, 8828, Estimate{Met: true, Queries: 8828, MinQueries: 64, Discarded: 816, Latency: 8011}},
		{0.90, 24576, Estimate{Met: true, Queries: 24576, MinQueries: 64, Discarded: 2347, Latency: 22228}},
		{0.90, 270336, Estimate{Met: true, Queries: 270336, MinQueries: 64, Discarded: 26669, Latency: 243666}},
		{0.99, 0, Estimate{Met: false, Queries: 0, MinQueries: 662}},
		{0.99, 661, Estimate{Met: false, Queries: 661, MinQueries: 662}},
		{0.99, 662, Estimate{Met: true, Queries: 662, MinQueries: 662, Discarded: 0, Latency: 661}},
		{0.99, 1000, Estimate{Met: true, Queries: 1000, MinQueries: 662, Discarded: 1, Latency: 998}},
		{0.99, 2982, Estimate{Met: true, Queries: 2982, MinQueries: 662, Discarded: 16, Latency: 2965}},
		{0.99, 24576, Estimate{Met: true, Queries: 24576, MinQueries: 662, Discarded: 208, Latency: 24367}},
		{0.99, 270336, Estimate{Met: true, Queries: 270336, MinQueries: 662, Discarded: 2582, Latency: 267753}},
		{0.999, 6636, Estimate{Met: true, Queries: 6636, MinQueries: 6636, Discarded: 0, Latency: 6635}},
	}
	for _, tc := range tests {
		if got := EstimatePercentile(seq(tc.q), tc.p); got != tc.want {
			t.Errorf("EstimatePercentile(0..%d, %v) = %+v; want %+v", tc.q-1, tc.p, got, tc.want)
		}
	}
}

// EstimatePercentile bisects where LoadGen scans t = 2, 3, ...; both must
// stop at the same t for every q.
func TestEstimatePercentileMatchesLinearScan(t *testing.T) {
	t.Parallel()
	for _, p := range []float64{0.90, 0.99} {
		var f Finder
		h1 := f.MinPassingQueries(1, p)
		for q := h1 + 1; q <= 6000; q += 7 {
			tt := int64(2)
			for q >= f.MinPassingQueries(tt, p)+tt {
				tt++
			}
			tt-- // the last t that still fits
			got := f.EstimatePercentile(seq(int(q)), p)
			if got.Discarded != tt-1 {
				t.Fatalf("p=%v q=%d: Discarded = %d; linear scan gives t=%d", p, q, got.Discarded, tt)
			}
		}
	}
}

// binomialCDF is an independent float64 evaluation of I_x(h, t+1) = P(at most
// t failures in h+t trials, failure probability 1-x), summing pmf terms in
// log space from k = 0 upwards.
func binomialCDF(h, t int64, x float64) float64 {
	n := float64(h + t)
	lgN, _ := math.Lgamma(n + 1)
	sum := 0.0
	for k := int64(0); k <= t; k++ {
		kf := float64(k)
		lgK, _ := math.Lgamma(kf + 1)
		lgNK, _ := math.Lgamma(n - kf + 1)
		sum += math.Exp(lgN - lgK - lgNK + kf*math.Log1p(-x) + (n-kf)*math.Log(x))
	}
	return sum
}

// h(t) must be the exact threshold of the binomial CDF: below 0.01 at h(t),
// not below at h(t)-1. No case may sit so close to 0.01 that rounding could
// decide it, or LoadGen's own arithmetic might disagree with ours.
func TestMinPassingQueriesIsBinomialThreshold(t *testing.T) {
	t.Parallel()
	const alpha = 1 - confidence
	for _, p := range []float64{0.5, 0.9, 0.95, 0.99, 0.999} {
		var f Finder
		for _, tt := range []int64{1, 2, 3, 4, 5, 7, 10, 17, 31, 50, 100, 209, 500, 1000, 2583} {
			h := f.MinPassingQueries(tt, p)
			at, below := binomialCDF(h, tt, p), binomialCDF(h-1, tt, p)
			if !(at < alpha) || below < alpha {
				t.Errorf("p=%v t=%d: h=%d gives CDF %.12g at h and %.12g at h-1; want < %v then >= %v",
					p, tt, h, at, below, alpha, alpha)
			}
			for _, v := range []float64{at, below} {
				if math.Abs(v-alpha) < 1e-9*alpha {
					t.Errorf("p=%v t=%d: CDF %.15g within 1e-9 of %v; threshold is numerically fragile", p, tt, v, alpha)
				}
			}
		}
	}
}

func TestRegIncBeta(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		x, a, b float64
		want    float64
		tol     float64
	}{
		// I_x(a, 1) = x^a.
		{"b=1", 0.9, 44, 1, math.Pow(0.9, 44), 1e-15},
		// I_x(1, 2) = P(at most 1 failure in 2 trials) = 1-(1-x)^2.
		{"a=1 b=2", 0.9, 1, 2, 1 - 0.1*0.1, 1e-15},
		// I_x(2, 2) = x^2 + 2x^2(1-x).
		{"a=2 b=2", 0.7, 2, 2, 0.49 + 2*0.49*0.3, 1e-15},
		// Far below the threshold the series grows and is rescaled; the
		// result must still be a probability near 1 (lgamma of arguments
		// near 3e4 limits the accuracy to about 1e-10).
		{"rescaled", 0.9, 44, 26671, 1, 1e-9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := regIncBeta(tc.x, tc.a, tc.b)
			if math.Abs(got-tc.want) > tc.tol {
				t.Errorf("regIncBeta(%v, %v, %v) = %.17g; want %.17g", tc.x, tc.a, tc.b, got, tc.want)
			}
		})
	}
}

func TestMinPassingQueriesPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		t    int64
		p    float64
	}{
		{"p zero", 1, 0},
		{"p one", 1, 1},
		{"p NaN", 1, math.NaN()},
		{"negative t", -1, 0.9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Errorf("MinPassingQueries(%d, %v) did not panic", tc.t, tc.p)
				}
			}()
			var f Finder
			f.MinPassingQueries(tc.t, tc.p)
		})
	}
}

func TestFinderConcurrent(t *testing.T) {
	t.Parallel()
	var f Finder
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for tt := int64(0); tt < 40; tt++ {
				if got, want := f.MinPassingQueries(tt, 0.99), MinPassingQueries(tt, 0.99); got != want {
					t.Errorf("goroutine %d: h(%d) = %d; want %d", g, tt, got, want)
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkEstimatePercentile270336(b *testing.B) {
	s := seq(270336)
	for _, p := range []float64{0.90, 0.99} {
		b.Run(fmt.Sprintf("cold/p%g", p*100), func(b *testing.B) {
			for b.Loop() {
				var f Finder // fresh memo: the cost of the first call in a run
				f.EstimatePercentile(s, p)
			}
		})
		b.Run(fmt.Sprintf("warm/p%g", p*100), func(b *testing.B) {
			var f Finder
			for b.Loop() {
				f.EstimatePercentile(s, p)
			}
		})
	}
}

func BenchmarkCheckServer(b *testing.B) {
	for b.Loop() {
		var f Finder
		f.CheckServer(270336, 2583, 0.99)
	}
}
