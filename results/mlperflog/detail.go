package mlperflog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gpuperf/gpuperf/inference"
)

// mllogPrefix starts every detail line.
const mllogPrefix = ":::MLLOG "

// sourceFile names the writer in each line's metadata, where LoadGen names
// its own source file.
const sourceFile = "results/mlperflog/detail.go"

// detailWriter renders MLLOG lines with LoadGen's spacing.
type detailWriter struct {
	b      strings.Builder
	pid    string
	timeMs string
}

func (d *detailWriter) log(key, value string, isError, isWarning bool) {
	b := &d.b
	b.WriteString(mllogPrefix)
	b.WriteString(`{"key": `)
	b.WriteString(jsonString(key))
	b.WriteString(`, "value": `)
	b.WriteString(value)
	b.WriteString(`, "time_ms": `)
	b.WriteString(d.timeMs)
	b.WriteString(`, "namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", "metadata": {"is_error": `)
	b.WriteString(strconv.FormatBool(isError))
	b.WriteString(`, "is_warning": `)
	b.WriteString(strconv.FormatBool(isWarning))
	b.WriteString(`, "file": `)
	b.WriteString(jsonString(sourceFile))
	b.WriteString(`, "line_no": 0, "pid": `)
	b.WriteString(d.pid)
	b.WriteString(`, "tid": 0}}`)
	b.WriteByte('\n')
}

func (d *detailWriter) str(key, v string)        { d.log(key, jsonString(v), false, false) }
func (d *detailWriter) u64(key string, v uint64) { d.log(key, strconv.FormatUint(v, 10), false, false) }
func (d *detailWriter) i64(key string, v int64)  { d.log(key, strconv.FormatInt(v, 10), false, false) }
func (d *detailWriter) f64(key string, v float64) {
	d.log(key, jsonFloat(v), false, false)
}
func (d *detailWriter) flag(key string, v bool) { d.log(key, strconv.FormatBool(v), false, false) }

// at sets the time_ms of the following lines.
func (d *detailWriter) at(ns int64) { d.timeMs = timeMs(ns) }

// WriteDetail writes mlperf_log_detail.txt content (:::MLLOG lines), with
// LoadGen 6.0.17's keys in its order (reference/loadgen.md §8.2).
func WriteDetail(w io.Writer, r *inference.Result) error {
	if r == nil {
		return errors.New("mlperflog: nil result")
	}
	_, err := io.WriteString(w, renderDetail(r, os.Getpid()))
	return err
}

// endNs is the run's end relative to its start: the last completion.
func endNs(r *inference.Result) int64 {
	return max(r.DurationNs, r.FinalQueryAllDoneNs, r.MaxLatencyNs, r.FinalQueryIssuedNs, 0)
}

// powerEndNs is power_end − power_begin: LoadGen's max completion − start.
func powerEndNs(r *inference.Result) int64 {
	if r.Effective.Scenario == inference.Offline && r.MaxLatencyNs > 0 {
		return r.MaxLatencyNs
	}
	if r.FinalQueryAllDoneNs > 0 {
		return r.FinalQueryAllDoneNs
	}
	// SingleStream and MultiStream results leave FinalQueryAllDoneNs unset;
	// the run's wall time ends at the last completion.
	return max(r.DurationNs, r.MaxLatencyNs, 0)
}

// invalidReason is result_invalid_reason as LoadGen builds it, when the
// result does not carry one.
func invalidReason(v inference.Validity) string {
	if v.InvalidReason != "" {
		return v.InvalidReason
	}
	return strings.Join(v.Recommendations, " ")
}

// joinText is LoadGen's early-stopping text with '\n' replaced by ' '.
func joinText(lines []string) string {
	return strings.ReplaceAll(strings.Join(lines, " "), "\n", " ")
}

// renderDetail renders r's detail log, its lines stamped with pid.
func renderDetail(r *inference.Result, pid int) string {
	d := &detailWriter{pid: strconv.Itoa(pid)}
	d.at(0)
	e := r.Effective
	q := r.Requested
	sc := e.Scenario
	tok := tokenMode(r)

	d.str("loadgen_version", strings.TrimSpace("gpuperf "+r.Version))
	d.str("test_datetime", isoTime(r.StartedAt))
	d.str("sut_name", r.SUTName)
	d.i64("get_sut_name_duration_ns", 0)
	d.str("qsl_name", r.QSL.Name)
	d.u64("qsl_reported_total_count", r.QSL.TotalSampleCount)
	d.u64("qsl_reported_performance_count", r.QSL.PerformanceSampleCount)

	// Requested settings (test_settings_internal.cc LogRequestedTestSettings).
	d.str("requested_scenario", q.Scenario.String())
	d.str("requested_test_mode", q.Mode.String())
	switch q.Scenario {
	case inference.SingleStream:
		// LoadGen's expected-latency hints are uint64 ns.
		d.u64("requested_single_stream_expected_latency_ns", nsHint(q.SingleStreamExpectedLatencyNs))
		d.f64("requested_single_stream_target_latency_percentile", q.SingleStreamTargetLatencyPercentile)
	case inference.MultiStream:
		d.u64("requested_multi_stream_expected_latency_ns", nsHint(q.MultiStreamExpectedLatencyNs))
		d.f64("requested_multi_stream_target_latency_percentile", q.MultiStreamTargetLatencyPercentile)
		d.u64("requested_multi_stream_samples_per_query", q.MultiStreamSamplesPerQuery)
	case inference.Server:
		d.f64("requested_server_target_qps", q.ServerTargetQPS)
		d.u64("requested_server_target_latency_ns", q.ServerTargetLatencyNs)
		d.f64("requested_server_target_latency_percentile", q.ServerTargetLatencyPercentile)
		d.flag("requested_server_coalesce_queries", q.ServerCoalesceQueries)
		d.i64("requested_server_find_peak_qps_decimals_of_precision", int64(q.ServerFindPeakQPSDecimalsOfPrecision))
		d.f64("requested_server_find_peak_qps_boundary_step_size", q.ServerFindPeakQPSBoundaryStepSize)
		d.u64("requested_server_max_async_queries", q.ServerMaxAsyncQueries)
		// gpuperf issues from one thread: LoadGen's default 0.
		d.u64("requested_server_num_issue_query_threads", 0)
	case inference.Offline:
		d.f64("requested_offline_expected_qps", q.OfflineExpectedQPS)
	}
	d.u64("requested_min_duration_ms", q.MinDurationMs)
	d.u64("requested_max_duration_ms", q.MaxDurationMs)
	d.u64("requested_min_query_count", q.MinQueryCount)
	d.u64("requested_max_query_count", q.MaxQueryCount)
	d.u64("requested_qsl_rng_seed", q.QSLRNGSeed)
	d.u64("requested_sample_index_rng_seed", q.SampleIndexRNGSeed)
	d.u64("requested_schedule_rng_seed", q.ScheduleRNGSeed)
	d.u64("requested_accuracy_log_rng_seed", q.AccuracyLogRNGSeed)
	d.f64("requested_accuracy_log_probability", q.AccuracyLogProbability)
	d.u64("requested_accuracy_log_sampling_target", q.AccuracyLogSamplingTarget)
	d.flag("requested_print_timestamps", q.PrintTimestamps)
	d.flag("requested_performance_issue_unique", q.PerformanceIssueUnique)
	d.flag("requested_performance_issue_same", q.PerformanceIssueSame)
	d.u64("requested_performance_issue_same_index", q.PerformanceIssueSameIndex)
	d.u64("requested_performance_sample_count_override", q.PerformanceSampleCountOverride)
	d.u64("requested_accuracy_sample_count_override", q.AccuracySampleCountOverride)
	d.flag("requested_sample_concatenate_permutation", q.SampleConcatenatePermutation)
	if tok {
		d.flag("requested_use_token_latencies", q.UseTokenLatencies)
		d.u64("requested_server_ttft_latency", q.ServerTTFTLatencyNs)
		d.u64("requested_server_tpot_latency", q.ServerTPOTLatencyNs)
	}

	// Effective settings (TestSettingsInternal::LogEffectiveSettings).
	d.str("effective_scenario", e.Scenario.String())
	d.str("effective_test_mode", e.Mode.String())
	d.u64("effective_samples_per_query", e.SamplesPerQuery)
	d.f64("effective_target_qps", e.TargetQPS)
	d.u64("effective_target_latency_ns", e.TargetLatencyNs)
	d.f64("effective_target_latency_percentile", e.TargetLatencyPercentile)
	d.u64("effective_max_async_queries", e.MaxAsyncQueries)
	d.u64("effective_target_duration_ms", e.TargetDurationMs)
	d.u64("effective_min_duration_ms", e.MinDurationMs)
	d.u64("effective_max_duration_ms", e.MaxDurationMs)
	d.u64("effective_min_query_count", e.MinQueryCount)
	d.u64("effective_max_query_count", e.MaxQueryCount)
	d.u64("effective_min_sample_count", e.MinSampleCount)
	d.u64("effective_qsl_rng_seed", e.QSLRNGSeed)
	d.u64("effective_sample_index_rng_seed", e.SampleIndexRNGSeed)
	d.u64("effective_schedule_rng_seed", e.ScheduleRNGSeed)
	d.u64("effective_accuracy_log_rng_seed", e.AccuracyLogRNGSeed)
	d.f64("effective_accuracy_log_probability", e.AccuracyLogProbability)
	d.u64("effective_accuracy_log_sampling_target", e.AccuracyLogSamplingTarget)
	d.flag("effective_print_timestamps", e.PrintTimestamps)
	d.flag("effective_performance_issue_unique", e.PerformanceIssueUnique)
	d.flag("effective_performance_issue_same", e.PerformanceIssueSame)
	d.u64("effective_performance_issue_same_index", e.PerformanceIssueSameIndex)
	d.u64("effective_performance_sample_count", e.PerformanceSampleCount)
	d.u64("effective_accuracy_sample_count", e.AccuracySampleCount)
	d.flag("effective_sample_concatenate_permutation", e.SampleConcatenatePermutation)

	// The run.
	d.str("generic_message", "Starting performance mode")
	var set []uint32
	if r.Series != nil {
		set = r.Series.LoadedSet
	}
	d.log("loaded_qsl_set", uintList(set), false, false)
	d.u64("generated_query_count", r.GeneratedQueryCount)
	d.u64("generated_samples_per_query", r.GeneratedSamplesPerQuery)
	d.i64("generated_query_duration", r.GeneratedQueryDurationNs)

	end := endNs(r)
	d.at(end)
	if r.EndReason != "" && sc != inference.Server {
		d.str("generic_message", r.EndReason)
	}
	for _, w := range r.Warnings {
		d.log("warning_generic_message", jsonString(w), false, true)
	}
	for _, msg := range r.Errors {
		d.log("error_runtime", jsonString(msg), true, false)
	}
	d.str("power_begin", powerTime(r.StartedAt))
	d.str("power_end", powerTime(r.StartedAt.Add(time.Duration(powerEndNs(r)))))

	// Results (results.cc PerformanceSummary::LogDetail).
	v := r.Validity
	d.str("result_validity", map[bool]string{true: "VALID", false: "INVALID"}[v.Valid])
	if v.PerfConstraintsMet != nil {
		d.flag("result_perf_constraints_met", *v.PerfConstraintsMet)
	}
	d.flag("result_min_duration_met", v.MinDurationMet)
	d.flag("result_min_queries_met", v.MinQueriesMet)
	d.flag("early_stopping_met", v.EarlyStoppingMet)
	if !v.Valid {
		d.str("result_invalid_reason", invalidReason(v))
	}
	if !tok {
		d.str("early_stopping_result", joinText(r.EarlyStopping.Lines))
	} else {
		d.str("early_stopping_ttft_result", joinText(r.EarlyStopping.TTFTLines))
		d.str("early_stopping_tpot_result", joinText(r.EarlyStopping.TPOTLines))
	}
	d.u64("result_query_count", r.QueriesIssued)
	if sc == inference.Server {
		d.u64("result_overlatency_query_count", r.OverlatencyQueries)
	}

	switch sc {
	case inference.SingleStream:
		d.f64("result_qps_with_loadgen_overhead", r.QPSWithLoadgenOverhead)
		d.f64("result_qps_without_loadgen_overhead", r.QPSWithoutLoadgenOverhead)
		d.i64("early_stopping_latency_ss", r.EarlyStopping.EstimateNs)
		d.i64("early_stopping_latency_ms", r.EarlyStopping.Estimate99Ns)
	case inference.MultiStream:
		ql := inference.LatencyStats{}
		if r.QueryLatency != nil {
			ql = *r.QueryLatency
		}
		d.i64("result_min_query_latency_ns", ql.MinNs)
		d.i64("result_max_query_latency_ns", ql.MaxNs)
		d.i64("result_mean_query_latency_ns", ql.MeanNs)
		for _, p := range ql.Percentiles {
			d.i64("result_"+fixed(p.P*100, 2)+"_percentile_per_query_latency_ns", p.Ns)
		}
		d.i64("early_stopping_latency_ms", r.EarlyStopping.EstimateNs)
	case inference.Server:
		d.f64("result_scheduled_samples_per_sec", r.ScheduledSamplesPerSecond)
		d.f64("result_completed_samples_per_sec", r.CompletedSamplesPerSecond)
	case inference.Offline:
		d.f64("result_samples_per_second", r.SamplesPerSecond)
	}

	d.i64("result_min_latency_ns", r.Latency.MinNs)
	d.i64("result_max_latency_ns", r.Latency.MaxNs)
	d.i64("result_mean_latency_ns", r.Latency.MeanNs)
	for _, p := range r.Latency.Percentiles {
		d.i64("result_"+fixed(p.P*100, 2)+"_percentile_latency_ns", p.Ns)
	}

	if tok {
		ts := tokens(r)
		if sc != inference.Offline {
			ft := ts.FirstToken
			d.i64("result_first_token_min_latency_ns", ft.MinNs)
			d.i64("result_first_token_max_latency_ns", ft.MaxNs)
			d.i64("result_first_token_mean_latency_ns", ft.MeanNs)
			for _, p := range ft.Percentiles {
				d.i64("result_first_token_"+fixed(p.P*100, 2)+"_percentile_latency_ns", p.Ns)
			}
			tokensF := float64(ts.TotalTokens)
			d.f64("result_token_throughput_with_loadgen_overhead", tokensF/(float64(r.FinalQueryIssuedNs)/1e9))
			// LoadGen divides by the mean latency in ns here, not seconds;
			// kept as LoadGen computes it.
			d.f64("result_token_throughput", tokensF/(float64(r.Latency.MeanNs)*float64(sampleCount(r))))
			tp := ts.TimePerOutputToken
			for _, p := range tp.Percentiles {
				d.i64("result_time_per_output_token_"+fixed(p.P*100, 2)+"_percentile_ns", p.Ns)
			}
			d.i64("result_time_to_output_token_min", tp.MinNs)
			d.i64("result_time_to_output_token_max", tp.MaxNs)
			d.i64("result_time_to_output_token_mean", tp.MeanNs)
			d.f64("result_completed_tokens_per_second", ts.CompletedTokensPerSec)
		} else {
			d.f64("result_tokens_per_second", ts.TokensPerSecond)
		}
	}
	if q.InferTokenLatencies {
		f := float64(q.TokenLatencyScalingFactor)
		switch sc {
		case inference.Server:
			d.f64("result_inferred_completed_tokens_per_second", f*r.CompletedSamplesPerSecond)
		case inference.Offline:
			d.f64("result_inferred_tokens_per_second", f*r.SamplesPerSecond)
		}
	}
	d.i64("num_errors", int64(len(r.Errors)))
	return d.b.String()
}

// nsHint converts gpuperf's float expected-latency hint to LoadGen's uint64.
func nsHint(v float64) uint64 {
	if !(v > 0) || math.IsInf(v, 0) || v >= math.MaxUint64 {
		return 0
	}
	return uint64(math.Round(v))
}

// uintList is LoadGen's list format: "[3,1,2]", no spaces.
func uintList(v []uint32) string {
	var b strings.Builder
	b.Grow(len(v)*6 + 2)
	b.WriteByte('[')
	for i, x := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	}
	b.WriteByte(']')
	return b.String()
}

// ParseDetail reads a mlperf_log_detail.txt and returns each key's value (the
// last one when a key repeats, as generic_message does). Numbers are
// json.Number so 64-bit seeds stay exact; strings, bools, lists and dicts
// are as encoding/json decodes them. Non-finite doubles (Infinity, NaN, or
// C++'s inf/nan) become float64 values. Lines without the ":::MLLOG " prefix
// are skipped; a malformed MLLOG line is an error (a *LineError wrapped with
// the "mlperflog: detail" prefix).
func ParseDetail(r io.Reader) (map[string]any, error) {
	d, err := ReadDetail(r)
	if err != nil {
		return nil, err
	}
	return d.Values, nil
}

// Detail is a mlperf_log_detail.txt as ReadDetail returns it: each key's
// value and the line it was read from.
type Detail struct {
	Values map[string]any
	Lines  map[string]int
}

// ReadDetail is ParseDetail keeping each key's line number.
func ReadDetail(r io.Reader) (*Detail, error) {
	d := &Detail{Values: map[string]any{}, Lines: map[string]int{}}
	br := bufio.NewReaderSize(r, 64*1024)
	for n := 1; ; n++ {
		raw, err := readLine(br, maxDetailLine)
		if errors.Is(err, errLineTooLong) {
			return nil, fmt.Errorf("mlperflog: detail %w", &LineError{Line: n, Msg: err.Error()})
		}
		if len(raw) > 0 {
			l := strings.TrimRight(raw, "\r\n")
			if i := strings.Index(l, mllogPrefix); i >= 0 {
				key, val, perr := parseLine(l[i+len(mllogPrefix):])
				if perr != nil {
					return nil, fmt.Errorf("mlperflog: detail %w", &LineError{Line: n, Msg: perr.Error()})
				}
				d.Values[key] = val
				d.Lines[key] = n
			}
		}
		if err == io.EOF {
			return d, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// maxDetailLine bounds one line of a detail log: loaded_qsl_set lists the
// whole sample set, a few megabytes at most in any MLPerf round.
const maxDetailLine = 64 << 20

var errLineTooLong = fmt.Errorf("a line longer than %d bytes", maxDetailLine)

// readLine reads through the next '\n' (or to the end), refusing a line
// longer than limit rather than holding it all.
func readLine(br *bufio.Reader, limit int) (string, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > limit {
			return "", errLineTooLong
		}
		line = append(line, chunk...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return string(line), err
		}
	}
}

// Float returns key's value as a number; ok is false when the key is
// absent or not a finite number within ±MaxMagnitude (a C++ "inf" or
// "nan" is a value, but not a number to compute with).
func (d *Detail) Float(key string) (float64, bool) {
	switch v := d.Values[key].(type) {
	case json.Number:
		f, err := ParseDecimal(string(v))
		return f, err == nil
	case float64:
		return v, !math.IsInf(v, 0) && !math.IsNaN(v) && math.Abs(v) <= MaxMagnitude
	}
	return 0, false
}

type mllogLine struct {
	Key   *string         `json:"key"`
	Value json.RawMessage `json:"value"`
}

// nonJSON are value spellings a C++ LoadGen may write that JSON lacks.
var nonJSON = map[string]any{
	"Infinity": math.Inf(1), "-Infinity": math.Inf(-1), "NaN": math.NaN(),
	"inf": math.Inf(1), "-inf": math.Inf(-1), "nan": math.NaN(), "-nan": math.NaN(),
	// LoadGen writes an empty size_t list as a lone "]".
	"]": []any{},
}

func parseLine(obj string) (string, any, error) {
	var m mllogLine
	err := json.Unmarshal([]byte(obj), &m)
	var special any
	if err != nil {
		// Swap a non-JSON value for null and decode again.
		const vk, tk = `"value": `, `, "time_ms": `
		i := strings.Index(obj, vk)
		j := strings.LastIndex(obj, tk)
		if i < 0 || j < i+len(vk) {
			return "", nil, err
		}
		s, ok := nonJSON[strings.TrimSpace(obj[i+len(vk):j])]
		if !ok {
			return "", nil, err
		}
		special = s
		if err2 := json.Unmarshal([]byte(obj[:i+len(vk)]+"null"+obj[j:]), &m); err2 != nil {
			return "", nil, err
		}
	}
	if m.Key == nil {
		return "", nil, errors.New(`no "key"`)
	}
	if special != nil {
		return *m.Key, special, nil
	}
	if len(m.Value) == 0 {
		return *m.Key, nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(m.Value))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", nil, err
	}
	return *m.Key, v, nil
}
