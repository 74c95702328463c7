package inference

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Rerun records a timed run that gpuperf repeated once because the
// backend's rate had moved away from the hint that sized it: the first run
// ended before min_duration (the backend was faster than the hint said) or
// its wait ran past the drain guard's overall limit (far slower). The
// repeat is sized by the rate the first run observed; the result is the
// repeat's. Only the hint (and, for SingleStream and MultiStream, the
// query count it implies) changes; every other setting stays as requested.
type Rerun struct {
	// Reason says what went wrong with the first run, in words.
	Reason string `json:"reason"`
	// Setting names the hint that changed (LoadGen's field name); From and
	// To are its values for the first run and the repeat.
	Setting string  `json:"setting"`
	From    float64 `json:"from"`
	To      float64 `json:"to"`
	// QueryCountFrom and QueryCountTo are the fixed query count before and
	// after, when the first run had one (SingleStream, MultiStream).
	QueryCountFrom uint64 `json:"query_count_from,omitempty"`
	QueryCountTo   uint64 `json:"query_count_to,omitempty"`
	// First* describe the first run.
	FirstDurationNs    int64   `json:"first_duration_ns"`
	FirstRate          float64 `json:"first_rate"`
	FirstInvalidReason string  `json:"first_invalid_reason"`
}

// rerunHeadroom sizes a repeat to last about twice min_duration at the
// first run's rate: that rate was measured on a host whose pace had just
// moved, and may move back; a repeat that runs long costs time, one that
// ends early again is INVALID.
const rerunHeadroom = 2

// rerunSettings decides whether res, run with settings s, ended too early
// or too late because the backend's rate moved, and if so returns the
// settings for one repeat sized by the observed rate.
func rerunSettings(s TestSettings, res *Result) (TestSettings, *Rerun, bool) {
	if res.Validity.Valid || res.SamplesFailed > 0 || res.SamplesComplete == 0 || res.DurationNs <= 0 {
		return s, nil, false
	}
	took := time.Duration(res.DurationNs)
	first := Rerun{FirstDurationNs: res.DurationNs, FirstInvalidReason: res.Validity.InvalidReason}
	switch s.Scenario {
	case Offline:
		rate := float64(res.SamplesComplete) / took.Seconds()
		first.FirstRate = rate
		first.Setting, first.From = "offline_expected_qps", s.OfflineExpectedQPS
		switch {
		case res.drainEnd == overLimit:
			first.Reason = fmt.Sprintf("the query ran past the drain limit: the backend completed %.0f samples/s, far below the %.0f the hint sized the query for", rate, s.OfflineExpectedQPS)
		case res.drainEnd == drained && !res.Validity.MinDurationMet && len(res.Errors) == 0:
			first.Reason = fmt.Sprintf("the query finished in %s, before min_duration %s: the backend ran %.0f samples/s, above the %.0f the hint sized the query for",
				took.Round(time.Millisecond), s.MinDuration(), rate, s.OfflineExpectedQPS)
		default:
			return s, nil, false
		}
		s.OfflineExpectedQPS = rate * rerunHeadroom
		first.To = s.OfflineExpectedQPS
	case SingleStream, MultiStream:
		if res.Validity.MinDurationMet || len(res.Errors) > 1 || res.QueriesIssued == 0 ||
			!(strings.Contains(res.EndReason, "Max query count reached") || strings.Contains(res.EndReason, "Ran out of generated queries")) {
			return s, nil, false
		}
		if len(res.Errors) == 1 && !strings.Contains(res.Errors[0], "Ending early") {
			return s, nil, false
		}
		mean := float64(res.DurationNs) / float64(res.QueriesIssued)
		first.FirstRate = 1e9 / mean
		field := &s.SingleStreamExpectedLatencyNs
		first.Setting = "single_stream_expected_latency_ns"
		if s.Scenario == MultiStream {
			field = &s.MultiStreamExpectedLatencyNs
			first.Setting = "multi_stream_expected_latency_ns"
		}
		first.From = *field
		first.Reason = fmt.Sprintf("the run ended after %d queries in %s, before min_duration %s: queries took %s, less than the run was sized for",
			res.QueriesIssued, took.Round(time.Millisecond), s.MinDuration(), time.Duration(mean).Round(time.Microsecond))
		*field = min(*field, mean/rerunHeadroom)
		first.To = *field
		if s.MaxQueryCount > 0 {
			// A fixed count (the coordinator fixes one so both sides end on
			// it) grows to cover min_duration at the observed pace, twice.
			n := uint64(math.Ceil(rerunHeadroom * float64(s.MinDurationMs) * 1e6 / mean))
			n = max(n, s.MaxQueryCount)
			first.QueryCountFrom, first.QueryCountTo = s.MaxQueryCount, n
			if s.MinQueryCount == s.MaxQueryCount {
				s.MinQueryCount = n
			}
			s.MaxQueryCount = n
		}
	default:
		return s, nil, false
	}
	return s, &first, true
}
