// Package rng reproduces, bit for bit, the random numbers that MLPerf LoadGen
// 6.0.17 draws when built with libstdc++ (GCC 12).
//
// LoadGen derives the Server arrival times, the sample picked for each query
// and the order of the loaded sample set from three std::mt19937 generators
// with fixed seeds. Replaying those sequences exactly lets gpuperf and LoadGen
// issue the same Server arrival sequence from the same seed, so a gpuperf run
// can be compared query for query with a LoadGen run.
//
// Seeds are uint64 values as mlperf.conf writes them, but std::mt19937 keeps
// only seed mod 2^32, and so does NewMT19937: 16159082839903944936 and its low
// 32 bits seed the same state.
//
// The distributions are not the C++ standard's abstract ones but libstdc++'s
// concrete algorithms: generate_canonical for exponential_distribution,
// Lemire's nearly-divisionless method for uniform_int_distribution, and the
// two-positions-per-draw std::shuffle. libc++ and MSVC would produce different
// (statistically equivalent) sequences.
package rng
