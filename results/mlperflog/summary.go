package mlperflog

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/gpuperf/gpuperf/inference"
)

// rule frames each section title of the summary.
const rule = "================================================"

// minQueriesSecondLine follows the min-queries recommendation in the summary.
const minQueriesSecondLine = "   See the detailed log for why this may have occurred."

// equalIssueWarning is LoadGen's paragraph after the test parameters when
// sample_concatenate_permutation is set (the trailing space after "true." is
// LoadGen's).
const equalIssueWarning = "WARNING: sample_concatenate_permutation was set to true. \n" +
	"Generated samples per query might be different as the one in the setting.\n" +
	"Check the generated_samples_per_query line in the detailed log for the real\n" +
	"samples_per_query value"

// WriteSummary writes mlperf_log_summary.txt content.
func WriteSummary(w io.Writer, r *inference.Result) error {
	if r == nil {
		return errors.New("mlperflog: nil result")
	}
	_, err := io.WriteString(w, renderSummary(r))
	return err
}

// tokenMode reports whether the run used LoadGen's use_token_latencies.
func tokenMode(r *inference.Result) bool {
	return r.Effective.UseTokenLatencies || r.Requested.UseTokenLatencies
}

// tokens returns the token stats, zero when the run has none.
func tokens(r *inference.Result) *inference.TokenStats {
	if r.Tokens != nil {
		return r.Tokens
	}
	return &inference.TokenStats{}
}

// targetPercentile is the headline percentile (0.9 for 90.0th).
func targetPercentile(r *inference.Result) float64 {
	if r.TargetPercentile != 0 {
		return r.TargetPercentile
	}
	return r.Effective.TargetLatencyPercentile
}

// sampleCount is LoadGen's sample_count: the number of recorded latencies.
func sampleCount(r *inference.Result) uint64 {
	if r.SamplesComplete != 0 {
		return r.SamplesComplete
	}
	return r.SamplesIssued
}

// latencyBlock writes LoadGen's min/max/mean/percentile lines; label pads so
// ": " starts at the same column as LoadGen's.
func latencyBlock(b *strings.Builder, ls inference.LatencyStats, minL, maxL, meanL, pctSuffix string) {
	line(b, minL, strconv.FormatInt(ls.MinNs, 10))
	line(b, maxL, strconv.FormatInt(ls.MaxNs, 10))
	line(b, meanL, strconv.FormatInt(ls.MeanNs, 10))
	for _, p := range ls.Percentiles {
		line(b, fixed(p.P*100, 2)+pctSuffix, strconv.FormatInt(p.Ns, 10))
	}
}

func line(b *strings.Builder, parts ...string) {
	for _, p := range parts {
		b.WriteString(p)
	}
	b.WriteByte('\n')
}

func renderSummary(r *inference.Result) string {
	var b strings.Builder
	e := r.Effective
	sc := e.Scenario
	tok := tokenMode(r)
	ts := tokens(r)
	pct := targetPercentile(r)

	line(&b, rule)
	line(&b, "MLPerf Results Summary")
	line(&b, rule)
	line(&b, "SUT name : ", r.SUTName)
	line(&b, "Scenario : ", sc.String())
	line(&b, "Mode     : ", e.Mode.String())

	switch sc {
	case inference.SingleStream, inference.MultiStream:
		// MultiStream's TargetLatencyNs is over query latencies.
		line(&b, fixed(pct*100, 1), "th percentile latency (ns) : ", strconv.FormatInt(r.TargetLatencyNs, 10))
	case inference.Server:
		line(&b, "Completed samples per second    : ", fixed(r.CompletedSamplesPerSecond, 2))
	case inference.Offline:
		line(&b, "Samples per second: ", cppDefault(r.SamplesPerSecond))
	}
	if tok {
		switch sc {
		case inference.SingleStream, inference.MultiStream:
			line(&b, fixed(pct*100, 1), "th first token percentile latency (ns) : ", strconv.FormatInt(ts.TTFTPercentileNs, 10))
		case inference.Offline:
			line(&b, "Tokens per second: ", cppDefault(ts.TokensPerSecond))
		case inference.Server:
			line(&b, "Completed tokens per second: ", fixed(ts.CompletedTokensPerSec, 2))
		}
	}
	if r.Requested.InferTokenLatencies {
		f := float64(r.Requested.TokenLatencyScalingFactor)
		switch sc {
		case inference.Offline:
			line(&b, "Tokens per second (inferred): ", cppDefault(f*r.SamplesPerSecond))
		case inference.Server:
			line(&b, "Completed tokens per second (inferred): ", fixed(f*r.CompletedSamplesPerSecond, 2))
		}
	}

	v := r.Validity
	line(&b, "Result is : ", map[bool]string{true: "VALID", false: "INVALID"}[v.Valid])
	if v.PerfConstraintsMet != nil {
		line(&b, "  Performance constraints satisfied : ", yesNo(*v.PerfConstraintsMet))
	}
	line(&b, "  Min duration satisfied : ", yesNo(v.MinDurationMet))
	line(&b, "  Min queries satisfied : ", yesNo(v.MinQueriesMet))
	line(&b, "  Early stopping satisfied: ", yesNo(v.EarlyStoppingMet))
	if !v.Valid {
		line(&b, "Recommendations:")
		for _, rec := range v.Recommendations {
			line(&b, " * ", rec)
			if rec == inference.MinQueriesRecommendation {
				line(&b, minQueriesSecondLine)
			}
		}
	}

	if sc != inference.Offline {
		es := r.EarlyStopping
		if !tok {
			line(&b, "Early Stopping Result:")
			textLines(&b, es.Lines)
		} else {
			line(&b, "TTFT Early Stopping Result:")
			textLines(&b, es.TTFTLines)
			line(&b, "TPOT Early Stopping Result:")
			textLines(&b, es.TPOTLines)
		}
	}

	line(&b)
	line(&b, rule)
	line(&b, "Additional Stats")
	line(&b, rule)
	switch sc {
	case inference.SingleStream:
		line(&b, "QPS w/ loadgen overhead         : ", fixed(r.QPSWithLoadgenOverhead, 2))
		line(&b, "QPS w/o loadgen overhead        : ", fixed(r.QPSWithoutLoadgenOverhead, 2))
		line(&b)
	case inference.Server:
		// LoadGen ≥ 4.1 prints the latency block right under this line.
		line(&b, "Scheduled samples per second : ", fixed(r.ScheduledSamplesPerSecond, 2))
	case inference.MultiStream:
		line(&b, "Per-query latency:  ")
		q := r.QueryLatency
		if q == nil {
			q = &inference.LatencyStats{}
		}
		latencyBlock(&b, *q,
			"Min latency (ns)                : ",
			"Max latency (ns)                : ",
			"Mean latency (ns)               : ",
			" percentile latency (ns)   : ")
	}
	if sc != inference.MultiStream {
		latencyBlock(&b, r.Latency,
			"Min latency (ns)                : ",
			"Max latency (ns)                : ",
			"Mean latency (ns)               : ",
			" percentile latency (ns)   : ")
	}
	if tok {
		line(&b)
		switch sc {
		case inference.SingleStream:
			tokensF := float64(ts.TotalTokens)
			withLG := tokensF / (float64(r.FinalQueryIssuedNs) / 1e9)
			withoutLG := tokensF / (float64(r.Latency.MeanNs) / 1e9 * float64(sampleCount(r)))
			line(&b, "TPS w/ loadgen overhead         : ", fixed(withLG, 2))
			line(&b, "TPS w/o loadgen overhead        : ", fixed(withoutLG, 2))
		case inference.Server:
			line(&b, "Completed tokens per second                 : ", fixed(ts.CompletedTokensPerSec, 2))
		}
		if sc != inference.Offline {
			latencyBlock(&b, ts.FirstToken,
				"Min First Token latency (ns)                : ",
				"Max First Token latency (ns)                : ",
				"Mean First Token latency (ns)               : ",
				" percentile first token latency (ns)   : ")
			line(&b)
			latencyBlock(&b, ts.TimePerOutputToken,
				"Min Time per Output Token (ns)                : ",
				"Max Time per Output Token (ns)                : ",
				"Mean Time per Output Token (ns)               : ",
				" percentile time to output token (ns)   : ")
		}
	}

	line(&b)
	line(&b, rule)
	line(&b, "Test Parameters Used")
	line(&b, rule)
	u := func(x uint64) string { return strconv.FormatUint(x, 10) }
	line(&b, "samples_per_query : ", u(e.SamplesPerQuery))
	line(&b, "target_qps : ", cppDefault(e.TargetQPS))
	if !tok {
		line(&b, "target_latency (ns): ", u(e.TargetLatencyNs))
	} else {
		line(&b, "ttft_latency (ns): ", u(e.ServerTTFTLatencyNs))
		line(&b, "tpot_latency (ns): ", u(e.ServerTPOTLatencyNs))
	}
	line(&b, "max_async_queries : ", u(e.MaxAsyncQueries))
	line(&b, "min_duration (ms): ", u(e.MinDurationMs))
	line(&b, "max_duration (ms): ", u(e.MaxDurationMs))
	line(&b, "min_query_count : ", u(e.MinQueryCount))
	line(&b, "max_query_count : ", u(e.MaxQueryCount))
	line(&b, "qsl_rng_seed : ", u(e.QSLRNGSeed))
	line(&b, "sample_index_rng_seed : ", u(e.SampleIndexRNGSeed))
	line(&b, "schedule_rng_seed : ", u(e.ScheduleRNGSeed))
	line(&b, "accuracy_log_rng_seed : ", u(e.AccuracyLogRNGSeed))
	line(&b, "accuracy_log_probability : ", cppDefault(e.AccuracyLogProbability))
	line(&b, "accuracy_log_sampling_target : ", u(e.AccuracyLogSamplingTarget))
	line(&b, "print_timestamps : ", boolDigit(e.PrintTimestamps))
	line(&b, "performance_issue_unique : ", boolDigit(e.PerformanceIssueUnique))
	line(&b, "performance_issue_same : ", boolDigit(e.PerformanceIssueSame))
	line(&b, "performance_issue_same_index : ", u(e.PerformanceIssueSameIndex))
	line(&b, "performance_sample_count : ", u(e.PerformanceSampleCount))
	line(&b, "accuracy_sample_count : ", u(e.AccuracySampleCount))
	if e.SampleConcatenatePermutation {
		line(&b, equalIssueWarning)
	}

	line(&b)
	switch n := len(r.Warnings); n {
	case 0:
		line(&b, "No warnings encountered during test.")
	case 1:
		line(&b, "1 warning encountered. See detailed log.")
	default:
		line(&b, strconv.Itoa(n), " warnings encountered. See detailed log.")
	}
	line(&b)
	switch n := len(r.Errors); n {
	case 0:
		line(&b, "No errors encountered during test.")
	case 1:
		line(&b, "1 ERROR encountered. See detailed log.")
	default:
		line(&b, strconv.Itoa(n), " ERRORS encountered. See detailed log.")
	}
	return b.String()
}

// textLines prints LoadGen's early-stopping text; LoadGen prints an empty
// line when the text is empty.
func textLines(b *strings.Builder, lines []string) {
	if len(lines) == 0 {
		line(b)
		return
	}
	for _, l := range lines {
		line(b, l)
	}
}

// ParseSummary reads a mlperf_log_summary.txt and returns its "label : value"
// lines, label and value trimmed. It accepts the layouts of LoadGen 1.x to
// 6.x: "label : value", "label: value" and padded labels. Section rules and
// titles, bullet lines (" * ..."), the equal-issue WARNING paragraph and the
// trailer are skipped. When a label repeats, the first value is kept.
// ReadSummary reads the same lines with their line numbers and meaning.
func ParseSummary(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	err := scanSummary(r, func(_ int, t string) {
		if label, value, ok := labelValue(t); ok {
			if _, dup := out[label]; !dup {
				out[label] = value
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanSummary calls fn with each non-empty line of a summary, trimmed, and
// its 1-based number; a leading BOM and CR line ends are dropped.
func scanSummary(r io.Reader, fn func(n int, trimmed string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if n == 1 {
			l = strings.TrimPrefix(l, "\ufeff")
		}
		t := strings.TrimSpace(strings.TrimRight(l, "\r"))
		if t != "" {
			fn(n, t)
		}
	}
	return sc.Err()
}

// labelValue splits a trimmed "label : value" line; rules, bullets and the
// WARNING paragraph are not label lines.
func labelValue(t string) (label, value string, ok bool) {
	if strings.HasPrefix(t, "*") || strings.HasPrefix(t, "=") || strings.HasPrefix(t, "WARNING") {
		return "", "", false
	}
	i := strings.IndexByte(t, ':')
	if i <= 0 {
		return "", "", false
	}
	return strings.TrimSpace(t[:i]), strings.TrimSpace(t[i+1:]), true
}
