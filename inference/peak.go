package inference

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/gpuperf/gpuperf/inference/stats"
)

// FindPeak searches for the highest Server target QPS at which a run is
// VALID, then confirms it with one more full-length run.
//
// It follows LoadGen's FindPeakPerformance (reference/loadgen.md §3.5) in
// shape: start at server_target_qps, widen the upper bound by
// (1 + server_find_peak_qps_boundary_step_size) until a run fails, then
// bisect. It differs in four ways, all so that the number it returns means
// "sustainable by MLPerf's rules":
//   - a probe passes only when the run is VALID by every §7.1 check (latency
//     bound, min duration, min queries and early stopping), where LoadGen's
//     search looks at the latency bound alone;
//   - every probe runs at least the queries early stopping needs to pass
//     with 10 samples over the bound (2010 at the 99th percentile), so a
//     probe never fails for want of evidence;
//   - when the first probe fails, the search halves the QPS until one
//     passes instead of stopping with an error;
//   - the result is re-run at full length and, if that confirmation is not
//     VALID, the QPS steps down by the precision and is confirmed again.
//
// precision is the bisection's stopping width in QPS; zero uses LoadGen's
// rule with server_find_peak_qps_decimals_of_precision.
func FindPeak(ctx context.Context, b Backend, cfg Config, precision float64) (*Result, error) {
	s := cfg.Settings
	if s.Scenario != Server {
		//lint:ignore ST1005 LoadGen's own message, word for word
		return nil, errors.New("Finding peak performance is only supported in Server scenarios.")
	}
	s.Mode = PerformanceOnly
	// A probe must run long enough for early stopping to pass with some
	// over-latency samples; otherwise a short probe fails for want of
	// evidence and the search wrongly lowers the QPS. Allow 10 samples over
	// the bound: 2010 queries at the 99th percentile.
	s.MinQueryCount = max(s.MinQueryCount, uint64(stats.MinPassingQueries(probeOverlatency, s.ServerTargetLatencyPercentile)+probeOverlatency))
	search := &PeakSearch{Precision: precision, MinQueries: s.MinQueryCount}
	probe := func(qps float64, autoHint, confirm bool) (*Result, error) {
		c := cfg
		c.Settings = s
		c.Settings.ServerTargetQPS = qps
		c.AutoHint = autoHint
		r, err := Run(ctx, b, c)
		if err != nil {
			return r, err
		}
		pr := PeakProbe{TargetQPS: r.Requested.ServerTargetQPS, Valid: r.Validity.Valid,
			Completed: r.CompletedSamplesPerSecond, P99Ns: r.TargetLatencyNs,
			Reason: r.Validity.InvalidReason, Confirmation: confirm}
		if !r.Validity.EarlyStoppingMet && pr.Reason == "" {
			pr.Reason = "early stopping not met"
		}
		search.Probes = append(search.Probes, pr)
		if cfg.Logger != nil {
			cfg.Logger.Info("peak probe", "target_qps", pr.TargetQPS, "valid", pr.Valid, "completed_qps", pr.Completed, "reason", pr.Reason)
		}
		return r, nil
	}

	first, err := probe(s.ServerTargetQPS, cfg.AutoHint, false)
	if err != nil {
		return first, err
	}
	lo, best := first.Requested.ServerTargetQPS, first
	for i := 0; !best.Validity.Valid; i++ {
		if i == 8 {
			search.Note = fmt.Sprintf("no VALID target QPS found down to %.4g", lo)
			best.Peak = search
			return best, nil
		}
		lo /= 2
		if best, err = probe(lo, false, false); err != nil {
			return best, err
		}
	}
	step := s.ServerFindPeakQPSBoundaryStepSize
	hi := lo * (1 + step)
	for i := 0; ; i++ {
		if hi > MaxRate {
			search.Note = fmt.Sprintf("upper bound capped at %g QPS, the most a run may ask for", float64(MaxRate))
			hi = MaxRate
			break
		}
		r, err := probe(hi, false, false)
		if errors.Is(err, ErrRunTooLarge) {
			// A rate whose schedule does not fit in memory bounds the
			// search from above, as a probe that failed would.
			search.Note = fmt.Sprintf("upper bound at %.4g QPS, the most whose run fits the memory limit", hi)
			break
		}
		if err != nil {
			return r, err
		}
		if !r.Validity.Valid {
			break
		}
		if i == 20 {
			search.Note = "upper bound not found after 20 widenings"
			break
		}
		lo, best = hi, r
		hi *= 1 + step
	}
	for !closeEnough(lo, hi, precision, s.ServerFindPeakQPSDecimalsOfPrecision) {
		mid := (lo + hi) / 2
		r, err := probe(mid, false, false)
		if errors.Is(err, ErrRunTooLarge) {
			hi = mid
			continue
		}
		if err != nil {
			return r, err
		}
		if r.Validity.Valid {
			lo, best = mid, r
		} else {
			hi = mid
		}
	}
	width := precision
	if width <= 0 {
		width = math.Pow(10, -float64(s.ServerFindPeakQPSDecimalsOfPrecision))
	}
	for i := 0; i < 3 && lo > 0; i++ {
		r, err := probe(lo, false, true)
		if err != nil {
			return r, err
		}
		if r.Validity.Valid {
			search.PeakQPS, search.Confirmed = lo, true
			r.Peak = search
			return r, nil
		}
		lo -= width
	}
	search.PeakQPS = best.Requested.ServerTargetQPS
	search.Note = "the confirmation runs were not VALID; the result is the last VALID probe"
	best.Peak = search
	return best, nil
}

// probeOverlatency is how many over-latency samples a probe's query count
// leaves room for under early stopping.
const probeOverlatency = 10

// closeEnough is the bisection's stop rule: an absolute width in QPS, or
// LoadGen's floor(l·10^d) + 1 >= floor(u·10^d).
func closeEnough(lo, hi, precision float64, decimals int) bool {
	if precision > 0 {
		return hi-lo <= precision
	}
	scale := math.Pow(10, float64(decimals))
	return math.Floor(lo*scale)+1 >= math.Floor(hi*scale)
}
