package rng

// Parameters of the 32-bit Mersenne Twister as fixed by std::mt19937.
const (
	mtN         = 624
	mtM         = 397
	mtMatrixA   = 0x9908b0df
	mtUpperMask = 0x80000000
	mtLowerMask = 0x7fffffff
	mtInitMul   = 1812433253
)

// MT19937 is std::mt19937: the 32-bit Mersenne Twister with the C++ standard's
// seeding. The zero value is not usable; create one with NewMT19937.
// It is not safe for concurrent use.
type MT19937 struct {
	state [mtN]uint32
	index int
}

// NewMT19937 returns a generator seeded as std::mt19937(seed) would be. Only
// seed mod 2^32 matters, because std::mt19937 reduces its seed to its 32-bit
// word size.
func NewMT19937(seed uint64) *MT19937 {
	m := &MT19937{}
	m.Seed(seed)
	return m
}

// Seed resets the generator to the state std::mt19937::seed(seed) gives.
func (m *MT19937) Seed(seed uint64) {
	m.state[0] = uint32(seed)
	for i := 1; i < mtN; i++ {
		prev := m.state[i-1]
		m.state[i] = mtInitMul*(prev^(prev>>30)) + uint32(i)
	}
	m.index = mtN
}

// Uint32 returns the next 32-bit output, the value of operator() in C++.
func (m *MT19937) Uint32() uint32 {
	if m.index >= mtN {
		m.twist()
	}
	y := m.state[m.index]
	m.index++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// twist regenerates the whole state block, as the standard's engine does once
// every 624 outputs.
func (m *MT19937) twist() {
	s := &m.state
	for i := 0; i < mtN; i++ {
		y := (s[i] & mtUpperMask) | (s[(i+1)%mtN] & mtLowerMask)
		v := s[(i+mtM)%mtN] ^ (y >> 1)
		if y&1 != 0 {
			v ^= mtMatrixA
		}
		s[i] = v
	}
	m.index = 0
}
