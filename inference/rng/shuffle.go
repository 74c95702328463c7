package rng

// Shuffle permutes s in place exactly as libstdc++ (GCC 12) std::shuffle does
// with this generator.
//
// When n*n fits in the engine's range (n <= 65535 for mt19937), libstdc++
// saves draws by taking one uniform integer in [0, (k+1)(k+2)) and splitting
// it into the swap positions of elements k and k+1. An even length leaves an
// odd number of elements to place, so element 1 is swapped first with a draw
// in [0, 1]. Longer slices fall back to classic Fisher-Yates with one draw in
// [0, k] per element, walking upwards from index 1.
func Shuffle[T any](m *MT19937, s []T) {
	n := uint64(len(s))
	if n == 0 {
		return
	}
	if urngRange/n >= n {
		i := uint64(1)
		if n%2 == 0 {
			j := m.UniformInt(0, 1)
			s[i], s[j] = s[j], s[i]
			i++
		}
		for i != n {
			b0 := i + 1 // positions available to element i
			b1 := b0 + 1
			x := m.UniformInt(0, b0*b1-1)
			j0, j1 := x/b1, x%b1
			s[i], s[j0] = s[j0], s[i]
			i++
			s[i], s[j1] = s[j1], s[i]
			i++
		}
		return
	}
	for i := uint64(1); i < n; i++ {
		j := m.UniformInt(0, i)
		s[i], s[j] = s[j], s[i]
	}
}
