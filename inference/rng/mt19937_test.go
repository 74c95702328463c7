package rng

import "testing"

// Expected values in these tests were produced by std::mt19937 and the
// libstdc++ distributions of GCC 12.2 (Debian 12.2.0-14), the standard library
// LoadGen 6.0.17 is built with.

func TestMT19937KnownOutputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		seed uint64
		want []uint32
	}{
		{"default seed 5489", 5489, []uint32{3499211612, 581869302, 3890346734, 3586334585}},
		{"seed 0", 0, []uint32{2357136044, 2546248239}},
		{"official schedule seed", 16159082839903944936, []uint32{3245365415, 3615339558}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := NewMT19937(tc.seed)
			for i, want := range tc.want {
				if got := m.Uint32(); got != want {
					t.Errorf("output %d = %d; want %d", i, got, want)
				}
			}
		})
	}
}

// The C++ standard fixes the 10000th output of a default-constructed
// std::mt19937 at 4123659995.
func TestMT19937TenThousandth(t *testing.T) {
	t.Parallel()
	m := NewMT19937(5489)
	var got uint32
	for range 10000 {
		got = m.Uint32()
	}
	if got != 4123659995 {
		t.Errorf("10000th output = %d; want 4123659995", got)
	}
}

func TestMT19937SeedIsMod32(t *testing.T) {
	t.Parallel()
	const seed = 16159082839903944936
	a, b := NewMT19937(seed), NewMT19937(seed&0xffffffff)
	for i := range 2000 {
		if x, y := a.Uint32(), b.Uint32(); x != y {
			t.Fatalf("output %d: seed %d gave %d, its low 32 bits gave %d", i, uint64(seed), x, y)
		}
	}
}

func TestMT19937Reseed(t *testing.T) {
	t.Parallel()
	m := NewMT19937(1)
	for range 1000 {
		m.Uint32()
	}
	m.Seed(5489)
	if got := m.Uint32(); got != 3499211612 {
		t.Errorf("first output after Seed(5489) = %d; want 3499211612", got)
	}
}
