package inference

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// TestSettings mirrors LoadGen's mlperf::TestSettings field for field, with
// LoadGen's defaults (see DefaultTestSettings); the JSON names are LoadGen's.
// The last group of fields are gpuperf's own.
type TestSettings struct {
	Scenario Scenario `json:"scenario"`
	Mode     Mode     `json:"mode"`

	SingleStreamExpectedLatencyNs       float64 `json:"single_stream_expected_latency_ns"`
	SingleStreamTargetLatencyPercentile float64 `json:"single_stream_target_latency_percentile"`
	MultiStreamExpectedLatencyNs        float64 `json:"multi_stream_expected_latency_ns"`
	MultiStreamTargetLatencyPercentile  float64 `json:"multi_stream_target_latency_percentile"`
	MultiStreamSamplesPerQuery          uint64  `json:"multi_stream_samples_per_query"`

	ServerTargetQPS                      float64 `json:"server_target_qps"`
	ServerTargetLatencyNs                uint64  `json:"server_target_latency_ns"`
	ServerTargetLatencyPercentile        float64 `json:"server_target_latency_percentile"`
	ServerCoalesceQueries                bool    `json:"server_coalesce_queries"`
	ServerFindPeakQPSDecimalsOfPrecision int     `json:"server_find_peak_qps_decimals_of_precision"`
	ServerFindPeakQPSBoundaryStepSize    float64 `json:"server_find_peak_qps_boundary_step_size"`
	ServerMaxAsyncQueries                uint64  `json:"server_max_async_queries"`

	OfflineExpectedQPS float64 `json:"offline_expected_qps"`

	SampleConcatenatePermutation bool `json:"sample_concatenate_permutation"`

	MinDurationMs uint64 `json:"min_duration_ms"`
	MaxDurationMs uint64 `json:"max_duration_ms"`
	MinQueryCount uint64 `json:"min_query_count"`
	MaxQueryCount uint64 `json:"max_query_count"`

	QSLRNGSeed         uint64 `json:"qsl_rng_seed"`
	SampleIndexRNGSeed uint64 `json:"sample_index_rng_seed"`
	ScheduleRNGSeed    uint64 `json:"schedule_rng_seed"`
	AccuracyLogRNGSeed uint64 `json:"accuracy_log_rng_seed"`

	AccuracyLogProbability    float64 `json:"accuracy_log_probability"`
	AccuracyLogSamplingTarget uint64  `json:"accuracy_log_sampling_target"`
	PrintTimestamps           bool    `json:"print_timestamps"`

	PerformanceIssueUnique         bool   `json:"performance_issue_unique"`
	PerformanceIssueSame           bool   `json:"performance_issue_same"`
	PerformanceIssueSameIndex      uint64 `json:"performance_issue_same_index"`
	PerformanceSampleCountOverride uint64 `json:"performance_sample_count_override"`
	AccuracySampleCountOverride    uint64 `json:"accuracy_sample_count_override"`

	UseTokenLatencies         bool   `json:"use_token_latencies"`
	ServerTTFTLatencyNs       uint64 `json:"server_ttft_latency"`
	ServerTPOTLatencyNs       uint64 `json:"server_tpot_latency"`
	InferTokenLatencies       bool   `json:"infer_token_latencies"`
	TokenLatencyScalingFactor uint64 `json:"token_latency_scaling_factor"`

	// WarmupMs is gpuperf's untimed warm-up before every timed run, so cold
	// caches, clocks and JIT compilation never land in the numbers.
	WarmupMs uint64 `json:"warmup_ms"`
	// DrainTimeoutMs is the floor of the guard on waiting for outstanding
	// samples (see drain.go): the run ends INVALID when no sample completes
	// for 10 × its expected time per query, or the wait lasts 10 × its
	// expected duration, each at least this long. LoadGen waits forever.
	DrainTimeoutMs uint64 `json:"drain_timeout_ms"`
	// MaxErrorPct is the share of failed samples, in percent, above which
	// the run is INVALID. The default, 0, lets no failure pass: a run
	// whose backend failed samples did less work than its numbers claim.
	MaxErrorPct float64 `json:"max_error_pct"`
	// PeakBudgetMs bounds a Server peak search's wall time, probes and
	// confirmation together; 0 derives it from min_duration (see
	// PeakBudget). PeakMinQPS is the lowest target QPS the search probes;
	// 0 is 1/64 of where it starts.
	PeakBudgetMs uint64  `json:"peak_budget_ms,omitempty"`
	PeakMinQPS   float64 `json:"peak_min_qps,omitempty"`
	// GeneratorSpin is how the Server generator waits for each arrival
	// (auto, always or never; see SpinPolicy). Results recorded before it
	// existed lack it: their generator spun as always does now.
	GeneratorSpin SpinPolicy `json:"generator_spin"`
}

// Official MLPerf seeds from mlperf.conf (LoadGen 6.0.17).
const (
	OfficialQSLSeed         uint64 = 2085463073848966840
	OfficialSampleIndexSeed uint64 = 2747215439041700203
	OfficialScheduleSeed    uint64 = 16159082839903944936
)

// DefaultTestSettings returns LoadGen's TestSettings defaults (test_settings.h)
// and gpuperf's defaults for its own fields.
func DefaultTestSettings() TestSettings {
	return TestSettings{
		Scenario:                             SingleStream,
		Mode:                                 PerformanceOnly,
		SingleStreamExpectedLatencyNs:        1_000_000,
		SingleStreamTargetLatencyPercentile:  0.90,
		MultiStreamExpectedLatencyNs:         8_000_000,
		MultiStreamTargetLatencyPercentile:   0.99,
		MultiStreamSamplesPerQuery:           8,
		ServerTargetQPS:                      1,
		ServerTargetLatencyNs:                100_000_000,
		ServerTargetLatencyPercentile:        0.99,
		ServerFindPeakQPSDecimalsOfPrecision: 1,
		ServerFindPeakQPSBoundaryStepSize:    1,
		OfflineExpectedQPS:                   1,
		MinDurationMs:                        10_000,
		MinQueryCount:                        100,
		ServerTTFTLatencyNs:                  100_000_000,
		ServerTPOTLatencyNs:                  100_000_000,
		DrainTimeoutMs:                       30_000,
		GeneratorSpin:                        SpinAuto,
	}
}

// MinDuration is min_duration_ms as a duration.
func (s TestSettings) MinDuration() time.Duration {
	return time.Duration(s.MinDurationMs) * time.Millisecond
}

// Validate reports settings no run can use, naming each field.
func (s TestSettings) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	positive := func(field string, v float64) {
		if !(v > 0) || math.IsInf(v, 0) {
			bad(field, "must be a positive number, got %v", v)
		}
	}
	percentile := func(field string, v float64) {
		if !(v > 0 && v < 1) {
			bad(field, "must be between 0 and 1 (exclusive), got %v", v)
		}
	}
	// Upper bounds keep the generator's arithmetic exact (see limits.go).
	atMost := func(field string, v, limit uint64) {
		if v > limit {
			bad(field, "%d is above the largest allowed, %d", v, limit)
		}
	}
	rate := func(field string, v float64) {
		if v > MaxRate {
			bad(field, "%g is above the largest allowed, %g", v, MaxRate)
		}
	}
	latencyHint := func(field string, v float64) {
		if v > 0 && (v < 1 || v > maxDurationNs) {
			bad(field, "%g ns is outside 1 ns .. %d ns (30 days)", v, uint64(maxDurationNs))
		}
	}
	switch s.Scenario {
	case SingleStream:
		positive("single_stream_expected_latency_ns", s.SingleStreamExpectedLatencyNs)
		latencyHint("single_stream_expected_latency_ns", s.SingleStreamExpectedLatencyNs)
		percentile("single_stream_target_latency_percentile", s.SingleStreamTargetLatencyPercentile)
	case MultiStream:
		positive("multi_stream_expected_latency_ns", s.MultiStreamExpectedLatencyNs)
		latencyHint("multi_stream_expected_latency_ns", s.MultiStreamExpectedLatencyNs)
		percentile("multi_stream_target_latency_percentile", s.MultiStreamTargetLatencyPercentile)
		if s.MultiStreamSamplesPerQuery == 0 {
			bad("multi_stream_samples_per_query", "must be at least 1")
		}
	case Server:
		positive("server_target_qps", s.ServerTargetQPS)
		rate("server_target_qps", s.ServerTargetQPS)
		percentile("server_target_latency_percentile", s.ServerTargetLatencyPercentile)
		if st := s.ServerFindPeakQPSBoundaryStepSize; !(st > 0 && st <= MaxStepSize) {
			bad("server_find_peak_qps_boundary_step_size", "must be positive and at most %d, got %v", MaxStepSize, st)
		}
		if s.ServerFindPeakQPSDecimalsOfPrecision < 0 || s.ServerFindPeakQPSDecimalsOfPrecision > 6 {
			bad("server_find_peak_qps_decimals_of_precision", "must be between 0 and 6, got %d", s.ServerFindPeakQPSDecimalsOfPrecision)
		}
	case Offline:
		positive("offline_expected_qps", s.OfflineExpectedQPS)
		rate("offline_expected_qps", s.OfflineExpectedQPS)
	default:
		bad("scenario", "unknown scenario %d", int(s.Scenario))
	}
	if s.Mode != PerformanceOnly && s.Mode != FindPeakPerformance {
		bad("mode", "%s is not supported: gpuperf measures performance only", s.Mode)
	}
	if s.Mode == FindPeakPerformance && s.Scenario != Server {
		bad("mode", "Finding peak performance is only supported in Server scenarios.")
	}
	if s.MinDurationMs == 0 {
		bad("min_duration_ms", "must be positive")
	}
	if s.MaxDurationMs != 0 && s.MaxDurationMs < s.MinDurationMs {
		bad("max_duration_ms", "%d is below min_duration_ms %d", s.MaxDurationMs, s.MinDurationMs)
	}
	if s.MaxQueryCount != 0 && s.MaxQueryCount < s.MinQueryCount {
		bad("max_query_count", "%d is below min_query_count %d", s.MaxQueryCount, s.MinQueryCount)
	}
	if s.DrainTimeoutMs == 0 {
		bad("drain_timeout_ms", "must be positive")
	}
	if !(s.PeakMinQPS >= 0) || math.IsInf(s.PeakMinQPS, 0) {
		bad("peak_min_qps", "must be 0 (1/64 of the starting QPS) or a positive number, got %v", s.PeakMinQPS)
	}
	if !(s.MaxErrorPct >= 0 && s.MaxErrorPct <= 100) {
		bad("max_error_pct", "%g is outside 0..100", s.MaxErrorPct)
	}
	if _, err := ParseSpinPolicy(string(s.GeneratorSpin)); err != nil {
		bad("generator_spin", "%v", err)
	}
	if s.PerformanceIssueUnique && s.PerformanceIssueSame {
		bad("performance_issue_unique", "cannot be combined with performance_issue_same")
	}
	for _, d := range []struct {
		field string
		v     uint64
	}{
		{"min_duration_ms", s.MinDurationMs}, {"max_duration_ms", s.MaxDurationMs},
		{"warmup_ms", s.WarmupMs}, {"drain_timeout_ms", s.DrainTimeoutMs},
	} {
		atMost(d.field, d.v, MaxDurationMs)
	}
	for _, d := range []struct {
		field string
		v     uint64
	}{
		{"server_target_latency_ns", s.ServerTargetLatencyNs}, {"server_ttft_latency", s.ServerTTFTLatencyNs},
		{"server_tpot_latency", s.ServerTPOTLatencyNs},
	} {
		atMost(d.field, d.v, maxDurationNs)
	}
	atMost("min_query_count", s.MinQueryCount, MaxQueryCount)
	atMost("multi_stream_samples_per_query", s.MultiStreamSamplesPerQuery, MaxSamplesPerQuery)
	atMost("performance_sample_count_override", s.PerformanceSampleCountOverride, MaxSampleCount)
	atMost("accuracy_sample_count_override", s.AccuracySampleCountOverride, MaxSampleCount)
	if p := s.AccuracyLogProbability; !(p >= 0 && p <= 1) {
		bad("accuracy_log_probability", "must be between 0 and 1, got %v", p)
	}
	return errors.Join(errs...)
}

// Validate reports data-set counts the generator cannot index.
func (q QSL) Validate() error {
	var errs []error
	for _, c := range []struct {
		field string
		v     uint64
	}{{"total_sample_count", q.TotalSampleCount}, {"performance_sample_count", q.PerformanceSampleCount}} {
		if c.v > MaxSampleCount {
			errs = append(errs, fmt.Errorf("%s: %d is above the largest allowed, %d", c.field, c.v, uint64(MaxSampleCount)))
		}
	}
	return errors.Join(errs...)
}

// QSL describes the data set behind a backend: LoadGen's QuerySampleLibrary
// counts.
type QSL struct {
	Name                   string `json:"name"`
	TotalSampleCount       uint64 `json:"total_sample_count"`
	PerformanceSampleCount uint64 `json:"performance_sample_count"`
}

// EffectiveSettings are the values LoadGen derives from the requested ones
// (test_settings_internal.cc) and logs as effective_*; the checker reads these.
type EffectiveSettings struct {
	Scenario                     Scenario `json:"scenario"`
	Mode                         Mode     `json:"mode"`
	SamplesPerQuery              uint64   `json:"samples_per_query"`
	TargetQPS                    float64  `json:"target_qps"`
	TargetLatencyNs              uint64   `json:"target_latency_ns"`
	TargetLatencyPercentile      float64  `json:"target_latency_percentile"`
	MaxAsyncQueries              uint64   `json:"max_async_queries"`
	TargetDurationMs             uint64   `json:"target_duration_ms"`
	MinDurationMs                uint64   `json:"min_duration_ms"`
	MaxDurationMs                uint64   `json:"max_duration_ms"`
	MinQueryCount                uint64   `json:"min_query_count"`
	MaxQueryCount                uint64   `json:"max_query_count"`
	MinSampleCount               uint64   `json:"min_sample_count"`
	QSLRNGSeed                   uint64   `json:"qsl_rng_seed"`
	SampleIndexRNGSeed           uint64   `json:"sample_index_rng_seed"`
	ScheduleRNGSeed              uint64   `json:"schedule_rng_seed"`
	AccuracyLogRNGSeed           uint64   `json:"accuracy_log_rng_seed"`
	AccuracyLogProbability       float64  `json:"accuracy_log_probability"`
	AccuracyLogSamplingTarget    uint64   `json:"accuracy_log_sampling_target"`
	PrintTimestamps              bool     `json:"print_timestamps"`
	PerformanceIssueUnique       bool     `json:"performance_issue_unique"`
	PerformanceIssueSame         bool     `json:"performance_issue_same"`
	PerformanceIssueSameIndex    uint64   `json:"performance_issue_same_index"`
	PerformanceSampleCount       uint64   `json:"performance_sample_count"`
	AccuracySampleCount          uint64   `json:"accuracy_sample_count"`
	SampleConcatenatePermutation bool     `json:"sample_concatenate_permutation"`
	UseTokenLatencies            bool     `json:"use_token_latencies"`
	ServerTTFTLatencyNs          uint64   `json:"server_ttft_latency"`
	ServerTPOTLatencyNs          uint64   `json:"server_tpot_latency"`
}

// kSlack is LoadGen's Offline query-size slack.
const kSlack = 1.1

// Effective derives the effective settings as LoadGen's TestSettingsInternal
// constructor does (reference/loadgen.md §4.2).
func (s TestSettings) Effective(qsl QSL) EffectiveSettings {
	e := EffectiveSettings{
		Scenario:                     s.Scenario,
		Mode:                         s.Mode,
		SamplesPerQuery:              1,
		MaxAsyncQueries:              1,
		MinDurationMs:                s.MinDurationMs,
		MaxDurationMs:                s.MaxDurationMs,
		MinQueryCount:                s.MinQueryCount,
		MaxQueryCount:                s.MaxQueryCount,
		QSLRNGSeed:                   s.QSLRNGSeed,
		SampleIndexRNGSeed:           s.SampleIndexRNGSeed,
		ScheduleRNGSeed:              s.ScheduleRNGSeed,
		AccuracyLogRNGSeed:           s.AccuracyLogRNGSeed,
		AccuracyLogProbability:       s.AccuracyLogProbability,
		AccuracyLogSamplingTarget:    s.AccuracyLogSamplingTarget,
		PrintTimestamps:              s.PrintTimestamps,
		PerformanceIssueUnique:       s.PerformanceIssueUnique,
		PerformanceIssueSame:         s.PerformanceIssueSame,
		PerformanceIssueSameIndex:    s.PerformanceIssueSameIndex,
		SampleConcatenatePermutation: s.SampleConcatenatePermutation,
		UseTokenLatencies:            s.UseTokenLatencies,
		ServerTTFTLatencyNs:          s.ServerTTFTLatencyNs,
		ServerTPOTLatencyNs:          s.ServerTPOTLatencyNs,
	}
	e.PerformanceSampleCount = qsl.PerformanceSampleCount
	if s.PerformanceSampleCountOverride != 0 {
		e.PerformanceSampleCount = s.PerformanceSampleCountOverride
	}
	if qsl.TotalSampleCount != 0 && e.PerformanceSampleCount > qsl.TotalSampleCount {
		e.PerformanceSampleCount = qsl.TotalSampleCount
	}
	e.AccuracySampleCount = qsl.TotalSampleCount
	if s.AccuracySampleCountOverride != 0 {
		e.AccuracySampleCount = s.AccuracySampleCountOverride
	}
	switch s.Scenario {
	case SingleStream:
		e.TargetQPS = 1e9 / s.SingleStreamExpectedLatencyNs
		e.TargetLatencyPercentile = s.SingleStreamTargetLatencyPercentile
		e.TargetDurationMs = s.MinDurationMs
	case MultiStream:
		e.SamplesPerQuery = s.MultiStreamSamplesPerQuery
		e.TargetQPS = 1e9 / s.MultiStreamExpectedLatencyNs
		e.TargetLatencyPercentile = s.MultiStreamTargetLatencyPercentile
		e.TargetDurationMs = s.MinDurationMs
	case Server:
		e.TargetQPS = s.ServerTargetQPS
		e.TargetLatencyNs = s.ServerTargetLatencyNs
		e.TargetLatencyPercentile = s.ServerTargetLatencyPercentile
		e.MaxAsyncQueries = s.ServerMaxAsyncQueries
		e.TargetDurationMs = s.MinDurationMs
	case Offline:
		e.TargetQPS = s.OfflineExpectedQPS
		e.TargetLatencyPercentile = 0.99
		spq := uint64(math.Floor(kSlack * float64(s.MinDurationMs) / 1000 * s.OfflineExpectedQPS))
		e.SamplesPerQuery = max(s.MinQueryCount, spq)
		if s.PerformanceIssueUnique {
			e.SamplesPerQuery = e.PerformanceSampleCount
		}
		if s.SampleConcatenatePermutation && e.PerformanceSampleCount > 0 {
			if r := e.SamplesPerQuery % e.PerformanceSampleCount; r != 0 {
				e.SamplesPerQuery += e.PerformanceSampleCount - r
			}
		}
		e.MinQueryCount = 1
		e.TargetDurationMs = 0
	}
	e.MinSampleCount = e.MinQueryCount * e.SamplesPerQuery
	return e
}
