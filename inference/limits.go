package inference

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Upper bounds TestSettings.Validate holds every setting to, whatever the
// host: beyond them the load generator's arithmetic (nanoseconds in an
// int64, sample indices in a uint32, products of counts in a uint64)
// would overflow. What a host can afford is the memory limit's business
// (Footprint).
const (
	// MaxDurationMs bounds every duration setting: 30 days.
	MaxDurationMs = 30 * 24 * 3600 * 1000
	// MaxRate bounds a rate (QPS): one query per nanosecond.
	MaxRate = 1e9
	// MaxSampleCount bounds data-set and performance sample counts: the
	// generator indexes samples with 32 bits.
	MaxSampleCount = 1 << 32
	// MaxQueryCount bounds min_query_count.
	MaxQueryCount = 1 << 40
	// MaxSamplesPerQuery bounds multi_stream_samples_per_query.
	MaxSamplesPerQuery = 1 << 20
	// MaxStepSize bounds server_find_peak_qps_boundary_step_size.
	MaxStepSize = 1000
)

// maxDurationNs is MaxDurationMs in nanoseconds.
const maxDurationNs = MaxDurationMs * 1_000_000

// ErrRunTooLarge marks a run whose settings need more memory, or a larger
// result, than its limit allows; the error is a *TooLargeError.
var ErrRunTooLarge = errors.New("run too large")

// TooLargeError says which setting makes a run too large, what it needs and
// what the limit is.
type TooLargeError struct {
	// Setting names the setting (or settings) that drive the size, with
	// their values.
	Setting string
	// What is "memory" or the thing that must fit, such as "the detail log".
	What string
	// Need and Limit are in bytes.
	Need, Limit uint64
	// LimitName says where the limit comes from, e.g. "max_run_memory".
	LimitName string
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: the run needs about %s of %s, above the limit of %s (%s)",
		e.Setting, FormatBytes(e.Need), e.What, FormatBytes(e.Limit), e.LimitName)
}

// Is makes errors.Is(err, ErrRunTooLarge) hold.
func (e *TooLargeError) Is(target error) bool { return target == ErrRunTooLarge }

// Footprint is what a timed run will hold, computed from its settings
// before anything is allocated. Every product saturates at the largest
// uint64 instead of wrapping, so absurd settings give a huge footprint,
// never a small one.
type Footprint struct {
	// Queries and Samples are the most the generator will plan.
	Queries, Samples uint64
	// SampleSet is the performance sample set's size.
	SampleSet uint64
	// Bytes is the memory the run's arrays need, warm-up included.
	Bytes uint64
	// DetailBytes bounds the detail log, whose loaded_qsl_set line lists
	// the whole sample set.
	DetailBytes uint64
	// Driver names the settings that decide the size.
	Driver string
	// SetDriver names the setting that decides the sample set's size.
	SetDriver string
}

// Fixed costs of any run: the warm-up's arrays (at most warmupCap samples
// of latency, tokens and origin) and slack for the result, its logs and the
// Go runtime.
const (
	warmupBytes   = warmupCap * (8 + 16 + 8)
	runSlackBytes = 16 << 20
	// detailFixedBytes is the detail log without loaded_qsl_set.
	detailFixedBytes = 64 << 10
	// digitsPerIndex is the longest sample index written in the detail
	// log, with its comma.
	digitsPerIndex = 11
)

// EstimateFootprint computes the footprint of a run with settings s and
// data set qsl. s must have passed Validate.
func EstimateFootprint(s TestSettings, qsl QSL) Footprint {
	e := s.Effective(qsl)
	var f Footprint
	p := max(e.PerformanceSampleCount, 1)
	f.SampleSet = p
	f.SetDriver = fmt.Sprintf("performance_sample_count %d", p)
	if s.PerformanceSampleCountOverride != 0 {
		f.SetDriver = fmt.Sprintf("performance_sample_count_override %d", s.PerformanceSampleCountOverride)
	}
	spq := max(e.SamplesPerQuery, 1)
	// Equal-issue mode tops the query count up by at most one sample set.
	var topUp uint64
	if e.SampleConcatenatePermutation {
		topUp = p
	}
	switch e.Scenario {
	case Offline:
		f.Queries, f.Samples = 1, spq
		switch {
		case s.PerformanceIssueUnique:
			f.Driver = f.SetDriver + " (performance_issue_unique)"
		case spq > s.MinQueryCount:
			f.Driver = fmt.Sprintf("offline_expected_qps %g × min_duration_ms %d", s.OfflineExpectedQPS, s.MinDurationMs)
		default:
			f.Driver = fmt.Sprintf("min_query_count %d", s.MinQueryCount)
		}
	case Server:
		// serverSchedule sizes its slice to the Poisson mean plus six
		// standard deviations, or the minimum query count.
		mean := e.TargetQPS * float64(e.MinDurationMs) / 1000
		byRate := satFloat(mean + 6*math.Sqrt(mean) + 64)
		f.Queries = satAdd(max(byRate, e.MinQueryCount), topUp)
		f.Samples = f.Queries
		f.Driver = fmt.Sprintf("server_target_qps %g × min_duration_ms %d", s.ServerTargetQPS, s.MinDurationMs)
		if e.MinQueryCount > byRate {
			f.Driver = fmt.Sprintf("min_query_count %d", s.MinQueryCount)
		}
	default: // SingleStream, MultiStream: 2 × min_duration at the hinted rate
		latency := s.SingleStreamExpectedLatencyNs
		latencyKey := "single_stream_expected_latency_ns"
		if e.Scenario == MultiStream {
			latency, latencyKey = s.MultiStreamExpectedLatencyNs, "multi_stream_expected_latency_ns"
		}
		spacing := max(math.Trunc(latency), 1)
		byRate := satFloat(2*float64(e.MinDurationMs)*1e6/spacing + 2)
		minQ := e.MinQueryCount
		if e.SampleConcatenatePermutation && e.Scenario == SingleStream {
			minQ = max(minQ, satFloat(2*float64(e.MinDurationMs)/1000*e.TargetQPS))
		}
		f.Queries = satAdd(max(byRate, minQ), topUp)
		f.Samples = satMul(f.Queries, spq)
		f.Driver = fmt.Sprintf("min_duration_ms %d ÷ %s %g", s.MinDurationMs, latencyKey, latency)
		if minQ > byRate {
			f.Driver = fmt.Sprintf("min_query_count %d", s.MinQueryCount)
		}
		if e.Scenario == MultiStream && spq > 1 {
			f.Driver += fmt.Sprintf(" × multi_stream_samples_per_query %d", spq)
		}
	}
	// Per sample: its index (4) and latency (8), and in token mode the
	// first-token time and token count (16) and their sorted copies (16).
	// Offline issues every sample at once: the query's []Sample (16) and a
	// backend's queue of them (16).
	perSample := uint64(4 + 8)
	if s.UseTokenLatencies {
		perSample += 32
	}
	if e.Scenario == Offline {
		perSample += 16 + 16
	}
	// Per query: its origin or scheduled offset (8); MultiStream's query
	// latencies (8); equal-issue permutations (4).
	perQuery := uint64(8)
	if e.Scenario == MultiStream {
		perQuery += 8
	}
	if e.SampleConcatenatePermutation {
		perQuery += 4
	}
	b := satMul(f.Samples, perSample)
	b = satAdd(b, satMul(f.Queries, perQuery))
	// The sample set, MultiStream's padding, the shuffles of it and the
	// permutation copies (uint32 each, uint64 for the unique starts).
	b = satAdd(b, satMul(satAdd(p, spq), 4+4+8))
	b = satAdd(b, warmupBytes+runSlackBytes)
	// The detail log is rendered, then copied into the result message.
	f.DetailBytes = satAdd(satMul(p, digitsPerIndex), detailFixedBytes)
	f.Bytes = satAdd(b, satMul(f.DetailBytes, 3))
	return f
}

// CheckMemory returns a *TooLargeError when the run needs more than limit
// bytes; limitName says where the limit comes from. A zero limit allows
// anything.
func (f Footprint) CheckMemory(limit uint64, limitName string) error {
	if limit == 0 || f.Bytes <= limit {
		return nil
	}
	driver := f.Driver
	if setBytes := satMul(f.SampleSet, 4+4+8+3*digitsPerIndex); setBytes > f.Bytes/2 {
		driver = f.SetDriver
	}
	return &TooLargeError{Setting: driver, What: "memory", Need: f.Bytes, Limit: limit, LimitName: limitName}
}

// CheckDetail returns a *TooLargeError when the detail log would be larger
// than limit bytes (the largest message a result travels in).
func (f Footprint) CheckDetail(limit uint64, limitName string) error {
	if limit == 0 || f.DetailBytes <= limit {
		return nil
	}
	return &TooLargeError{Setting: f.SetDriver, What: "detail log (its loaded_qsl_set lists every sample)", Need: f.DetailBytes, Limit: limit, LimitName: limitName}
}

// satAdd and satMul add and multiply, saturating at the largest uint64.
func satAdd(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return s
}

func satMul(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

// satFloat converts a non-negative float to uint64, saturating (NaN is 0).
func satFloat(v float64) uint64 {
	switch {
	case !(v > 0):
		return 0
	case v >= math.MaxUint64:
		return math.MaxUint64
	}
	return uint64(v)
}

// FormatBytes writes n in binary units: "512 B", "1.5 GiB".
func FormatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), 0
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	for v >= unit && i < len(units)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
