package inference

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gpuperf/gpuperf/inference/stats"
)

// summarize computes LoadGen's statistics, early stopping, validity and the
// official metric from a finished phase (reference/loadgen.md §5–§7).
func summarize(res *Result, p *phase, pl plan, is *issuer, set []uint32) {
	e := res.Effective
	issuedSamples := int(is.samplesIssued)

	// Times LoadGen keeps in its PerformanceResult, relative to start.
	res.FinalQueryIssuedNs = is.lastIssue
	if e.Scenario == Server && is.queriesIssued > 0 {
		last := is.queriesIssued - 1
		res.FinalQueryScheduledNs = p.origin[last]
		if l := p.sampleLatency(int(last)); l >= 0 {
			res.FinalQueryAllDoneNs = p.origin[last] + l
		}
	}

	// Query latencies (MultiStream) need the unsorted per-sample array.
	var queryLat []int64
	if e.Scenario == MultiStream {
		queryLat = make([]int64, 0, is.queriesIssued)
		for q := uint64(0); q < is.queriesIssued; q++ {
			if l := p.queryLatency(q); l >= 0 {
				queryLat = append(queryLat, l)
			}
		}
	}
	var ttft, tpot []int64
	var totalTokens int64
	if p.tokens != nil {
		for i := 0; i < issuedSamples; i++ {
			l := p.sampleLatency(i)
			if l < 0 {
				continue
			}
			n := p.tokens[i]
			totalTokens += n
			ft := p.firstToken[i] - 1
			if ft < 0 {
				ft = l // no first-token signal: the whole response came at once
			}
			ttft = append(ttft, ft)
			if n > 1 {
				tpot = append(tpot, (l-ft)/(n-1))
			}
		}
		if len(tpot) < len(ttft) {
			res.Errors = append(res.Errors, fmt.Sprintf("Number of tokens need to be greater than 1 (%d samples had fewer)", len(ttft)-len(tpot)))
		}
	}

	// Sample latencies, compacted and sorted in place: the array is the
	// run's largest and is not needed unsorted any more.
	lat := p.latency[:issuedSamples]
	n := 0
	for _, v := range lat {
		if v > 0 {
			lat[n] = v - 1
			n++
		}
	}
	lat = lat[:n]
	slices.Sort(lat)
	res.Series = &Series{SampleLatencyNs: lat, LoadedSet: set}

	pct := e.TargetLatencyPercentile
	res.TargetPercentile = pct
	res.Latency = latencyStats(lat)
	if len(lat) > 0 {
		res.MaxLatencyNs = lat[len(lat)-1]
		res.TargetLatencyNs = stats.Percentile(lat, pct)
	}
	switch e.Scenario {
	case Offline:
		res.FinalQueryAllDoneNs = res.MaxLatencyNs
	case SingleStream, MultiStream:
		if q := is.queriesIssued; q > 0 {
			if l := p.queryLatency(q - 1); l >= 0 {
				res.FinalQueryAllDoneNs = p.origin[q-1] + l
			}
		}
	}
	if queryLat != nil {
		slices.Sort(queryLat)
		qs := latencyStats(queryLat)
		res.QueryLatency = &qs
		if len(queryLat) > 0 {
			res.TargetLatencyNs = stats.Percentile(queryLat, pct)
		}
	}
	sampleCount := uint64(len(lat))
	queries := int64(is.queriesIssued)

	switch e.Scenario {
	case Offline:
		if res.MaxLatencyNs > 0 {
			res.SamplesPerSecond = float64(sampleCount) / (float64(res.MaxLatencyNs) / 1e9)
		}
	case Server:
		if res.FinalQueryAllDoneNs > 0 {
			res.CompletedSamplesPerSecond = float64(sampleCount-1) / (float64(res.FinalQueryAllDoneNs) / 1e9)
		}
		if res.FinalQueryScheduledNs > 0 {
			res.ScheduledSamplesPerSecond = float64(sampleCount-1) / (float64(res.FinalQueryScheduledNs) / 1e9)
		}
		bound := int64(e.TargetLatencyNs)
		i, _ := slices.BinarySearch(lat, bound+1)
		res.OverlatencyQueries = uint64(len(lat) - i)
	case SingleStream:
		if res.FinalQueryIssuedNs > 0 {
			res.QPSWithLoadgenOverhead = float64(sampleCount-1) / (float64(res.FinalQueryIssuedNs) / 1e9)
		}
		if res.Latency.MeanNs > 0 {
			res.QPSWithoutLoadgenOverhead = 1e9 / float64(res.Latency.MeanNs)
		}
	}

	v := &res.Validity
	es := &res.EarlyStopping
	var perfRec []string
	switch e.Scenario {
	case Server:
		met := true
		if e.UseTokenLatencies {
			slices.Sort(ttft)
			slices.Sort(tpot)
			if len(ttft) > 0 && stats.Percentile(ttft, pct) > int64(e.ServerTTFTLatencyNs) {
				met = false
				perfRec = append(perfRec, "TTFT constrain not met: Reduce target QPS to improve latency.")
			}
			if len(tpot) > 0 && stats.Percentile(tpot, pct) > int64(e.ServerTPOTLatencyNs) {
				met = false
				perfRec = append(perfRec, "TPOT constrain not met: Reduce target QPS to improve latency.")
			}
			es.Applies = true
			okTPOT, tpotLines := serverEarlyStop(queries, countAbove(tpot, int64(e.ServerTPOTLatencyNs)), pct)
			okTTFT, ttftLines := serverEarlyStop(queries, countAbove(ttft, int64(e.ServerTTFTLatencyNs)), pct)
			es.Met, es.TTFTLines, es.TPOTLines = okTPOT && okTTFT, ttftLines, tpotLines
		} else {
			if res.TargetLatencyNs > int64(e.TargetLatencyNs) {
				met = false
				perfRec = append(perfRec, "Reduce target QPS to improve latency.")
			}
			es.Applies = true
			es.Met, es.Lines = serverEarlyStop(queries, int64(res.OverlatencyQueries), pct)
		}
		v.PerfConstraintsMet = &met
	case SingleStream:
		es.Applies = true
		est := stats.EstimatePercentile(lat, pct)
		es.Met, es.Lines = streamEarlyStop(est, pct)
		if est.Met {
			es.EstimateNs, es.Discarded = est.Latency, est.Discarded
			if e99 := stats.EstimatePercentile(lat, 0.99); e99.Met {
				es.Estimate99Ns = e99.Latency
				es.Lines = append(es.Lines, fmt.Sprintf(" * Early stopping %sth percentile estimate: %d", pctLabel(0.99), e99.Latency))
			} else {
				es.Lines = append(es.Lines,
					fmt.Sprintf(" * Not enough queries processed for %sth percentile", pctLabel(0.99)),
					" early stopping estimate (would need to process at",
					fmt.Sprintf(" least %d total queries).", e99.MinQueries))
			}
		}
	case MultiStream:
		es.Applies = true
		est := stats.EstimatePercentile(queryLat, pct)
		es.Met, es.Lines = streamEarlyStop(est, pct)
		if est.Met {
			es.EstimateNs, es.Discarded = est.Latency, est.Discarded
		}
	case Offline:
		es.Met = true
	}
	v.EarlyStoppingMet = es.Met

	switch e.Scenario {
	case Offline:
		v.MinDurationMet = res.MaxLatencyNs >= int64(e.MinDurationMs)*1e6
	case Server:
		v.MinDurationMet = res.FinalQueryScheduledNs >= int64(e.MinDurationMs)*1e6
	default:
		v.MinDurationMet = res.FinalQueryIssuedNs >= int64(e.MinDurationMs)*1e6
	}
	v.MinQueriesMet = is.queriesIssued >= e.MinQueryCount && sampleCount >= e.MinSampleCount
	perfMet := v.PerfConstraintsMet == nil || *v.PerfConstraintsMet
	v.Valid = perfMet && v.MinDurationMet && v.MinQueriesMet && v.EarlyStoppingMet

	if !perfMet {
		v.Recommendations = append(v.Recommendations, perfRec...)
	}
	if !v.MinDurationMet {
		v.Recommendations = append(v.Recommendations, minDurationRecommendation(e.Scenario))
	}
	if !v.MinQueriesMet {
		v.Recommendations = append(v.Recommendations, MinQueriesRecommendation)
	}
	if !v.Valid {
		v.InvalidReason = invalidReason(v, perfRec, e.Scenario)
	}

	if p.tokens != nil {
		ts := &TokenStats{TotalTokens: totalTokens}
		slices.Sort(ttft)
		slices.Sort(tpot)
		ts.FirstToken, ts.TimePerOutputToken = latencyStats(ttft), latencyStats(tpot)
		if len(ttft) > 0 {
			ts.TTFTPercentileNs = stats.Percentile(ttft, pct)
		}
		if len(tpot) > 0 {
			ts.TPOTPercentileNs = stats.Percentile(tpot, pct)
		}
		if res.MaxLatencyNs > 0 {
			ts.TokensPerSecond = float64(totalTokens) / (float64(res.MaxLatencyNs) / 1e9)
		}
		if res.FinalQueryAllDoneNs > 0 {
			ts.CompletedTokensPerSec = float64(totalTokens) / (float64(res.FinalQueryAllDoneNs) / 1e9)
		}
		res.Tokens = ts
	}
	res.Metric = metricOf(res)
}

// MinQueriesRecommendation is LoadGen's min-queries recommendation; the
// summary prints a second line under it.
const MinQueriesRecommendation = "The test exited early, before enough queries were issued."

func minDurationRecommendation(sc Scenario) string {
	switch sc {
	case Server:
		return "Increase the target QPS so the loadgen pre-generates more queries."
	case Offline:
		return "Increase expected QPS so the loadgen pre-generates a larger (coalesced) query."
	}
	return "Decrease the expected latency so the loadgen pre-generates more queries."
}

// invalidReason builds result_invalid_reason as LoadGen concatenates it:
// the performance and min-duration texts each followed by a space, then the
// min-queries text. Two failed token constraints are joined by LoadGen's
// "\n * ", with the newline flattened to a space.
func invalidReason(v *Validity, perfRec []string, sc Scenario) string {
	var b strings.Builder
	if v.PerfConstraintsMet != nil && !*v.PerfConstraintsMet {
		b.WriteString(strings.Join(perfRec, "  * ") + " ")
	}
	if !v.MinDurationMet {
		b.WriteString(minDurationRecommendation(sc) + " ")
	}
	if !v.MinQueriesMet {
		b.WriteString(MinQueriesRecommendation)
	}
	return b.String()
}

// pctLabel prints a percentile as LoadGen's headline does: 90.0, 99.9.
func pctLabel(p float64) string { return fmt.Sprintf("%.1f", p*100) }

func streamEarlyStop(est stats.Estimate, p float64) (bool, []string) {
	if !est.Met {
		return false, []string{
			fmt.Sprintf(" * Only processed %d queries.", est.Queries),
			fmt.Sprintf(" * Need to process at least %d queries for early stopping.", est.MinQueries),
		}
	}
	return true, []string{
		fmt.Sprintf(" * Processed at least %d queries (%d).", est.MinQueries, est.Queries),
		fmt.Sprintf(" * Would discard %d highest latency queries.", est.Discarded),
		fmt.Sprintf(" * Early stopping %sth percentile estimate: %d", pctLabel(p), est.Latency),
	}
}

func serverEarlyStop(queries, over int64, p float64) (bool, []string) {
	c := stats.CheckServer(queries, over, p)
	if c.Met {
		return true, []string{" * Run successful."}
	}
	return false, []string{
		" * Run unsuccessful.",
		fmt.Sprintf(" * Processed %d queries.", queries),
		fmt.Sprintf(" * Would need to run at least %d more queries,", c.Needed-queries),
		" with the run being successful if every additional",
		" query were under latency.",
	}
}

func countAbove(sorted []int64, bound int64) int64 {
	i, _ := slices.BinarySearch(sorted, bound+1)
	return int64(len(sorted) - i)
}

func latencyStats(sorted []int64) LatencyStats {
	ls := LatencyStats{}
	if len(sorted) == 0 {
		return ls
	}
	ls.MinNs, ls.MaxNs = sorted[0], sorted[len(sorted)-1]
	ls.MeanNs = stats.TruncatedMean(sorted)
	for _, p := range stats.ReportedPercentiles {
		ls.Percentiles = append(ls.Percentiles, Percentile{P: p, Ns: stats.Percentile(sorted, p)})
	}
	return ls
}

// metricOf picks the scenario's official number (reference/loadgen.md §7.3).
func metricOf(r *Result) Metric {
	switch r.Effective.Scenario {
	case Offline:
		if r.Tokens != nil {
			return Metric{Name: "result_tokens_per_second", Value: r.Tokens.TokensPerSecond, Unit: "tokens/s", HigherIsBetter: true}
		}
		return Metric{Name: "result_samples_per_second", Value: r.SamplesPerSecond, Unit: "samples/s", HigherIsBetter: true}
	case Server:
		if r.Tokens != nil {
			return Metric{Name: "result_completed_tokens_per_second", Value: r.Tokens.CompletedTokensPerSec, Unit: "tokens/s", HigherIsBetter: true}
		}
		return Metric{Name: "result_completed_samples_per_sec", Value: r.CompletedSamplesPerSecond, Unit: "samples/s", HigherIsBetter: true}
	case SingleStream:
		return Metric{Name: "early_stopping_latency_ss", Value: float64(r.EarlyStopping.EstimateNs), Unit: "ns"}
	default:
		return Metric{Name: "early_stopping_latency_ms", Value: float64(r.EarlyStopping.EstimateNs), Unit: "ns"}
	}
}
