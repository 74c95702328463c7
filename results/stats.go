package results

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/montanaflynn/stats"
	"gonum.org/v1/gonum/stat/distuv"
)

// Statistics of retained performance. Everything is computed on natural
// logs of the headline values, oriented so that higher is better (a
// latency enters as 1/latency), so a ratio becomes a difference of means
// and its interval is symmetric in log space: retained = 100·exp(mean
// log(c) − mean log(b)).

// minBootstrapReps is the fewest repetitions per side (pairs when paired)
// a bootstrap interval is computed from; below it the resampling
// distribution is too coarse to trust.
const minBootstrapReps = 10

// maxRepsNeeded caps the search for the repetitions a margin needs.
const maxRepsNeeded = 100000

// estimateInput is one scenario's data for the statistics.
type estimateInput struct {
	// Base and Cand are log values, oriented higher-is-better. When
	// Paired, Base[i] and Cand[i] are one pair.
	Base, Cand []float64
	Paired     bool
	// Method is IntervalAuto, IntervalT or IntervalBootstrap.
	Method     string
	Confidence float64 // of the reported interval, e.g. 0.95
	EquivConf  float64 // of the equivalence interval, e.g. 0.90
	MarginPct  float64
	Resamples  int
	Seed       uint64
	// Power is what RepsNeeded is sized for; DefaultPower when zero.
	Power float64
	// SeqCrit and SeqEquivCrit, when set, are a sequential design's
	// critical values at this look: the repeated confidence intervals
	// are the mean log ratio ± crit·se, labelled with Confidence and
	// EquivConf, the family's levels.
	SeqCrit, SeqEquivCrit float64
	// skipReps leaves RepsNeeded out: simulations that only need the
	// intervals and the verdict.
	skipReps bool
}

// estimate is what the statistics found.
type estimate struct {
	RetainedPct float64
	// Interval and Equiv are nil when no interval is possible.
	Interval, Equiv *Interval
	RepsNeeded      *int
	Verdict         string
	Notes           []string
}

// estimateRetained computes the point value, the two intervals, the
// repetitions the margin needs and the equivalence verdict.
func estimateRetained(in estimateInput) (estimate, error) {
	var out estimate
	nb, nc := len(in.Base), len(in.Cand)
	if nb == 0 || nc == 0 {
		return out, errors.New("a side has no values")
	}
	if in.Paired && nb != nc {
		return out, fmt.Errorf("paired data of unequal length (%d, %d)", nb, nc)
	}
	var diffs []float64
	var center float64
	if in.Paired {
		diffs = make([]float64, nb)
		for i := range diffs {
			diffs[i] = in.Cand[i] - in.Base[i]
		}
		m, err := stats.Mean(diffs)
		if err != nil {
			return out, fmt.Errorf("mean of log ratios: %w", err)
		}
		center = m
	} else {
		mb, err := stats.Mean(in.Base)
		if err != nil {
			return out, fmt.Errorf("mean of baseline logs: %w", err)
		}
		mc, err := stats.Mean(in.Cand)
		if err != nil {
			return out, fmt.Errorf("mean of candidate logs: %w", err)
		}
		center = mc - mb
	}
	out.RetainedPct = 100 * math.Exp(center)

	useBootstrap := in.Method == IntervalBootstrap
	if useBootstrap && in.SeqCrit > 0 {
		out.Notes = append(out.Notes, "a sequential design's intervals are repeated t intervals; the bootstrap is not used")
		useBootstrap = false
	}
	if useBootstrap && (min(nb, nc) < minBootstrapReps) {
		out.Notes = append(out.Notes, fmt.Sprintf("bootstrap needs at least %d repetitions per side; a t interval is used instead", minBootstrapReps))
		useBootstrap = false
	}

	switch {
	case in.Paired && nb < 2:
		out.Notes = append(out.Notes, "one repetition per side: the point value only, no interval is possible")
	case !in.Paired && nb < 2 && nc < 2:
		out.Notes = append(out.Notes, "one repetition per side: the point value only, no interval is possible")
	case useBootstrap:
		out.Interval, out.Equiv = bootstrapIntervals(in, diffs)
	default:
		te, err := tEstimate(in, diffs, center)
		if err != nil {
			return out, err
		}
		if in.SeqCrit > 0 && in.Paired {
			te.Method = MethodRepeatedT
			out.Interval = te.intervalAt(in.SeqCrit, in.Confidence)
			out.Equiv = te.intervalAt(in.SeqEquivCrit, in.EquivConf)
		} else {
			out.Interval = te.interval(in.Confidence)
			out.Equiv = te.interval(in.EquivConf)
		}
		if te.Method == MethodOneSidedVarT {
			out.Notes = append(out.Notes, "one side has a single repetition: its spread is taken from the other side's, assuming both spread alike")
		}
	}
	if out.Equiv != nil {
		out.Verdict = verdict(out.Equiv.LowPct, out.Equiv.HighPct, in.MarginPct)
	} else {
		out.Verdict = VerdictInconclusive
	}
	if in.skipReps {
		return out, nil
	}
	if n, ok := repsNeeded(in, diffs); ok {
		out.RepsNeeded = &n
	}
	return out, nil
}

// tEst is a t-based estimate of the log ratio.
type tEst struct {
	Method string
	Center float64 // log ratio
	SE     float64
	DF     float64
	N      int
}

func (e tEst) interval(conf float64) *Interval {
	t := 0.0
	if e.SE > 0 {
		t = tQuantile(1-(1-conf)/2, e.DF)
	}
	return e.intervalAt(t, conf)
}

// intervalAt is the interval center ± t·SE, labelled with confidence conf.
func (e tEst) intervalAt(t, conf float64) *Interval {
	lo := 100 * math.Exp(e.Center-t*e.SE)
	hi := 100 * math.Exp(e.Center+t*e.SE)
	return &Interval{Method: e.Method, Confidence: conf, LowPct: lo, HighPct: hi, HalfWidthPct: (hi - lo) / 2, DF: e.DF, N: e.N}
}

// tEstimate picks the t interval: paired on the log ratios, Welch on the
// logs of two samples, or Student with one side's variance when the other
// has a single value.
func tEstimate(in estimateInput, diffs []float64, center float64) (tEst, error) {
	if in.Paired {
		sd, err := sampleSD(diffs)
		if err != nil {
			return tEst{}, fmt.Errorf("spread of log ratios: %w", err)
		}
		n := float64(len(diffs))
		return tEst{Method: MethodPairedT, Center: center, SE: sd / math.Sqrt(n), DF: n - 1, N: len(diffs)}, nil
	}
	nb, nc := float64(len(in.Base)), float64(len(in.Cand))
	if len(in.Base) < 2 || len(in.Cand) < 2 {
		many := in.Base
		if len(in.Cand) > len(in.Base) {
			many = in.Cand
		}
		sd, err := sampleSD(many)
		if err != nil {
			return tEst{}, err
		}
		return tEst{Method: MethodOneSidedVarT, Center: center, SE: sd * math.Sqrt(1/nb+1/nc), DF: float64(len(many) - 1), N: 1}, nil
	}
	sb, err := sampleSD(in.Base)
	if err != nil {
		return tEst{}, fmt.Errorf("spread of baseline logs: %w", err)
	}
	sc, err := sampleSD(in.Cand)
	if err != nil {
		return tEst{}, fmt.Errorf("spread of candidate logs: %w", err)
	}
	vb, vc := sb*sb/nb, sc*sc/nc
	se := math.Sqrt(vb + vc)
	df := welchDF(vb, vc, nb, nc)
	return tEst{Method: MethodWelchT, Center: center, SE: se, DF: df, N: min(len(in.Base), len(in.Cand))}, nil
}

// welchDF is the Welch–Satterthwaite degrees of freedom for the variances
// of the two means vb = s_b²/n_b and vc = s_c²/n_c. With no spread on
// either side it is the pooled count, where it no longer matters.
func welchDF(vb, vc, nb, nc float64) float64 {
	den := vb*vb/(nb-1) + vc*vc/(nc-1)
	if den == 0 {
		return nb + nc - 2
	}
	return (vb + vc) * (vb + vc) / den
}

// sampleSD is the sample standard deviation (n−1 in the denominator).
func sampleSD(xs []float64) (float64, error) {
	sd, err := stats.StandardDeviationSample(xs)
	if err != nil {
		return 0, fmt.Errorf("standard deviation of %d values: %w", len(xs), err)
	}
	return sd, nil
}

// tQuantile is Student's t inverse CDF.
func tQuantile(p, df float64) float64 {
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Quantile(p)
}

// verdict is the equivalence test's outcome on an interval of retained %:
// wholly inside [100−m, 100+m] is equivalent; wholly below 100−m lower;
// wholly above 100+m higher; anything else inconclusive.
func verdict(lowPct, highPct, marginPct float64) string {
	switch {
	case lowPct >= 100-marginPct && highPct <= 100+marginPct:
		return VerdictEquivalent
	case highPct < 100-marginPct:
		return VerdictLower
	case lowPct > 100+marginPct:
		return VerdictHigher
	default:
		return VerdictInconclusive
	}
}

// repsNeeded is the number of pairs (or repetitions per side, unpaired)
// at which the equivalence test reaches in.Power (DefaultPower when unset)
// to conclude equivalence within the margin when the true ratio is 100%,
// at the observed spread (see tostPower). It is at least MinPairs, and
// even when paired, since pairs come in ABBA blocks. ok is false when the
// spread is unknown.
func repsNeeded(in estimateInput, diffs []float64) (n int, ok bool) {
	if !(in.MarginPct > 0) {
		return 0, false
	}
	power := in.Power
	if !(power > 0 && power < 1) {
		power = DefaultPower
	}
	alpha := (1 - in.EquivConf) / 2
	var sigma float64
	var df func(n int) float64
	switch {
	case in.Paired:
		if len(diffs) < 2 {
			return 0, false
		}
		s, err := sampleSD(diffs)
		if err != nil {
			return 0, false
		}
		sigma, df = s, func(n int) float64 { return float64(n - 1) }
	case len(in.Base) >= 2 && len(in.Cand) >= 2:
		sb, err1 := sampleSD(in.Base)
		sc, err2 := sampleSD(in.Cand)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		sigma = math.Sqrt(sb*sb + sc*sc)
		df = func(n int) float64 { return welchDF(sb*sb/float64(n), sc*sc/float64(n), float64(n), float64(n)) }
	case len(in.Base) >= 2 || len(in.Cand) >= 2:
		many := in.Base
		if len(in.Cand) > len(in.Base) {
			many = in.Cand
		}
		s, err := sampleSD(many)
		if err != nil {
			return 0, false
		}
		sigma, df = s*math.Sqrt2, func(n int) float64 { return float64(2*n - 2) }
	default:
		return 0, false
	}
	n, ok = unitsForPower(sigma, in.MarginPct, power, alpha, df)
	if ok && in.Paired && n%2 != 0 {
		n++
	}
	return n, ok
}

// bootstrapIntervals resamples with a seeded generator: pairs (their log
// ratios) when paired, otherwise each side on its own, and takes the
// percentiles of the resampled mean log ratios (montanaflynn/stats'
// Percentile: linear interpolation between closest ranks, Hyndman–Fan
// type 7). The plain percentile interval is too narrow for small samples
// (it covers about 92% at a nominal 95% with 30 pairs), so the percentiles
// are taken at Hesterberg's expanded level: the tail α' with
// Φ⁻¹(1 − α'/2) = √(n/(n−1))·t(1 − α/2, n−1) (Hesterberg 2015, "What
// teachers should know about the bootstrap").
func bootstrapIntervals(in estimateInput, diffs []float64) (*Interval, *Interval) {
	resamples := in.Resamples
	if resamples <= 0 {
		resamples = 10000
	}
	rng := rand.New(rand.NewPCG(in.Seed, 0x9e3779b97f4a7c15))
	mean := func(xs []float64) float64 {
		var s float64
		for range xs {
			s += xs[rng.IntN(len(xs))]
		}
		return s / float64(len(xs))
	}
	dist := make([]float64, resamples)
	for i := range dist {
		if in.Paired {
			dist[i] = mean(diffs)
		} else {
			dist[i] = mean(in.Cand) - mean(in.Base)
		}
	}
	slices.Sort(dist)
	n := min(len(in.Base), len(in.Cand))
	mk := func(conf float64) *Interval {
		nf := float64(n)
		z := math.Sqrt(nf/(nf-1)) * tQuantile(1-(1-conf)/2, nf-1)
		a := distuv.UnitNormal.CDF(-z) // each tail
		lo, err1 := stats.Percentile(dist, 100*a)
		hi, err2 := stats.Percentile(dist, 100*(1-a))
		if err1 != nil || err2 != nil {
			return nil
		}
		l, h := 100*math.Exp(lo), 100*math.Exp(hi)
		return &Interval{Method: MethodBootstrap, Confidence: conf, LowPct: l, HighPct: h, HalfWidthPct: (h - l) / 2,
			N: n, Resamples: resamples, Seed: in.Seed}
	}
	return mk(in.Confidence), mk(in.EquivConf)
}
