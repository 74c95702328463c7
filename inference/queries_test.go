package inference

import (
	"math"
	"slices"
	"testing"
)

func TestServerScheduleMatchesLoadGen(t *testing.T) {
	s, qsl, err := Settings("resnet50", Server, ProfileMLPerf)
	if err != nil {
		t.Fatal(err)
	}
	if s.ScheduleRNGSeed != OfficialScheduleSeed {
		t.Fatalf("schedule seed %d, want the official %d", s.ScheduleRNGSeed, OfficialScheduleSeed)
	}
	s.ServerTargetQPS = 1500
	s.MinDurationMs = 10_000
	e := s.Effective(qsl)
	pl := mustGenerate(t, e, loadSampleSet(e), qsl.PerformanceSampleCount)
	want := []int64{0, 1229102, 1229102 + 305282, 1229102 + 305282 + 857241}
	if got := pl.offsets[:4]; !slices.Equal(got, want) {
		t.Fatalf("first offsets %v, want %v", got, want)
	}
	last := pl.offsets[len(pl.offsets)-1]
	if last < 10e9 || pl.offsets[len(pl.offsets)-2] >= 10e9 {
		t.Fatalf("schedule ends at %d ns; want the first offset at or past 10 s", last)
	}
	// Observed with LoadGen: 1519.25 scheduled samples/s over this window.
	if got := float64(len(pl.offsets)-1) / (float64(last) / 1e9); got < 1400 || got > 1600 {
		t.Fatalf("scheduled rate %.2f", got)
	}
	// The same seed and QPS give the same sequence every time.
	again := mustGenerate(t, e, loadSampleSet(e), qsl.PerformanceSampleCount)
	if !slices.Equal(pl.offsets, again.offsets) || !slices.Equal(pl.index, again.index) {
		t.Fatal("generation is not deterministic")
	}
}

func TestStreamQueryCount(t *testing.T) {
	// Observed with LoadGen: expected latency 10 ms and min_duration 10 s
	// generate 2001 SingleStream queries.
	s, qsl, _ := Settings("resnet50", SingleStream, ProfileMLPerf)
	s.MinDurationMs = 10_000
	s.SingleStreamExpectedLatencyNs = 10e6
	e := s.Effective(qsl)
	pl := mustGenerate(t, e, loadSampleSet(e), qsl.PerformanceSampleCount)
	if pl.queries != 2001 {
		t.Fatalf("generated %d queries, want 2001", pl.queries)
	}
}

func TestOfflineQuerySize(t *testing.T) {
	s, qsl, _ := Settings("resnet50", Offline, ProfileMLPerf)
	s.MinDurationMs = 10_000
	s.OfflineExpectedQPS = 2500
	e := s.Effective(qsl)
	if e.SamplesPerQuery != 27500 || e.MinQueryCount != 1 || e.MinSampleCount != 27500 {
		t.Fatalf("effective %+v; want samples_per_query 27500 = 1.1 × 10 s × 2500", e)
	}
	s.OfflineExpectedQPS = 100
	if e := s.Effective(qsl); e.SamplesPerQuery != 24576 {
		t.Fatalf("samples_per_query %d; want the 24576 minimum", e.SamplesPerQuery)
	}
	// Offline content: the loaded set repeated, then a prefix.
	set := loadSampleSet(e)
	pl := mustGenerate(t, e, set, qsl.PerformanceSampleCount)
	if len(pl.index) != int(e.SamplesPerQuery) || !slices.Equal(pl.index[:len(set)], set) || pl.index[len(set)] != set[0] {
		t.Fatal("Offline query is not the loaded set repeated")
	}
}

func TestSampleSetIsAShuffleOfTheFirstP(t *testing.T) {
	s, qsl, _ := Settings("resnet50", MultiStream, ProfileMLPerf)
	e := s.Effective(qsl)
	set := loadSampleSet(e)
	if len(set) != 1024+7 {
		t.Fatalf("set size %d, want 1024 plus 7 padding entries", len(set))
	}
	sorted := slices.Clone(set[:1024])
	slices.Sort(sorted)
	for i, v := range sorted {
		if v != uint32(i) {
			t.Fatalf("set is not a permutation of 0..1023 (at %d: %d)", i, v)
		}
	}
	if slices.IsSorted(set[:1024]) {
		t.Fatal("set is not shuffled")
	}
	if !slices.Equal(set[1024:], set[:7]) {
		t.Fatal("MultiStream padding is not a copy of the first entries")
	}
}

func TestEqualIssueRounding(t *testing.T) {
	s, qsl, _ := Settings("llama2-70b", Server, ProfileMLPerf)
	s.ServerTargetQPS = 100
	s.MinDurationMs = 1000
	e := s.Effective(qsl)
	pl := mustGenerate(t, e, loadSampleSet(e), qsl.PerformanceSampleCount)
	if pl.queries%24576 != 0 {
		t.Fatalf("equal issue generated %d queries; want a multiple of the set size", pl.queries)
	}
	// Every sample is used equally often.
	counts := map[uint32]int{}
	for _, i := range pl.index {
		counts[i]++
	}
	for i, c := range counts {
		if c != pl.queries/24576 {
			t.Fatalf("sample %d used %d times", i, c)
		}
	}
}

func TestConfPrecedenceAndUnits(t *testing.T) {
	c, err := ParseConf("user.conf", `
*.*.min_duration = 1000
resnet50.*.min_duration = 2000
*.Server.min_duration = 3000
resnet50.Server.target_latency = 7.9
resnet50.SingleStream.target_latency = 0.5
*.Server.target_latency_percentile = 95
*.*.schedule_rng_seed = 1
`)
	if err != nil {
		t.Fatal(err)
	}
	s := DefaultTestSettings()
	s.Scenario = Server
	c.Apply(&s, "resnet50", false)
	if s.MinDurationMs != 3000 {
		t.Errorf("min_duration %d; *.Server beats model.*", s.MinDurationMs)
	}
	if s.ServerTargetLatencyNs != 7_000_000 {
		t.Errorf("server bound %d; LoadGen truncates to integer ms", s.ServerTargetLatencyNs)
	}
	if math.Abs(s.ServerTargetLatencyPercentile-0.95) > 1e-12 { // LoadGen also computes 95 × 0.01
		t.Errorf("percentile %v", s.ServerTargetLatencyPercentile)
	}
	if s.ScheduleRNGSeed != 0 {
		t.Error("a user.conf changed a seed")
	}
	s.Scenario = SingleStream
	c.Apply(&s, "resnet50", false)
	if s.SingleStreamExpectedLatencyNs != 500_000 || s.MinDurationMs != 2000 {
		t.Errorf("single stream: expected %v ns, min %d ms", s.SingleStreamExpectedLatencyNs, s.MinDurationMs)
	}
	if _, err := ParseConf("bad.conf", "resnet50.Server.target_qps = fast"); err == nil {
		t.Error("a non-numeric value parsed")
	}
}

func TestBuiltinConfTable(t *testing.T) {
	for _, tc := range []struct {
		model string
		sc    Scenario
		check func(TestSettings) bool
	}{
		{"resnet50", Server, func(s TestSettings) bool {
			return s.ServerTargetLatencyNs == 15e6 && s.PerformanceSampleCountOverride == 1024
		}},
		{"resnet50", Offline, func(s TestSettings) bool { return s.MinQueryCount == 24576 && s.MinDurationMs == 600000 }},
		{"retinanet", MultiStream, func(s TestSettings) bool { return s.MultiStreamExpectedLatencyNs == 528e6 && s.MinQueryCount == 662 }},
		{"llama2-70b", Server, func(s TestSettings) bool {
			return s.UseTokenLatencies && s.ServerTTFTLatencyNs == 2000e6 && s.ServerTPOTLatencyNs == 200e6 && s.SampleConcatenatePermutation
		}},
		{"gpt-oss-120b-interactive", Server, func(s TestSettings) bool { return s.ServerTPOTLatencyNs == 15e6 }},
		{"pointpainting", SingleStream, func(s TestSettings) bool { return s.SingleStreamTargetLatencyPercentile > 0.998 }},
		{"bert", SingleStream, func(s TestSettings) bool {
			return s.QSLRNGSeed == OfficialQSLSeed && s.SampleIndexRNGSeed == OfficialSampleIndexSeed && s.SingleStreamExpectedLatencyNs == 10e6
		}},
	} {
		s, _, err := Settings(tc.model, tc.sc, ProfileMLPerf)
		if err != nil {
			t.Fatal(err)
		}
		if !tc.check(s) {
			t.Errorf("%s %s: %+v", tc.model, tc.sc, s)
		}
	}
	if _, _, err := Settings("no-such-model", Offline, ProfileQuick); err == nil {
		t.Error("unknown model accepted")
	}
}

// mustGenerate is generate without a limit or a deadline.
func mustGenerate(t *testing.T, e EffectiveSettings, set []uint32, qslPerfCount uint64) plan {
	t.Helper()
	pl, err := generate(t.Context(), e, set, qslPerfCount, 0)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}
