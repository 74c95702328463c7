package inference_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
)

// hostile edits settings the way a coordinator that cannot be trusted
// might; want names the field Validate must blame.
var hostileSettings = []struct {
	name string
	sc   inference.Scenario
	edit func(*inference.TestSettings)
	want string
}{
	{"min duration near 2^64", inference.SingleStream, func(s *inference.TestSettings) { s.MinDurationMs = math.MaxUint64 - 1 }, "min_duration_ms"},
	{"max duration near 2^64", inference.Offline, func(s *inference.TestSettings) { s.MaxDurationMs = math.MaxUint64 }, "max_duration_ms"},
	{"warm-up of 2^64 ms", inference.Offline, func(s *inference.TestSettings) { s.WarmupMs = math.MaxUint64 }, "warmup_ms"},
	{"drain of 2^64 ms", inference.Offline, func(s *inference.TestSettings) { s.DrainTimeoutMs = math.MaxUint64 }, "drain_timeout_ms"},
	{"max uint64 queries", inference.SingleStream, func(s *inference.TestSettings) { s.MinQueryCount = math.MaxUint64 }, "min_query_count"},
	{"max uint64 performance samples", inference.Offline, func(s *inference.TestSettings) { s.PerformanceSampleCountOverride = math.MaxUint64 }, "performance_sample_count_override"},
	{"max uint64 samples per query", inference.MultiStream, func(s *inference.TestSettings) { s.MultiStreamSamplesPerQuery = math.MaxUint64 }, "multi_stream_samples_per_query"},
	{"offline QPS 1e300", inference.Offline, func(s *inference.TestSettings) { s.OfflineExpectedQPS = 1e300 }, "offline_expected_qps"},
	{"offline QPS NaN", inference.Offline, func(s *inference.TestSettings) { s.OfflineExpectedQPS = math.NaN() }, "offline_expected_qps"},
	{"offline QPS negative", inference.Offline, func(s *inference.TestSettings) { s.OfflineExpectedQPS = -1 }, "offline_expected_qps"},
	{"server QPS +Inf", inference.Server, func(s *inference.TestSettings) { s.ServerTargetQPS = math.Inf(1) }, "server_target_qps"},
	{"server QPS 1e10", inference.Server, func(s *inference.TestSettings) { s.ServerTargetQPS = 1e10 }, "server_target_qps"},
	{"sub-nanosecond latency hint", inference.SingleStream, func(s *inference.TestSettings) { s.SingleStreamExpectedLatencyNs = 1e-300 }, "single_stream_expected_latency_ns"},
	{"latency hint of a century", inference.MultiStream, func(s *inference.TestSettings) { s.MultiStreamExpectedLatencyNs = 3.2e18 }, "multi_stream_expected_latency_ns"},
	{"infinite peak step", inference.Server, func(s *inference.TestSettings) { s.ServerFindPeakQPSBoundaryStepSize = math.Inf(1) }, "server_find_peak_qps_boundary_step_size"},
	{"latency bound near 2^64", inference.Server, func(s *inference.TestSettings) { s.ServerTargetLatencyNs = math.MaxUint64 }, "server_target_latency_ns"},
	{"accuracy probability NaN", inference.Offline, func(s *inference.TestSettings) { s.AccuracyLogProbability = math.NaN() }, "accuracy_log_probability"},
}

func TestValidateRefusesValuesPastTheBounds(t *testing.T) {
	for _, tc := range hostileSettings {
		t.Run(tc.name, func(t *testing.T) {
			s, _, err := inference.Settings("resnet50", tc.sc, inference.ProfileQuick)
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(&s)
			err = s.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v; want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestValidateAcceptsTheBounds(t *testing.T) {
	s, _, _ := inference.Settings("resnet50", inference.MultiStream, inference.ProfileQuick)
	s.MinDurationMs, s.MaxDurationMs, s.WarmupMs, s.DrainTimeoutMs = inference.MaxDurationMs, inference.MaxDurationMs, inference.MaxDurationMs, inference.MaxDurationMs
	s.MinQueryCount, s.MaxQueryCount = inference.MaxQueryCount, math.MaxUint64
	s.MultiStreamSamplesPerQuery = inference.MaxSamplesPerQuery
	s.PerformanceSampleCountOverride = inference.MaxSampleCount
	s.MultiStreamExpectedLatencyNs = 1
	if err := s.Validate(); err != nil {
		t.Fatalf("settings at every bound: %v", err)
	}
	// At the bounds the arithmetic saturates instead of wrapping.
	f := inference.EstimateFootprint(s, inference.QSL{TotalSampleCount: inference.MaxSampleCount, PerformanceSampleCount: inference.MaxSampleCount})
	if f.Bytes < 1<<50 {
		t.Fatalf("footprint at the bounds %d bytes; want petabytes", f.Bytes)
	}
}

func TestFootprintNamesTheSetting(t *testing.T) {
	const limit = 64 << 20
	for _, tc := range []struct {
		name string
		sc   inference.Scenario
		edit func(*inference.TestSettings)
		qsl  func(*inference.QSL)
		want string
	}{
		{"single-stream queries", inference.SingleStream, func(s *inference.TestSettings) { s.MinQueryCount = 1 << 30 }, nil, "min_query_count 1073741824"},
		{"single-stream rate", inference.SingleStream, func(s *inference.TestSettings) {
			s.MinDurationMs, s.SingleStreamExpectedLatencyNs = 3_600_000, 1000
		}, nil, "single_stream_expected_latency_ns"},
		{"multi-stream samples per query", inference.MultiStream, func(s *inference.TestSettings) {
			s.MultiStreamSamplesPerQuery = 1 << 20
		}, nil, "multi_stream_samples_per_query 1048576"},
		{"offline rate", inference.Offline, func(s *inference.TestSettings) {
			s.OfflineExpectedQPS, s.MinDurationMs = 1e8, 600_000
		}, nil, "offline_expected_qps 1e+08 × min_duration_ms 600000"},
		{"server rate", inference.Server, func(s *inference.TestSettings) {
			s.ServerTargetQPS, s.MinDurationMs = 1e7, 600_000
		}, nil, "server_target_qps 1e+07"},
		{"performance sample count", inference.Offline, func(s *inference.TestSettings) {
			s.PerformanceSampleCountOverride = 1 << 31
		}, func(q *inference.QSL) { q.TotalSampleCount = 1 << 32 }, "performance_sample_count_override 2147483648"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, qsl, _ := inference.Settings("resnet50", tc.sc, inference.ProfileQuick)
			tc.edit(&s)
			if tc.qsl != nil {
				tc.qsl(&qsl)
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			err := inference.EstimateFootprint(s, qsl).CheckMemory(limit, "max_run_memory")
			var tl *inference.TooLargeError
			if !errors.As(err, &tl) || !errors.Is(err, inference.ErrRunTooLarge) {
				t.Fatalf("CheckMemory = %v; want a *TooLargeError", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "64.0 MiB (max_run_memory)") {
				t.Fatalf("error %q; want it to name %q and the limit", err, tc.want)
			}
		})
	}
	// MLPerf's own 600 s runs at 10,000 QPS fit in a GiB.
	for _, sc := range inference.Scenarios {
		s, qsl, _ := inference.Settings("resnet50", sc, inference.ProfileMLPerf)
		s.OfflineExpectedQPS, s.ServerTargetQPS = 10_000, 10_000
		if err := inference.EstimateFootprint(s, qsl).CheckMemory(1<<30, "max_run_memory"); err != nil {
			t.Errorf("%s at 10,000 QPS for 600 s: %v", sc, err)
		}
	}
}

// TestFootprintBoundsTheRun checks the estimate against what a run really
// plans: it must never be below it.
func TestFootprintBoundsTheRun(t *testing.T) {
	for _, sc := range inference.Scenarios {
		t.Run(sc.String(), func(t *testing.T) {
			cfg := quickConfig(t, sc)
			cfg.Settings.ServerTargetQPS, cfg.Settings.OfflineExpectedQPS = 5000, 5000
			cfg.Settings.SingleStreamExpectedLatencyNs, cfg.Settings.MultiStreamExpectedLatencyNs = 50_000, 100_000
			f := inference.EstimateFootprint(cfg.Settings, cfg.QSL)
			cfg.MemoryLimit = f.Bytes
			res, err := inference.Run(t.Context(), &inlineBackend{}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.GeneratedQueryCount > f.Queries || res.GeneratedQueryCount*res.GeneratedSamplesPerQuery > f.Samples {
				t.Fatalf("generated %d queries of %d samples; the footprint planned %d queries, %d samples",
					res.GeneratedQueryCount, res.GeneratedSamplesPerQuery, f.Queries, f.Samples)
			}
		})
	}
}

func TestRunRefusesATooLargeRunBeforeAllocating(t *testing.T) {
	for _, tc := range []struct {
		name string
		sc   inference.Scenario
		edit func(*inference.TestSettings)
	}{
		{"single-stream at the query bound", inference.SingleStream, func(s *inference.TestSettings) { s.MinQueryCount = inference.MaxQueryCount }},
		{"multi-stream at the samples-per-query bound", inference.MultiStream, func(s *inference.TestSettings) {
			s.MultiStreamSamplesPerQuery = inference.MaxSamplesPerQuery
			s.MinQueryCount = inference.MaxQueryCount
		}},
		{"offline at the rate bound", inference.Offline, func(s *inference.TestSettings) {
			s.OfflineExpectedQPS, s.MinDurationMs = inference.MaxRate, inference.MaxDurationMs
		}},
		{"server at the rate bound", inference.Server, func(s *inference.TestSettings) {
			s.ServerTargetQPS, s.MinDurationMs = inference.MaxRate, inference.MaxDurationMs
		}},
		{"the largest sample set", inference.Offline, func(s *inference.TestSettings) {
			s.PerformanceSampleCountOverride = inference.MaxSampleCount
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := quickConfig(t, tc.sc)
			tc.edit(&cfg.Settings)
			cfg.QSL.TotalSampleCount = inference.MaxSampleCount
			cfg.MemoryLimit, cfg.MemoryLimitName = 256<<20, "test limit"
			start := time.Now()
			_, err := inference.Run(t.Context(), &inlineBackend{}, cfg)
			if !errors.Is(err, inference.ErrRunTooLarge) || !strings.Contains(err.Error(), "test limit") {
				t.Fatalf("Run = %v; want ErrRunTooLarge naming the limit", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("refusing took %s", d)
			}
		})
	}
}

// TestRunStopsGeneratingWhenCancelled is a SingleStream run whose
// generation alone would take many minutes: cancelling must end it.
func TestRunStopsGeneratingWhenCancelled(t *testing.T) {
	cfg := quickConfig(t, inference.SingleStream)
	cfg.Settings.MinQueryCount = inference.MaxQueryCount
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := inference.Run(ctx, &inlineBackend{}, cfg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v; want the deadline's error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("a cancelled generation took %s to stop", d)
	}
}

// TestFindPeakStopsWideningAtTheMemoryLimit: a search whose upper bound
// would need more memory than allowed takes that rate as its bound
// instead of failing.
func TestFindPeakStopsWideningAtTheMemoryLimit(t *testing.T) {
	cfg := quickConfig(t, inference.Server)
	cfg.Settings.MinDurationMs = 200
	cfg.Settings.ServerTargetQPS = 2000
	cfg.Settings.ServerTargetLatencyNs = uint64(time.Second)
	cfg.Settings.ServerFindPeakQPSBoundaryStepSize = 10
	// 2000 QPS fits (with the probes' 2010 queries); 22,000 does not.
	probe := cfg.Settings
	probe.MinQueryCount = 2010
	cfg.MemoryLimit = inference.EstimateFootprint(probe, cfg.QSL).Bytes + 8<<10
	res, err := inference.FindPeak(t.Context(), &inlineBackend{}, cfg, 500)
	if err != nil {
		t.Fatal(err)
	}
	if res.Peak == nil || !strings.Contains(res.Peak.Note, "memory limit") {
		t.Fatalf("peak %+v; want a note that memory bounded the search", res.Peak)
	}
}
