package mlperflog

import (
	"time"

	"github.com/gpuperf/gpuperf/inference"
)

var startedAt = time.Date(2026, 3, 14, 9, 26, 53, 589_793_238, time.UTC)

// reported builds the six reported percentiles from their values.
func reported(ns ...int64) []inference.Percentile {
	ps := []float64{0.50, 0.90, 0.95, 0.97, 0.99, 0.999}
	out := make([]inference.Percentile, len(ns))
	for i, v := range ns {
		out[i] = inference.Percentile{P: ps[i], Ns: v}
	}
	return out
}

// loadedSet is a deterministic permutation of 0..n-1 (n a power of two).
func loadedSet(n int) []uint32 {
	s := make([]uint32, n)
	for i := range s {
		s[i] = uint32((i * 7919) % n)
	}
	return s
}

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

// base is a run of resnet50 on gpuperf's simulated backend, with the official
// seeds and LoadGen's ImageNet QSL counts.
func base(s inference.TestSettings) *inference.Result {
	s.QSLRNGSeed = inference.OfficialQSLSeed
	s.SampleIndexRNGSeed = inference.OfficialSampleIndexSeed
	s.ScheduleRNGSeed = inference.OfficialScheduleSeed
	qsl := inference.QSL{Name: "ScratchQSL", TotalSampleCount: 50000, PerformanceSampleCount: 1024}
	return &inference.Result{
		Schema:    inference.ResultSchema,
		Version:   "0.9.0",
		SUTName:   "ScratchQueueSUT",
		Backend:   "sim",
		Model:     "resnet50",
		QSL:       qsl,
		SampleSet: inference.SampleSetVersion,
		Requested: s,
		Effective: s.Effective(qsl),
		HintsFrom: "settings",
		StartedAt: startedAt,
		Series:    &inference.Series{LoadedSet: loadedSet(1024)},
	}
}

// offlineResult is reference/loadgen.md §8.1's observed Offline example:
// 27500 samples in 11.000091106 s.
func offlineResult() *inference.Result {
	s := inference.DefaultTestSettings()
	s.Scenario = inference.Offline
	s.OfflineExpectedQPS = 2500
	s.MinDurationMs = 10000
	r := base(s)
	r.GeneratedQueryCount = 1
	r.GeneratedSamplesPerQuery = 27500
	r.GeneratedQueryDurationNs = 400_000
	r.EndReason = "Ending naturally: Minimum query count and test duration met."
	r.QueriesIssued, r.SamplesIssued, r.SamplesComplete = 1, 27500, 27500
	r.FinalQueryIssuedNs = 18_211
	r.MaxLatencyNs = 11_000_091_106
	r.FinalQueryAllDoneNs = r.MaxLatencyNs
	r.DurationNs = 11_000_164_090
	r.Latency = inference.LatencyStats{
		MinNs: 524123, MaxNs: 11000091106, MeanNs: 5500294813,
		Percentiles: reported(5500487422, 9900490038, 10450484282, 10670546524, 10890614862, 10989292528),
	}
	r.TargetPercentile = 0.99
	r.TargetLatencyNs = 10890614862
	r.SamplesPerSecond = 27500 / (float64(r.MaxLatencyNs) / 1e9)
	r.EarlyStopping = inference.EarlyStopping{Met: true}
	r.Validity = inference.Validity{Valid: true, MinDurationMet: true, MinQueriesMet: true, EarlyStoppingMet: true}
	r.Metric = inference.Metric{Name: "result_samples_per_second", Value: r.SamplesPerSecond, Unit: "samples/s", HigherIsBetter: true}
	return r
}

// serverResult is reference/loadgen.md §8.1's observed Server example:
// target 1500 QPS, 15 ms bound, 1519.09 completed and 1519.25 scheduled.
func serverResult() *inference.Result {
	s := inference.DefaultTestSettings()
	s.Scenario = inference.Server
	s.ServerTargetQPS = 1500
	s.ServerTargetLatencyNs = 15_000_000
	s.MinDurationMs = 10000
	r := base(s)
	const n = 15196
	r.GeneratedQueryCount = n
	r.GeneratedSamplesPerQuery = 1
	r.GeneratedQueryDurationNs = 10_001_645_549
	r.QueriesIssued, r.SamplesIssued, r.SamplesComplete = n, n, n
	r.FinalQueryIssuedNs = 10_001_702_114
	r.FinalQueryScheduledNs = 10_001_645_549
	r.FinalQueryAllDoneNs = 10_002_709_510
	r.MaxLatencyNs = 10_529_540
	r.DurationNs = 10_002_733_001
	r.Latency = inference.LatencyStats{
		MinNs: 433490, MaxNs: 10529540, MeanNs: 1075930,
		Percentiles: reported(766958, 1737726, 2604559, 4329549, 5960936, 8621628),
	}
	r.TargetPercentile = 0.99
	r.TargetLatencyNs = 5960936
	r.CompletedSamplesPerSecond = (n - 1) / (float64(r.FinalQueryAllDoneNs) / 1e9)
	r.ScheduledSamplesPerSecond = (n - 1) / (float64(r.FinalQueryScheduledNs) / 1e9)
	r.EarlyStopping = inference.EarlyStopping{Applies: true, Met: true, Lines: []string{" * Run successful."}}
	r.Validity = inference.Validity{Valid: true, PerfConstraintsMet: yes(), MinDurationMet: true, MinQueriesMet: true, EarlyStoppingMet: true}
	r.Metric = inference.Metric{Name: "result_completed_samples_per_sec", Value: r.CompletedSamplesPerSecond, Unit: "samples/s", HigherIsBetter: true}
	return r
}

// serverInvalidResult is reference/loadgen.md §7.1's overloaded Server run:
// target 2700 QPS on a SUT that completes 2500/s.
func serverInvalidResult() *inference.Result {
	s := inference.DefaultTestSettings()
	s.Scenario = inference.Server
	s.ServerTargetQPS = 2700
	s.ServerTargetLatencyNs = 15_000_000
	s.MinDurationMs = 10000
	r := base(s)
	const n = 27270
	r.GeneratedQueryCount = n
	r.GeneratedSamplesPerQuery = 1
	r.GeneratedQueryDurationNs = 10_000_110_000
	r.QueriesIssued, r.SamplesIssued, r.SamplesComplete = n, n, n
	r.FinalQueryIssuedNs = 10_000_162_734
	r.FinalQueryScheduledNs = 10_000_110_000
	r.FinalQueryAllDoneNs = 10_912_925_507
	r.MaxLatencyNs = 912_812_210
	r.DurationNs = 10_912_900_114
	r.Latency = inference.LatencyStats{
		MinNs: 412007, MaxNs: 912812210, MeanNs: 455371630,
		Percentiles: reported(455212114, 820477343, 866095902, 884388661, 903614020, 911898557),
	}
	r.TargetPercentile = 0.99
	r.TargetLatencyNs = 903614020
	r.OverlatencyQueries = 26871
	r.CompletedSamplesPerSecond = (n - 1) / (float64(r.FinalQueryAllDoneNs) / 1e9)
	r.ScheduledSamplesPerSecond = (n - 1) / (float64(r.FinalQueryScheduledNs) / 1e9)
	r.EarlyStopping = inference.EarlyStopping{Applies: true, Met: false, Lines: []string{
		" * Run unsuccessful.",
		" * Processed 27270 queries.",
		" * Would need to run at least 1321386 more queries,",
		" with the run being successful if every additional",
		" query were under latency.",
	}}
	r.Validity = inference.Validity{
		Valid: false, PerfConstraintsMet: no(), MinDurationMet: true, MinQueriesMet: true, EarlyStoppingMet: false,
		Recommendations: []string{"Reduce target QPS to improve latency."},
		InvalidReason:   "Reduce target QPS to improve latency.",
	}
	r.Metric = inference.Metric{Name: "result_completed_samples_per_sec", Value: r.CompletedSamplesPerSecond, Unit: "samples/s", HigherIsBetter: true}
	return r
}

// singleStreamResult is a 10 s resnet50 SingleStream run of 8828 queries.
func singleStreamResult() *inference.Result {
	s := inference.DefaultTestSettings()
	s.Scenario = inference.SingleStream
	s.SingleStreamExpectedLatencyNs = 1_000_000
	s.MinDurationMs = 10000
	r := base(s)
	const n = 8828
	r.GeneratedQueryCount = 20000
	r.GeneratedSamplesPerQuery = 1
	r.GeneratedQueryDurationNs = 20_000_000_000
	r.EndReason = "Ending naturally: Minimum query count and test duration met."
	r.QueriesIssued, r.SamplesIssued, r.SamplesComplete = n, n, n
	r.FinalQueryIssuedNs = 10_000_950_321
	r.DurationNs = 10_002_080_559
	r.MaxLatencyNs = 4_820_377
	r.Latency = inference.LatencyStats{
		MinNs: 1010233, MaxNs: 4820377, MeanNs: 1120016,
		Percentiles: reported(1105117, 1180342, 1210995, 1240610, 1330871, 2950108),
	}
	r.TargetPercentile = 0.90
	r.TargetLatencyNs = 1180342
	r.QPSWithLoadgenOverhead = (n - 1) / (float64(r.FinalQueryIssuedNs) / 1e9)
	r.QPSWithoutLoadgenOverhead = 1e9 / float64(r.Latency.MeanNs)
	r.EarlyStopping = inference.EarlyStopping{Applies: true, Met: true, Lines: []string{
		" * Processed at least 64 queries (8828).",
		" * Would discard 816 highest latency queries.",
		" * Early stopping 90.0th percentile estimate: 1186004",
		" * Early stopping 99.0th percentile estimate: 1352119",
	}, EstimateNs: 1186004, Estimate99Ns: 1352119, Discarded: 816}
	r.Validity = inference.Validity{Valid: true, MinDurationMet: true, MinQueriesMet: true, EarlyStoppingMet: true}
	r.Metric = inference.Metric{Name: "early_stopping_latency_ss", Value: 1186004, Unit: "ns"}
	return r
}

// multiStreamResult is a 10 s resnet50 MultiStream run of 1000 queries of 8.
func multiStreamResult() *inference.Result {
	s := inference.DefaultTestSettings()
	s.Scenario = inference.MultiStream
	s.MultiStreamExpectedLatencyNs = 10_000_000
	s.MinDurationMs = 10000
	r := base(s)
	const q = 1000
	r.GeneratedQueryCount = 2000
	r.GeneratedSamplesPerQuery = 8
	r.GeneratedQueryDurationNs = 20_000_000_000
	r.EndReason = "Ending naturally: Minimum query count and test duration met."
	r.QueriesIssued, r.SamplesIssued, r.SamplesComplete = q, 8*q, 8*q
	r.FinalQueryIssuedNs = 10_001_040_870
	r.DurationNs = 10_011_202_631
	r.MaxLatencyNs = 11_800_412
	r.Latency = inference.LatencyStats{
		MinNs: 9102744, MaxNs: 11800412, MeanNs: 9705531,
		Percentiles: reported(9650228, 9980511, 10085930, 10190774, 10480003, 11440120),
	}
	r.QueryLatency = &inference.LatencyStats{
		MinNs: 9400126, MaxNs: 11800412, MeanNs: 10000150,
		Percentiles: reported(9850337, 10100212, 10200049, 10300871, 10600004, 11500222),
	}
	r.TargetPercentile = 0.99
	r.TargetLatencyNs = 10600004
	r.EarlyStopping = inference.EarlyStopping{Applies: true, Met: true, Lines: []string{
		" * Processed at least 662 queries (1000).",
		" * Would discard 1 highest latency queries.",
		" * Early stopping 99.0th percentile estimate: 10650120",
	}, EstimateNs: 10650120, Discarded: 1}
	r.Validity = inference.Validity{Valid: true, MinDurationMet: true, MinQueriesMet: true, EarlyStoppingMet: true}
	r.Metric = inference.Metric{Name: "early_stopping_latency_ms", Value: 10650120, Unit: "ns"}
	return r
}

// serverTokenResult is an LLM Server run in token mode with the v4.1 NVIDIA
// mixtral-8x7b numbers (testdata/mlperf/v4.1/.../mixtral-8x7b/Server).
func serverTokenResult() *inference.Result {
	s := inference.DefaultTestSettings()
	s.Scenario = inference.Server
	s.ServerTargetQPS = 348
	s.ServerTargetLatencyNs = 0
	s.MinDurationMs = 2_400_000
	s.UseTokenLatencies = true
	s.ServerTTFTLatencyNs = 2_000_000_000
	s.ServerTPOTLatencyNs = 200_000_000
	s.SampleConcatenatePermutation = true
	r := base(s)
	r.SUTName = "mixtral-8x7b-Server-SUT"
	r.Model = "mixtral-8x7b"
	r.QSL = inference.QSL{Name: "MixtralQSL", TotalSampleCount: 15000, PerformanceSampleCount: 15000}
	r.Effective = r.Requested.Effective(r.QSL)
	r.Series = &inference.Series{LoadedSet: loadedSet(16)}
	const n = 835608
	r.GeneratedQueryCount = n
	r.GeneratedSamplesPerQuery = 1
	r.GeneratedQueryDurationNs = 2_398_619_284_094
	r.QueriesIssued, r.SamplesIssued, r.SamplesComplete = n, n, n
	r.FinalQueryIssuedNs = 2_398_619_331_201
	r.FinalQueryScheduledNs = 2_398_619_284_094
	r.FinalQueryAllDoneNs = 2_400_776_003_871
	r.MaxLatencyNs = 117_495_267_316
	r.DurationNs = 2_400_776_102_553
	r.Latency = inference.LatencyStats{
		MinNs: 64307211, MaxNs: 117495267316, MeanNs: 15015963772,
		Percentiles: reported(11752821935, 29104102829, 37570722850, 44053760068, 61040681082, 102683836329),
	}
	r.TargetPercentile = 0.99
	r.TargetLatencyNs = 61040681082
	r.OverlatencyQueries = n
	r.CompletedSamplesPerSecond = (n - 1) / (float64(r.FinalQueryAllDoneNs) / 1e9)
	r.ScheduledSamplesPerSecond = (n - 1) / (float64(r.FinalQueryScheduledNs) / 1e9)
	r.Tokens = &inference.TokenStats{
		TotalTokens: 121_948_785,
		FirstToken: inference.LatencyStats{
			MinNs: 23133523, MaxNs: 3386784297, MeanNs: 180021403,
			Percentiles: reported(154281665, 285303834, 337075470, 380319335, 628885054, 1940936589),
		},
		TimePerOutputToken: inference.LatencyStats{
			MinNs: 10001287, MaxNs: 482959587, MeanNs: 102590339,
			Percentiles: reported(102777619, 112472224, 115705198, 118020508, 123136641, 136325318),
		},
		TTFTPercentileNs: 628885054,
		TPOTPercentileNs: 123136641,
	}
	r.Tokens.CompletedTokensPerSec = float64(r.Tokens.TotalTokens) / (float64(r.FinalQueryAllDoneNs) / 1e9)
	r.EarlyStopping = inference.EarlyStopping{Applies: true, Met: true,
		TTFTLines: []string{" * Run successful."},
		TPOTLines: []string{" * Run successful."},
	}
	r.Validity = inference.Validity{Valid: true, PerfConstraintsMet: yes(), MinDurationMet: true, MinQueriesMet: true, EarlyStoppingMet: true}
	r.Metric = inference.Metric{Name: "result_completed_tokens_per_second", Value: r.Tokens.CompletedTokensPerSec, Unit: "tokens/s", HigherIsBetter: true}
	return r
}

// goldenCases are the runs with golden files under testdata/.
var goldenCases = []struct {
	name string
	make func() *inference.Result
}{
	{"offline", offlineResult},
	{"server", serverResult},
	{"server_invalid", serverInvalidResult},
	{"server_tokens", serverTokenResult},
	{"single_stream", singleStreamResult},
	{"multi_stream", multiStreamResult},
}
