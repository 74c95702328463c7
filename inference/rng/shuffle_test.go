package rng

import (
	"slices"
	"testing"
)

// officialQSLSeed is mlperf.conf's qsl_rng_seed, which LoadGen uses to
// shuffle the performance sample set.
const officialQSLSeed = 2085463073848966840

func ascending(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// Every row was produced by std::shuffle over std::iota with libstdc++ 12.2;
// next is the engine's following raw output, which pins the number of draws.
func TestShuffleKnownAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n    int
		want []int
		next uint32
	}{
		{0, []int{}, 144363858},
		{1, []int{0}, 144363858},
		{2, []int{1, 0}, 3947231266},
		{3, []int{2, 0, 1}, 3947231266},
		{4, []int{1, 0, 2, 3}, 1102009372},
		{5, []int{2, 0, 1, 4, 3}, 1102009372},
		{10, []int{1, 5, 7, 6, 0, 8, 3, 2, 9, 4}, 1312898738},
		{11, []int{2, 5, 1, 7, 3, 10, 9, 8, 6, 4, 0}, 1312898738},
	}
	for _, tc := range tests {
		m := NewMT19937(officialQSLSeed)
		s := ascending(tc.n)
		Shuffle(m, s)
		if !slices.Equal(s, tc.want) {
			t.Errorf("Shuffle(ascending(%d)) = %v; want %v", tc.n, s, tc.want)
		}
		if got := m.Uint32(); got != tc.next {
			t.Errorf("n=%d: next raw output = %d; want %d", tc.n, got, tc.next)
		}
	}
}

// Large cases cover both algorithms: 65535 is the longest slice that takes
// two positions per draw (65535^2 < 2^32-1), 65536 and up use Fisher-Yates.
func TestShuffleLargeChecksums(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n                    int
		first0, first1, last int
		checksum             uint64
		next                 uint32
	}{
		{1024, 216, 267, 834, 12504161332957536834, 2994617989},
		{65535, 27236, 15090, 5722, 8505108707788673417, 1418456787},
		{65536, 3434, 25598, 58716, 14411621598496134542, 3422610682},
		{65537, 3434, 25598, 43772, 17443541368482044882, 2315143035},
		{100000, 3434, 25598, 21321, 5745507501364352782, 3602320291},
	}
	for _, tc := range tests {
		m := NewMT19937(officialQSLSeed)
		s := ascending(tc.n)
		Shuffle(m, s)
		var cs uint64
		for _, x := range s {
			cs = cs*1000003 + uint64(x)
		}
		if s[0] != tc.first0 || s[1] != tc.first1 || s[tc.n-1] != tc.last {
			t.Errorf("n=%d: s[0], s[1], s[n-1] = %d, %d, %d; want %d, %d, %d",
				tc.n, s[0], s[1], s[tc.n-1], tc.first0, tc.first1, tc.last)
		}
		if cs != tc.checksum {
			t.Errorf("n=%d: checksum = %d; want %d", tc.n, cs, tc.checksum)
		}
		if got := m.Uint32(); got != tc.next {
			t.Errorf("n=%d: next raw output = %d; want %d", tc.n, got, tc.next)
		}
	}
}

func TestShuffleIsDeterministicPermutation(t *testing.T) {
	t.Parallel()
	for _, n := range []int{2, 7, 64, 999, 70000} {
		a, b := ascending(n), ascending(n)
		Shuffle(NewMT19937(uint64(n)), a)
		Shuffle(NewMT19937(uint64(n)), b)
		if !slices.Equal(a, b) {
			t.Errorf("n=%d: two shuffles with the same seed differ", n)
		}
		sorted := slices.Clone(a)
		slices.Sort(sorted)
		if !slices.Equal(sorted, ascending(n)) {
			t.Errorf("n=%d: result is not a permutation of 0..n-1", n)
		}
	}
}

// Each of the 6 orders of 3 elements should appear about equally often.
func TestShuffleUniformSmall(t *testing.T) {
	t.Parallel()
	m := NewMT19937(3)
	counts := map[[3]int]int{}
	const trials = 60000
	for range trials {
		s := []int{0, 1, 2}
		Shuffle(m, s)
		counts[[3]int(s)]++
	}
	if len(counts) != 6 {
		t.Fatalf("saw %d distinct orders; want 6", len(counts))
	}
	for order, c := range counts {
		if c < 9500 || c > 10500 {
			t.Errorf("order %v appeared %d times in %d; want about %d", order, c, trials, trials/6)
		}
	}
}
