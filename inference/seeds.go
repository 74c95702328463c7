package inference

// Seed sets. A comparison's repetition k runs with seed set k on both
// sides: the LoadGen seeds (sample set, sample order, Server schedule) and
// every backend's own randomness change together from one repetition to
// the next, and stay identical between the two runs of a pair. Set 0 is
// the seeds as configured (MLPerf's official LoadGen seeds, the backend's
// seed option), so a plan's first repetition and a lone bench run draw
// the same numbers; the mlperf profile keeps set 0 for every run.

// DeriveSeed returns seed set k's seed from a configured one: the seed
// itself for k = 0, else a SplitMix64 mix of the two, so the sets of
// different configured seeds never coincide.
func DeriveSeed(seed uint64, set int) uint64 {
	if set <= 0 {
		return seed
	}
	z := seed ^ uint64(set)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// UseSeedSet moves the LoadGen seeds (qsl, sample index, schedule) to seed
// set k, derived from the seeds s holds.
func (s *TestSettings) UseSeedSet(k int) {
	s.QSLRNGSeed = DeriveSeed(s.QSLRNGSeed, k)
	s.SampleIndexRNGSeed = DeriveSeed(s.SampleIndexRNGSeed, k)
	s.ScheduleRNGSeed = DeriveSeed(s.ScheduleRNGSeed, k)
}
