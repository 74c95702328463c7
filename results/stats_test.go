package results

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The expected values below were computed independently with Python's
// mpmath at 30 digits: Student's t quantiles by solving
// CDF(t) = 1 − ½·I_{ν/(ν+t²)}(ν/2, ½) = p (regularized incomplete beta)
// for t, and the intervals from the formulas in docs/comparison-schema.md:
//
//	paired:  100·exp(mean(d) ± t(1−α/2, n−1)·sd(d)/√n), d = ln(c/b)
//	Welch:   100·exp(mean(ln c) − mean(ln b) ± t(1−α/2, ν)·√(s_b²/n_b + s_c²/n_c)),
//	         ν = (v_b + v_c)² / (v_b²/(n_b−1) + v_c²/(n_c−1))
//	one-side variance: se = s_c·√(1/n_b + 1/n_c), ν = n_c − 1
//
// (t(0.975, 3) = 3.1824463052837, t(0.95, 3) = 2.3533634348018, the
// textbook values 3.182 and 2.353.)

func logs(xs ...float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = math.Log(x)
	}
	return out
}

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.10g, want %.10g (±%g)", name, got, want, tol)
	}
}

func TestEstimateAgainstIndependentValues(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		in                     estimateInput
		retained               float64
		lo95, hi95, lo90, hi90 float64
		df                     float64
		method                 string
		reps                   int
		verdict                string
	}{
		{
			name:     "paired ABBA",
			in:       estimateInput{Base: logs(1000, 1010, 990, 1005), Cand: logs(960, 975, 950, 962), Paired: true},
			retained: 96.05345126756806, lo95: 95.50938246853426, hi95: 96.60061935224723,
			lo90: 95.65082434383278, hi90: 96.45777298526700, df: 3, method: MethodPairedT,
			reps: MinPairs, verdict: VerdictLower,
		},
		{
			name:     "unpaired Welch",
			in:       estimateInput{Base: logs(1000, 1020, 980, 1010, 995), Cand: logs(940, 960, 930)},
			retained: 94.23955021793939, lo95: 91.29832464096615, hi95: 97.27552898921999,
			lo90: 91.96695167374767, hi90: 96.56830702386609, df: 4.1019130589154947, method: MethodWelchT,
			reps: 6, verdict: VerdictLower,
		},
		{
			name:     "one baseline run, the candidate's spread",
			in:       estimateInput{Base: logs(1000), Cand: logs(950, 960, 940, 955)},
			retained: 95.12211889995418, lo95: 92.12683048243172, hi95: 98.21479211468678,
			lo90: 92.89794794823428, hi90: 97.39954115088718, df: 3, method: MethodOneSidedVarT,
			verdict: VerdictInconclusive,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Method, in.Confidence, in.EquivConf, in.MarginPct = IntervalAuto, 0.95, 0.90, 3
			got, err := estimateRetained(in)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "retained", got.RetainedPct, tc.retained, 1e-9)
			if got.Interval == nil || got.Equiv == nil {
				t.Fatalf("no interval: %+v", got)
			}
			near(t, "95% low", got.Interval.LowPct, tc.lo95, 1e-7)
			near(t, "95% high", got.Interval.HighPct, tc.hi95, 1e-7)
			near(t, "90% low", got.Equiv.LowPct, tc.lo90, 1e-7)
			near(t, "90% high", got.Equiv.HighPct, tc.hi90, 1e-7)
			near(t, "half-width", got.Interval.HalfWidthPct, (tc.hi95-tc.lo95)/2, 1e-7)
			near(t, "df", got.Interval.DF, tc.df, 1e-9)
			if got.Interval.Method != tc.method {
				t.Errorf("method %s, want %s", got.Interval.Method, tc.method)
			}
			if got.Verdict != tc.verdict {
				t.Errorf("verdict %s, want %s", got.Verdict, tc.verdict)
			}
			if tc.reps > 0 && (got.RepsNeeded == nil || *got.RepsNeeded != tc.reps) {
				t.Errorf("reps needed %v, want %d", got.RepsNeeded, tc.reps)
			}
		})
	}
}

func TestEstimateSingleRepetition(t *testing.T) {
	got, err := estimateRetained(estimateInput{Base: logs(1000), Cand: logs(950), Confidence: 0.95, EquivConf: 0.9, MarginPct: 3})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "retained", got.RetainedPct, 95, 1e-12) // 950 / 1000
	if got.Interval != nil || got.Equiv != nil || got.RepsNeeded != nil {
		t.Errorf("one repetition per side gave an interval: %+v", got)
	}
	if got.Verdict != VerdictInconclusive {
		t.Errorf("verdict %s, want inconclusive", got.Verdict)
	}
	if len(got.Notes) != 1 || got.Notes[0] != "one repetition per side: the point value only, no interval is possible" {
		t.Errorf("notes %q", got.Notes)
	}
	// A single pair is the same.
	got, err = estimateRetained(estimateInput{Base: logs(1000), Cand: logs(950), Paired: true, Confidence: 0.95, EquivConf: 0.9, MarginPct: 3})
	if err != nil || got.Interval != nil {
		t.Errorf("one pair: %+v, %v", got, err)
	}
}

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		lo, hi, margin float64
		want           string
	}{
		{97.5, 102.0, 3, VerdictEquivalent},
		{97.0, 103.0, 3, VerdictEquivalent}, // the margin's ends count as inside
		{96.9, 101.0, 3, VerdictInconclusive},
		{99.0, 103.1, 3, VerdictInconclusive},
		{90.0, 96.9, 3, VerdictLower},
		{90.0, 97.0, 3, VerdictInconclusive}, // touches the margin: not wholly below
		{103.1, 110.0, 3, VerdictHigher},
		{80.0, 120.0, 3, VerdictInconclusive},
		{98.5, 101.5, 2, VerdictEquivalent},
		{97.0, 99.0, 2, VerdictInconclusive},
	} {
		if got := verdict(tc.lo, tc.hi, tc.margin); got != tc.want {
			t.Errorf("verdict(%g, %g, ±%g) = %s; want %s", tc.lo, tc.hi, tc.margin, got, tc.want)
		}
	}
}

func TestTQuantile(t *testing.T) {
	// Textbook table values (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2).
	for _, tc := range []struct{ p, df, want float64 }{
		{0.975, 1, 12.706}, {0.975, 3, 3.182}, {0.975, 10, 2.228}, {0.95, 3, 2.353}, {0.95, 30, 1.697}, {0.975, 1000, 1.962},
	} {
		near(t, "t quantile", tQuantile(tc.p, tc.df), tc.want, 0.0006)
	}
}

func TestBootstrapIsSeeded(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var b, c []float64
	for range 12 {
		b = append(b, math.Log(1000*(1+0.02*rng.NormFloat64())))
		c = append(c, math.Log(950*(1+0.02*rng.NormFloat64())))
	}
	in := estimateInput{Base: b, Cand: c, Method: IntervalBootstrap, Confidence: 0.95, EquivConf: 0.9, MarginPct: 3, Resamples: 4000, Seed: 42}
	first, err := estimateRetained(in)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := estimateRetained(in)
	if *first.Interval != *again.Interval {
		t.Errorf("same seed, different intervals: %+v %+v", first.Interval, again.Interval)
	}
	in.Seed = 43
	other, _ := estimateRetained(in)
	if *other.Interval == *first.Interval {
		t.Error("another seed gave the identical interval")
	}
	if first.Interval.Method != MethodBootstrap || first.Interval.Resamples != 4000 || first.Interval.Seed != 42 {
		t.Errorf("interval %+v", first.Interval)
	}
	if !(first.Interval.LowPct < first.RetainedPct && first.RetainedPct < first.Interval.HighPct) {
		t.Errorf("the point %g lies outside its interval %+v", first.RetainedPct, first.Interval)
	}
	// Against Welch on the same data: a bootstrap percentile interval is a
	// little narrower at n = 12, but of the same size.
	in.Method = IntervalT
	w, _ := estimateRetained(in)
	if r := first.Interval.HalfWidthPct / w.Interval.HalfWidthPct; r < 0.7 || r > 1.1 {
		t.Errorf("bootstrap half-width %g vs Welch %g", first.Interval.HalfWidthPct, w.Interval.HalfWidthPct)
	}
	// Fewer than 10 repetitions: refused, and a t interval stands in.
	in = estimateInput{Base: b[:5], Cand: c[:5], Method: IntervalBootstrap, Confidence: 0.95, EquivConf: 0.9, MarginPct: 3, Seed: 1}
	few, _ := estimateRetained(in)
	if few.Interval.Method != MethodWelchT || len(few.Notes) == 0 {
		t.Errorf("bootstrap with 5 repetitions: %+v", few)
	}
}

// TestCoverage draws 1000 seeded synthetic comparisons with a known true
// ratio and counts how often the 95% interval covers it: 93–97% is what a
// correct 95% interval gives (the binomial spread at n = 1000 is ±0.7%).
func TestCoverage(t *testing.T) {
	const trials, trueRatio = 1000, 0.93
	for _, tc := range []struct {
		name   string
		n      int
		paired bool
		method string
	}{
		{"paired t, 4 ABBA pairs", 4, true, IntervalAuto},
		{"paired t, 8 pairs", 8, true, IntervalAuto},
		{"Welch, 5 per side", 5, false, IntervalAuto},
		{"Welch, 3 per side", 3, false, IntervalAuto},
		{"bootstrap, 10 pairs", 10, true, IntervalBootstrap},
		{"bootstrap, 12 per side", 12, false, IntervalBootstrap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2026, uint64(tc.n)))
			covered := 0
			for range trials {
				var b, c []float64
				for range tc.n {
					// Lognormal run-to-run noise; a pair shares a drift term
					// that pairing cancels.
					drift := 0.05 * rng.NormFloat64()
					if !tc.paired {
						drift = 0
					}
					b = append(b, math.Log(1000)+drift+0.02*rng.NormFloat64())
					c = append(c, math.Log(1000*trueRatio)+drift+0.03*rng.NormFloat64())
				}
				e, err := estimateRetained(estimateInput{Base: b, Cand: c, Paired: tc.paired, Method: tc.method,
					Confidence: 0.95, EquivConf: 0.9, MarginPct: 3, Seed: 1, Resamples: 2000})
				if err != nil {
					t.Fatal(err)
				}
				if e.Interval.LowPct <= 100*trueRatio && 100*trueRatio <= e.Interval.HighPct {
					covered++
				}
			}
			pct := 100 * float64(covered) / trials
			t.Logf("coverage %.1f%%", pct)
			if pct < 93 || pct > 97 {
				t.Errorf("95%% interval covered the true ratio in %.1f%% of %d trials, want 93–97%%", pct, trials)
			}
		})
	}
}

// The power values below were computed independently with mpmath at 30
// digits by quadrature over the χ² density of the sample variance
// (the script is in BENCHMARKS.md, "Power table"):
// TOST at 5% each side, margin ±3%, true ratio 100%.
func TestTOSTPowerAgainstIndependentValues(t *testing.T) {
	for _, tc := range []struct {
		n         int
		sigma, m  float64
		want, tol float64
	}{
		{6, 0.02, 3, 0.8626877474867203, 1e-4},
		{5, 0.02, 3, 0.7349317447263642, 1e-4},
		{17, 0.04, 3, 0.8106066127642366, 1e-4},
		{16, 0.04, 3, 0.7758219563343198, 1e-4},
		{63, 0.08, 3, 0.8058860082039581, 1e-4},
		{62, 0.08, 3, 0.7975319717272442, 1e-4},
		{10, 0.03, 2, 0.2817855187473418, 1e-4},
	} {
		near(t, "power", tostPower(tc.n, float64(tc.n-1), tc.sigma, 0, tc.m, 0.05), tc.want, tc.tol)
	}
}

func TestRepsNeeded(t *testing.T) {
	// Paired, sd of the log ratios s = 0.02, margin ±3%: 80% power needs
	// 6 pairs (power 0.863; 5 pairs give 0.735, mpmath as above).
	d := []float64{0.02 * 1.224744871391589, -0.02 * 1.224744871391589, 0, 0} // sd 0.02 exactly
	in := estimateInput{Base: make([]float64, 4), Cand: d, Paired: true, EquivConf: 0.9, MarginPct: 3}
	diffs := d
	if sd, _ := sampleSD(d); math.Abs(sd-0.02) > 1e-12 {
		t.Fatalf("fixture sd %g", sd)
	}
	n, ok := repsNeeded(in, diffs)
	if !ok || n != 6 {
		t.Errorf("repsNeeded = %d, %v; want 6", n, ok)
	}
	// The figures: spreads 4% and 8% need 17 and 63 pairs; paired
	// designs round up to whole ABBA blocks.
	for _, tc := range []struct {
		spread float64
		want   int
	}{{4, 18}, {8, 64}} {
		in.Cand = []float64{tc.spread / 100 * 1.224744871391589, -tc.spread / 100 * 1.224744871391589, 0, 0}
		if n, ok := repsNeeded(in, in.Cand); !ok || n != tc.want {
			t.Errorf("spread %g%%: %d, %v; want %d", tc.spread, n, ok, tc.want)
		}
	}
	// No spread: the floor, never 2.
	n, ok = repsNeeded(estimateInput{Base: make([]float64, 3), Cand: make([]float64, 3), Paired: true, EquivConf: 0.9, MarginPct: 3}, make([]float64, 3))
	if !ok || n != MinPairs {
		t.Errorf("no spread: %d, %v; want %d", n, ok, MinPairs)
	}
	if _, ok := repsNeeded(estimateInput{Base: []float64{0}, Cand: []float64{0}, EquivConf: 0.9, MarginPct: 3}, nil); ok {
		t.Error("one value per side has no spread to size from")
	}
}

// BenchmarkEstimate measures the statistics of one scenario: a paired t
// interval, and the bootstrap's 10000 resamples of 10 pairs.
func BenchmarkEstimate(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	var base, cand []float64
	for range 10 {
		base = append(base, math.Log(1000*(1+0.02*rng.NormFloat64())))
		cand = append(cand, math.Log(960*(1+0.02*rng.NormFloat64())))
	}
	for _, method := range []string{IntervalT, IntervalBootstrap} {
		b.Run(method, func(b *testing.B) {
			in := estimateInput{Base: base, Cand: cand, Paired: true, Method: method, Confidence: 0.95, EquivConf: 0.9, MarginPct: 3, Seed: 1}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := estimateRetained(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
