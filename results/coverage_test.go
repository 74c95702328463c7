package results

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/sim"
)

// The coverage harness: planted effects on the simulated device, many
// comparisons, and the observed error rates of the intervals, the
// equivalence verdict and the regression gate against the truth.
//
// Each side is a sim device of 4 servers with lognormal service times
// (σ = 0.5), the candidate's mean service time longer by the planted
// factor, the two sides seeded differently (their device randomness is
// not shared, as on real hardware). A run is replayed on the device's
// virtual clock (sim.Virtual, the model the real device runs), so a
// comparison takes milliseconds: Offline (every sample queued at once;
// samples/s), SingleStream (one sample at a time; p90 latency) and Server
// at half the baseline's capacity (LoadGen's Poisson schedule from the
// run's schedule seed; p99 latency). Every run's value is then scaled by
// exp(N(0, τ)), τ = 0.1%, for the timing noise a real host adds.
//
// With seeds varied per pair (the plan's default), pair k of comparison c
// runs seed set 1000·c + k + 1 on both sides. With fixed seeds (the
// design before seed sets), every pair of comparison c runs seed set c:
// the comparisons differ from one another, the repetitions within one only
// by the timing noise.
//
// The truth is the geometric-mean ratio over seed sets: for Offline and
// SingleStream exactly 100/factor (a scale family: the candidate's device
// is the baseline's with every service time multiplied by the factor); for
// Server, whose queueing is not a scale family, estimated from truthPairs
// independent pairs (its standard error is printed).
//
// GPUPERF_COVERAGE=full runs the large version whose figures are in
// BENCHMARKS.md; the default is sized to run in well under a minute under
// the race detector on a loaded 2-core host.

type covScenario struct {
	name string
	// run is one run's headline, higher is better (samples/s, or
	// 1/latency), on a device with the given mean service time.
	run func(latency time.Duration, seed uint64, set int) float64
}

const (
	covServers = 4
	covLatency = 2 * time.Millisecond
	covSigma   = 0.5
	covTiming  = 0.001
)

func covDevice(latency time.Duration, seed uint64, set int) *sim.Virtual {
	v, err := sim.NewVirtual(sim.Config{Servers: covServers, Latency: latency, Dist: sim.Lognormal, Sigma: covSigma, Batch: 1, Seed: seed}, set)
	if err != nil {
		panic(err)
	}
	return v
}

// nearestRank is LoadGen's percentile: sorted[floor(n·p)].
func nearestRank(xs []int64, p float64) int64 {
	slices.Sort(xs)
	return xs[min(len(xs)-1, int(math.Floor(float64(len(xs))*p)))]
}

// covScenarios returns the three scenarios with n samples or queries per
// run.
func covScenarios(n int) []covScenario {
	offline := func(latency time.Duration, seed uint64, set int) float64 {
		v := covDevice(latency, seed, set)
		if _, err := v.Issue(0, n); err != nil {
			panic(err)
		}
		var last int64
		for {
			at, ok := v.Next()
			if !ok {
				break
			}
			for _, c := range v.Advance(at) {
				last = c.At
			}
		}
		return float64(n) / (float64(last) / 1e9)
	}
	single := func(latency time.Duration, seed uint64, set int) float64 {
		v := covDevice(latency, seed, set)
		lat := make([]int64, 0, n)
		var now int64
		for range n {
			if _, err := v.Issue(now, 1); err != nil {
				panic(err)
			}
			for done := false; !done; {
				at, _ := v.Next()
				if cs := v.Advance(at); len(cs) > 0 {
					lat = append(lat, cs[0].At-now)
					now, done = cs[0].At, true
				}
			}
		}
		return 1 / float64(nearestRank(lat, 0.90))
	}
	// Server at half the baseline's capacity, for about n queries.
	qps := 0.5 * covServers / covLatency.Seconds()
	server := func(latency time.Duration, seed uint64, set int) float64 {
		sched := inference.ServerSchedule(inference.DeriveSeed(inference.OfficialScheduleSeed, set), qps, time.Duration(float64(n)/qps*float64(time.Second)), uint64(n))
		v := covDevice(latency, seed, set)
		done := make([]int64, len(sched))
		collect := func(cs []sim.Completion) {
			for _, c := range cs {
				for _, id := range c.IDs {
					done[id] = c.At
				}
			}
		}
		for _, at := range sched {
			collect(v.Advance(at))
			if _, err := v.Issue(at, 1); err != nil {
				panic(err)
			}
		}
		for {
			at, ok := v.Next()
			if !ok {
				break
			}
			collect(v.Advance(at))
		}
		lat := make([]int64, len(sched))
		for i := range sched {
			lat[i] = done[i] - sched[i]
		}
		return 1 / float64(nearestRank(lat, 0.99))
	}
	return []covScenario{{"Offline", offline}, {"SingleStream", single}, {"Server", server}}
}

// covPlan is one harness configuration.
type covPlan struct {
	factor      float64 // the candidate's service time ÷ the baseline's
	pairs       int
	comparisons int
	vary        bool // seeds varied per pair
	sequential  bool // repetitions: auto, capped at pairs
}

// covOutcome are the observed rates.
type covOutcome struct {
	truthPct, truthSE   float64 // retained %, and the Server truth's SE
	n                   int
	covered             int // the 95% interval holds the truth
	equivalent, lower   int // verdicts at ±3%
	regressions         int // the gate at 95% fired (interval wholly below)
	meanHalfWidth       float64
	meanPairs           float64 // sequential: pairs at the stop
	covered90           int     // the equivalence (90%) interval holds the truth
	widestHalfWidthPct  float64
	seconds             float64
	scenario            string
	seedsVaried, seqRun bool
}

const covSeed1, covSeed2 = 1, 2

// covTruth returns the true retained % of a scenario for a factor, and its
// standard error (zero when exact).
func covTruth(sc covScenario, factor float64, truthPairs int) (float64, float64) {
	if sc.name != "Server" {
		return 100 / factor, 0
	}
	cand := time.Duration(float64(covLatency) * factor)
	var sum, sum2 float64
	for k := range truthPairs {
		set := 9_000_000 + k
		d := math.Log(sc.run(cand, covSeed2, set)) - math.Log(sc.run(covLatency, covSeed1, set))
		sum += d
		sum2 += d * d
	}
	n := float64(truthPairs)
	mean := sum / n
	sd := math.Sqrt((sum2 - n*mean*mean) / (n - 1))
	return 100 * math.Exp(mean), 100 * math.Exp(mean) * sd / math.Sqrt(n)
}

// runCoverage runs p's comparisons of one scenario.
func runCoverage(t testing.TB, sc covScenario, p covPlan, truth, truthSE float64) covOutcome {
	start := time.Now()
	out := covOutcome{truthPct: truth, truthSE: truthSE, n: p.comparisons, scenario: sc.name, seedsVaried: p.vary, seqRun: p.sequential}
	cand := time.Duration(float64(covLatency) * p.factor)
	noise := rand.New(rand.NewPCG(uint64(p.pairs)<<32|uint64(p.comparisons), math.Float64bits(p.factor)))
	set := Settings{Confidence: 0.95, EquivalenceConfidence: 0.90, MarginPct: 3, Power: DefaultPower}
	first := MinPairs
	for c := range p.comparisons {
		var base, cnd []float64
		pairAt := func(k int) {
			s := 1000*c + k + 1
			if !p.vary {
				s = c + 1
			}
			base = append(base, math.Log(sc.run(covLatency, covSeed1, s))+covTiming*noise.NormFloat64())
			cnd = append(cnd, math.Log(sc.run(cand, covSeed2, s))+covTiming*noise.NormFloat64())
		}
		in := estimateInput{Paired: true, Method: IntervalT, Confidence: set.Confidence, EquivConf: set.EquivalenceConfidence, MarginPct: set.MarginPct, skipReps: true}
		var est estimate
		if !p.sequential {
			for k := range p.pairs {
				pairAt(k)
			}
			in.Base, in.Cand = base, cnd
			var err error
			if est, err = estimateRetained(in); err != nil {
				t.Fatal(err)
			}
		} else {
			// repetitions: auto: a first look, then ABBA blocks, each
			// look's intervals the repeated ones.
			var looks []int
			for k := 0; k < p.pairs; {
				block := 2
				if k == 0 {
					block = first
				}
				for range block {
					pairAt(k)
					k++
				}
				looks = append(looks, k)
				in.Base, in.Cand = base, cnd
				in.SeqCrit, in.SeqEquivCrit, _, _ = sequentialLevels(looks, p.pairs, set.Confidence, set.EquivalenceConfidence)
				var err error
				if est, err = estimateRetained(in); err != nil {
					t.Fatal(err)
				}
				if est.Verdict != VerdictInconclusive {
					break
				}
			}
			out.meanPairs += float64(len(base)) / float64(p.comparisons)
		}
		iv := est.Interval
		if iv.LowPct <= truth && truth <= iv.HighPct {
			out.covered++
		}
		if est.Equiv.LowPct <= truth && truth <= est.Equiv.HighPct {
			out.covered90++
		}
		switch est.Verdict {
		case VerdictEquivalent:
			out.equivalent++
		case VerdictLower:
			out.lower++
		}
		if iv.HighPct < DefaultMinRetainedPct {
			out.regressions++
		}
		out.meanHalfWidth += iv.HalfWidthPct / float64(p.comparisons)
		out.widestHalfWidthPct = math.Max(out.widestHalfWidthPct, iv.HalfWidthPct)
	}
	out.seconds = time.Since(start).Seconds()
	return out
}

func (o covOutcome) rate(k int) float64 { return 100 * float64(k) / float64(o.n) }

func (o covOutcome) String() string {
	seeds := "fixed"
	if o.seedsVaried {
		seeds = "varied"
	}
	truth := fmt.Sprintf("%.3f", o.truthPct)
	if o.truthSE > 0 {
		truth += fmt.Sprintf(" ±%.3f", o.truthSE)
	}
	s := fmt.Sprintf("%-12s seeds %-6s truth %s%%: coverage95 %5.1f%%  coverage90 %5.1f%%  equivalent %5.1f%%  lower %5.1f%%  gate fired %5.1f%%  mean ± %.2f (widest %.2f)",
		o.scenario, seeds, truth, o.rate(o.covered), o.rate(o.covered90), o.rate(o.equivalent), o.rate(o.lower), o.rate(o.regressions), o.meanHalfWidth, o.widestHalfWidthPct)
	if o.seqRun {
		s += fmt.Sprintf("  mean pairs %.1f", o.meanPairs)
	}
	return s + fmt.Sprintf("  (%d comparisons, %.1fs)", o.n, o.seconds)
}

// covSize is the harness's size: comparisons per configuration, samples
// or queries per run, pairs estimating the Server truth (0 leaves Server
// out), and whether to run the extra configurations.
func covSize(t *testing.T) (comparisons, perRun, truthPairs int, full bool) {
	switch v := os.Getenv("GPUPERF_COVERAGE"); v {
	case "":
	case "full":
		return 1000, 1000, 10000, true
	default:
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			t.Fatalf("GPUPERF_COVERAGE=%q: want full or a number of comparisons of at least 10", v)
		}
		return n, 1000, 10 * n, true
	}
	if raceBuild || testing.Short() {
		// About 30 s under the race detector on a loaded 2-core host.
		return 160, 150, 0, false
	}
	return 200, 500, 2000, false
}

// TestCoverageOnSim is the harness. The 95% interval must cover the truth in
// 90–99% of the comparisons (with seeds varied per pair); the regression
// gate at 95% must not fire more often than its one-sided 2.5% (plus the
// sampling error) when the truth, 95.24%, is above the threshold; and the
// equivalence verdict at ±3% must not call "equivalent" more often than
// its 5% (plus the sampling error) when the truth is at the margin's edge,
// 97%, fixed designs and sequential ones alike. The fixed-seed design is
// run too, and must fail the coverage check: the harness can tell.
func TestCoverageOnSim(t *testing.T) {
	comparisons, perRun, truthPairs, full := covSize(t)
	scenarios := covScenarios(perRun)
	// Allowed sampling error: 2.5 standard errors of a rate p over n.
	slack := func(p float64) float64 { return 100 * 2.5 * math.Sqrt(p*(1-p)/float64(comparisons)) }
	var report []string
	for _, sc := range scenarios {
		if sc.name == "Server" && truthPairs == 0 {
			continue
		}
		truth5, se5 := covTruth(sc, 1.05, truthPairs)
		truthEdge, seEdge := covTruth(sc, 1/0.97, truthPairs)

		planted := runCoverage(t, sc, covPlan{factor: 1.05, pairs: 4, comparisons: comparisons, vary: true}, truth5, se5)
		report = append(report, planted.String())
		if r := planted.rate(planted.covered); r < 90 || r > 99 {
			t.Errorf("%s: the 95%% interval covered the truth in %.1f%% of %d comparisons; want 90–99%%", sc.name, r, comparisons)
		}
		if truth5 > DefaultMinRetainedPct+3*se5 {
			if r := planted.rate(planted.regressions); r > 2.5+slack(0.025) {
				t.Errorf("%s: truth %.2f%% above 95%%, yet the gate fired in %.1f%%", sc.name, truth5, r)
			}
		}

		edge := runCoverage(t, sc, covPlan{factor: 1 / 0.97, pairs: 8, comparisons: comparisons, vary: true}, truthEdge, seEdge)
		report = append(report, edge.String())
		if r := edge.rate(edge.equivalent); r > 5+slack(0.05) {
			t.Errorf("%s: truth %.2f%% at the margin's edge, yet equivalent in %.1f%%", sc.name, truthEdge, r)
		}
		// The sequential design's boundaries are simulated once (100,000
		// paths), which the race detector makes too slow for its size.
		if !raceBuild {
			seqEdge := runCoverage(t, sc, covPlan{factor: 1 / 0.97, pairs: 12, comparisons: comparisons, vary: true, sequential: true}, truthEdge, seEdge)
			report = append(report, seqEdge.String())
			if r := seqEdge.rate(seqEdge.equivalent); r > 5+slack(0.05) {
				t.Errorf("%s, sequential: truth %.2f%% at the margin's edge, yet equivalent in %.1f%%", sc.name, truthEdge, r)
			}
			if r := seqEdge.rate(seqEdge.covered); r < 90 {
				t.Errorf("%s, sequential: the repeated 95%% interval covered the truth in %.1f%%; want at least 90%%", sc.name, r)
			}
		}

		before := runCoverage(t, sc, covPlan{factor: 1.05, pairs: 4, comparisons: comparisons, vary: false}, truth5, se5)
		report = append(report, before.String())
		if r := before.rate(before.covered); r >= 90 {
			t.Errorf("%s, fixed seeds: coverage %.1f%%; the harness should see the repeatability interval fall short", sc.name, r)
		}
		if full {
			aa := runCoverage(t, sc, covPlan{factor: 1, pairs: 12, comparisons: comparisons, vary: true, sequential: true}, 100, 0)
			report = append(report, "A/A, auto:  "+aa.String())
			seq5 := runCoverage(t, sc, covPlan{factor: 1.05, pairs: 12, comparisons: comparisons, vary: true, sequential: true}, truth5, se5)
			report = append(report, "5%, auto:   "+seq5.String())
			beforeEdge := runCoverage(t, sc, covPlan{factor: 1 / 0.97, pairs: 8, comparisons: comparisons, vary: false}, truthEdge, seEdge)
			report = append(report, "edge, fixed: "+beforeEdge.String())
		}
	}
	t.Logf("coverage harness (%d comparisons per line, %d samples or queries per run):\n%s", comparisons, perRun, strings.Join(report, "\n"))
}

// TestPowerTable checks the repetitions the power calculation asks for by
// simulation: at the pairs it gives, TOST at ±margin on paired log ratios
// of spread s, true ratio 100%, concludes equivalent in at least 80% of
// the trials (less the sampling error), and at two pairs fewer, in fewer.
func TestPowerTable(t *testing.T) {
	trials := 4000
	spreads, margins := []float64{0.5, 1, 2, 4}, []float64{1, 2, 3, 5}
	switch {
	case os.Getenv("GPUPERF_COVERAGE") == "full":
		trials = 20000
	case raceBuild || testing.Short():
		trials, spreads, margins = 600, []float64{1, 2, 4}, []float64{3}
	}
	rng := rand.New(rand.NewPCG(12, 34))
	simulate := func(n int, sigma, margin float64) float64 {
		eq := 0
		d := make([]float64, n)
		for range trials {
			for i := range d {
				d[i] = sigma * rng.NormFloat64()
			}
			est, err := estimateRetained(estimateInput{Base: make([]float64, n), Cand: d, Paired: true, Method: IntervalT, Confidence: 0.95, EquivConf: 0.90, MarginPct: margin, skipReps: true})
			if err != nil {
				t.Fatal(err)
			}
			if est.Verdict == VerdictEquivalent {
				eq++
			}
		}
		return float64(eq) / float64(trials)
	}
	se := 2.5 * math.Sqrt(0.8*0.2/float64(trials))
	var lines []string
	for _, spread := range spreads {
		for _, margin := range margins {
			n, ok := PairsForPower(spread, margin, DefaultPower, 0.05)
			if !ok {
				t.Fatalf("no pairs for spread %g, margin %g", spread, margin)
			}
			if n > 200 {
				lines = append(lines, fmt.Sprintf("spread %4.1f%%  margin ±%g%%  pairs %4d  (not simulated)", spread, margin, n))
				continue
			}
			at := simulate(n, spread/100, margin)
			line := fmt.Sprintf("spread %4.1f%%  margin ±%g%%  pairs %4d  simulated power %.3f", spread, margin, n, at)
			if at < DefaultPower-se {
				t.Errorf("spread %g%%, margin %g%%: %d pairs give power %.3f; want at least %.2f", spread, margin, n, at, DefaultPower)
			}
			if n-2 >= MinPairs {
				below := simulate(n-2, spread/100, margin)
				line += fmt.Sprintf(", at %d pairs %.3f", n-2, below)
				if below > DefaultPower+se {
					t.Errorf("spread %g%%, margin %g%%: %d pairs already give power %.3f; %d is not the smallest", spread, margin, n-2, below, n)
				}
			}
			lines = append(lines, line)
		}
	}
	t.Logf("power table (%d trials each):\n%s", trials, strings.Join(lines, "\n"))
}
