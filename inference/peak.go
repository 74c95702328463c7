package inference

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gpuperf/gpuperf/inference/stats"
)

// FindPeak searches for the highest Server target QPS at which a run is
// VALID, then confirms it with one more full-length run.
//
// It follows LoadGen's FindPeakPerformance (reference/loadgen.md §3.5) in
// shape: start at server_target_qps, widen the upper bound by
// (1 + server_find_peak_qps_boundary_step_size) until a probe fails, then
// bisect. It differs so that it ends in bounded time on any host and the
// number it returns means "sustainable by MLPerf's rules":
//   - probes are sized by time (ProbeDuration), not by a query count, so a
//     probe at 8 QPS costs what one at 2000 QPS does;
//   - a probe passes when its latency percentile is within the bound, it
//     met its duration, and every sample completed without error; early
//     stopping is required too once the probe has issued enough queries
//     for it to pass at all (LoadGen's search looks at the bound alone);
//   - when the first probe fails, the search halves the QPS until one
//     passes, down to a floor (peak_min_qps, default 1/64 of the start),
//     instead of stopping with an error;
//   - the whole search, confirmation included, is bounded by a time budget
//     (peak_budget_ms, default PeakBudget): once the next probe would not
//     leave time for the confirmation, the search confirms what it has
//     (the first confirmation always runs: a low QPS makes it long);
//   - the result is re-run at full length, with at least the queries
//     early stopping needs to pass with 10 samples over the bound (2010 at
//     the 99th percentile), and judged by every MLPerf check; if that
//     confirmation is not VALID, the QPS steps down and is confirmed again
//     while the budget allows.
//
// precision is the bisection's stopping width in QPS; zero uses LoadGen's
// rule with server_find_peak_qps_decimals_of_precision. cfg.Progress sees
// each probe's progress with its phase prefixed by the probe.
func FindPeak(ctx context.Context, b Backend, cfg Config, precision float64) (*Result, error) {
	s := cfg.Settings
	if s.Scenario != Server {
		//lint:ignore ST1005 LoadGen's own message, word for word
		return nil, errors.New("Finding peak performance is only supported in Server scenarios.")
	}
	s.Mode = PerformanceOnly
	probeDur := ProbeDuration(s)
	budget := PeakBudget(s)
	begin := time.Now()
	search := &PeakSearch{Precision: precision, ProbeDurationMs: uint64(probeDur / time.Millisecond),
		BudgetMs: uint64(budget / time.Millisecond)}
	// A confirmation is a full run that must pass early stopping even with
	// a few samples over the bound: at least 2010 queries at the 99th
	// percentile, however long that takes at a low QPS. The budget keeps
	// room for one at the QPS the search stands at.
	confirmQueries := max(s.MinQueryCount, uint64(stats.MinPassingQueries(probeOverlatency, s.ServerTargetLatencyPercentile)+probeOverlatency))
	confirmCost := func(qps float64) time.Duration {
		d := s.MinDuration()
		if qps > 0 {
			d = max(d, time.Duration(float64(confirmQueries)/qps*1e9))
		}
		return d + d/4
	}
	lo := s.ServerTargetQPS
	left := func() time.Duration { return budget - time.Since(begin) }
	roomForProbe := func() bool { return left() > probeDur+probeDur/2+confirmCost(lo) }
	label := func(what string) func(Progress) {
		fn := cfg.Progress
		if fn == nil {
			return nil
		}
		return func(p Progress) {
			p.Phase = fmt.Sprintf("%s, search %s of %s: %s", what,
				time.Since(begin).Round(time.Second), budget.Round(time.Second), p.Phase)
			fn(p)
		}
	}
	finish := func(r *Result) (*Result, error) {
		search.ElapsedNs = int64(time.Since(begin))
		r.Peak = search
		return r, nil
	}

	probe := func(qps float64, first bool) (*Result, bool, error) {
		c := cfg
		c.Settings = s
		c.Settings.ServerTargetQPS = qps
		c.Settings.MinDurationMs = uint64(probeDur / time.Millisecond)
		c.Settings.MinQueryCount, c.Settings.MaxQueryCount = 1, 0
		if !first {
			// The first probe warmed the backend up.
			c.Settings.WarmupMs = 0
		}
		c.AutoHint = first && cfg.AutoHint
		c.Rerun = false
		c.Progress = label(fmt.Sprintf("probe %d at %s QPS", len(search.Probes)+1, formatQPS(qps)))
		r, err := Run(ctx, b, c)
		if err != nil {
			return r, false, err
		}
		pass, reason := probePasses(r)
		search.Probes = append(search.Probes, PeakProbe{TargetQPS: r.Requested.ServerTargetQPS, Valid: pass,
			Completed: r.CompletedSamplesPerSecond, P99Ns: r.TargetLatencyNs, Reason: reason})
		if cfg.Logger != nil {
			cfg.Logger.Info("peak probe", "target_qps", r.Requested.ServerTargetQPS, "pass", pass, "completed_qps", r.CompletedSamplesPerSecond, "reason", reason)
		}
		return r, pass, nil
	}

	first, pass, err := probe(s.ServerTargetQPS, true)
	if err != nil {
		return first, err
	}
	lo = first.Requested.ServerTargetQPS
	best := first
	search.MinQPS = s.PeakMinQPS
	if search.MinQPS <= 0 {
		search.MinQPS = lo / 64
	}
	for !pass {
		// Nothing to confirm yet: only the next probe must fit.
		if lo/2 < search.MinQPS || left() < probeDur+probeDur/2 {
			why := fmt.Sprintf("the floor of %s QPS", formatQPS(search.MinQPS))
			if lo/2 >= search.MinQPS {
				why = fmt.Sprintf("the %s budget", budget.Round(time.Second))
			}
			search.Note = fmt.Sprintf("no target QPS passed down to %s QPS; the search stopped at %s", formatQPS(lo), why)
			return finish(best)
		}
		lo /= 2
		if best, pass, err = probe(lo, false); err != nil {
			return best, err
		}
	}
	step := s.ServerFindPeakQPSBoundaryStepSize
	hi := lo * (1 + step)
	bounded := false
	for i := 0; i < 20 && roomForProbe(); i++ {
		if hi > MaxRate {
			search.Note = fmt.Sprintf("upper bound capped at %g QPS, the most a run may ask for", float64(MaxRate))
			hi, bounded = MaxRate, true
			break
		}
		r, ok, err := probe(hi, false)
		if errors.Is(err, ErrRunTooLarge) {
			// A rate whose schedule does not fit in memory bounds the
			// search from above, as a probe that failed would.
			search.Note = fmt.Sprintf("upper bound at %.4g QPS, the most whose run fits the memory limit", hi)
			bounded = true
			break
		}
		if err != nil {
			return r, err
		}
		if !ok {
			bounded = true
			break
		}
		lo, best = hi, r
		hi *= 1 + step
	}
	switch {
	case !bounded && !roomForProbe():
		search.Note = fmt.Sprintf("the %s budget ran out before a probe failed: the peak is %s QPS or more", budget.Round(time.Second), formatQPS(lo))
	case !bounded:
		search.Note = "upper bound not found after 20 widenings"
	}
	for bounded && !closeEnough(lo, hi, precision, s.ServerFindPeakQPSDecimalsOfPrecision) {
		if !roomForProbe() {
			search.Note = fmt.Sprintf("the %s budget ended the bisection: the peak lies in [%s, %s) QPS", budget.Round(time.Second), formatQPS(lo), formatQPS(hi))
			break
		}
		mid := (lo + hi) / 2
		r, ok, err := probe(mid, false)
		if errors.Is(err, ErrRunTooLarge) {
			hi = mid
			continue
		}
		if err != nil {
			return r, err
		}
		if ok {
			lo, best = mid, r
		} else {
			hi = mid
		}
	}
	// Confirm at full length; a failed confirmation steps down by the
	// precision, or 5% when that is finer, while the budget allows.
	width := precision
	if width <= 0 {
		width = math.Pow(10, -float64(s.ServerFindPeakQPSDecimalsOfPrecision))
	}
	for i := 0; i < 3 && lo > 0 && (i == 0 || left() > confirmCost(lo)); i++ {
		c := cfg
		c.Settings = s
		c.Settings.ServerTargetQPS = lo
		c.Settings.MinQueryCount = confirmQueries
		c.Settings.WarmupMs = 0
		c.AutoHint, c.Rerun = false, false
		c.Progress = label(fmt.Sprintf("confirming %s QPS", formatQPS(lo)))
		r, err := Run(ctx, b, c)
		if err != nil {
			return r, err
		}
		pr := PeakProbe{TargetQPS: lo, Valid: r.Validity.Valid, Completed: r.CompletedSamplesPerSecond,
			P99Ns: r.TargetLatencyNs, Reason: r.InvalidExplanation(), Confirmation: true}
		if r.Validity.Valid {
			pr.Reason = ""
		}
		search.Probes = append(search.Probes, pr)
		if r.Validity.Valid {
			search.PeakQPS, search.Confirmed = lo, true
			return finish(r)
		}
		lo -= max(width, lo*0.05)
	}
	search.PeakQPS = best.Requested.ServerTargetQPS
	if search.Note == "" {
		search.Note = "the confirmation runs were not VALID; the result is the last passing probe"
	} else {
		search.Note += "; the confirmation runs were not VALID"
	}
	return finish(best)
}

// ProbeDuration is how long each peak-search probe runs: a quarter of
// min_duration, between one and fifteen seconds, and never longer than
// min_duration itself.
func ProbeDuration(s TestSettings) time.Duration {
	return min(max(s.MinDuration()/4, time.Second), 15*time.Second, s.MinDuration())
}

// PeakBudget is a peak search's time bound: peak_budget_ms when set,
// otherwise room for the warm-up, 20 probes and three confirmations (the
// quick profile: about half a minute; standard: about 8 minutes).
func PeakBudget(s TestSettings) time.Duration {
	if s.PeakBudgetMs > 0 {
		return time.Duration(s.PeakBudgetMs) * time.Millisecond
	}
	return time.Duration(s.WarmupMs)*time.Millisecond + 20*ProbeDuration(s) + 3*s.MinDuration()
}

// probePasses judges a probe: within the latency bound, its duration met,
// every sample completed without error, and early stopping met once the
// probe has issued enough queries for it to be met at all.
func probePasses(r *Result) (bool, string) {
	v := r.Validity
	switch {
	case v.PerfConstraintsMet != nil && !*v.PerfConstraintsMet:
		return false, fmt.Sprintf("p%g latency %s over the %s bound", 100*r.Effective.TargetLatencyPercentile,
			time.Duration(r.TargetLatencyNs), time.Duration(r.Effective.TargetLatencyNs))
	case r.SamplesFailed > 0 || r.SamplesComplete < r.SamplesIssued || len(r.Errors) > 0:
		return false, r.InvalidExplanation()
	case !v.MinDurationMet:
		return false, "min duration not met"
	case !v.EarlyStoppingMet && r.QueriesIssued >= uint64(stats.MinPassingQueries(0, r.Effective.TargetLatencyPercentile)):
		return false, "early stopping not met"
	}
	return true, ""
}

// probeOverlatency is how many over-latency samples a confirmation's query
// count leaves room for under early stopping.
const probeOverlatency = 10

// formatQPS prints a QPS with the precision its size needs.
func formatQPS(q float64) string {
	switch {
	case q >= 100:
		return fmt.Sprintf("%.0f", q)
	case q >= 1:
		return fmt.Sprintf("%.1f", q)
	}
	return fmt.Sprintf("%.3g", q)
}

// closeEnough is the bisection's stop rule: an absolute width in QPS, or
// LoadGen's floor(l·10^d) + 1 >= floor(u·10^d).
func closeEnough(lo, hi, precision float64, decimals int) bool {
	if precision > 0 {
		return hi-lo <= precision
	}
	scale := math.Pow(10, float64(decimals))
	return math.Floor(lo*scale)+1 >= math.Floor(hi*scale)
}
