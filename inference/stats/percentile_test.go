package stats

import (
	"math"
	"testing"
)

func seq(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(i)
	}
	return s
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sorted []int64
		p      float64
		want   int64
	}{
		{"empty", nil, 0.5, 0},
		{"single", []int64{7}, 0.99, 7},
		{"median of 4 is upper middle", []int64{1, 2, 3, 4}, 0.5, 3},
		{"p99 of 100 is the maximum", seq(100), 0.99, 99},
		{"p90 of 100", seq(100), 0.90, 90},
		{"p99.9 of 1000", seq(1000), 0.999, 999},
		{"p99.9 of 10000", seq(10000), 0.999, 9990},
		{"p90 of 64", seq(64), 0.90, 57}, // 57.6 truncates
		{"p50 of 3", []int64{10, 20, 30}, 0.5, 20},
		{"p0 is the minimum", []int64{5, 6}, 0, 5},
		{"p1 clamps to the maximum", []int64{5, 6}, 1, 6},
		{"above 1 clamps", []int64{5, 6}, 1.5, 6},
		{"negative clamps", []int64{5, 6}, -0.1, 5},
		{"NaN picks the first", []int64{5, 6}, math.NaN(), 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(%v, %v) = %d; want %d", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

// Each reported percentile of 0..n-1 is its own nearest-rank index.
func TestReportedPercentilesIndex(t *testing.T) {
	t.Parallel()
	s := seq(24576)
	want := []int64{12288, 22118, 23347, 23838, 24330, 24551}
	for i, p := range ReportedPercentiles {
		if got := Percentile(s, p); got != want[i] {
			t.Errorf("Percentile(0..24575, %v) = %d; want %d", p, got, want[i])
		}
	}
}

func TestTruncatedMean(t *testing.T) {
	t.Parallel()
	const big = math.MaxInt64
	tests := []struct {
		name string
		xs   []int64
		want int64
	}{
		{"empty", nil, 0},
		{"single", []int64{42}, 42},
		{"exact", []int64{2, 4, 6}, 4},
		{"truncates", []int64{1, 2}, 1},
		{"truncates 2/3", []int64{0, 1, 1}, 0},
		{"negative truncates toward zero", []int64{-1, -2}, -1},
		{"mixed signs", []int64{-5, 2}, -1},
		{"sum past int64", []int64{big, big, big}, big},
		{"sum past int64, truncated", []int64{big, big - 1}, big - 1},
		{"min int64", []int64{math.MinInt64, math.MinInt64}, math.MinInt64},
		{"extremes cancel", []int64{math.MinInt64, big}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := TruncatedMean(tc.xs); got != tc.want {
				t.Errorf("TruncatedMean(%v) = %d; want %d", tc.xs, got, tc.want)
			}
		})
	}
}

// A million latencies of 1e13 ns sum to 1e19, past int64's 9.2e18.
func TestTruncatedMeanLargeSum(t *testing.T) {
	t.Parallel()
	xs := make([]int64, 1_000_000)
	for i := range xs {
		xs[i] = 1e13 + int64(i%3)
	}
	// The i%3 offsets sum to 999999 over 1e6 values and truncate away.
	if got := TruncatedMean(xs); got != 1e13 {
		t.Errorf("TruncatedMean = %d; want %d", got, int64(1e13))
	}
}
