package inference

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/gpuperf/gpuperf/inference/rng"
)

// SampleSetVersion names the LoadGen behaviour the performance sample set
// follows: since LoadGen 6.0 (PR #2414) the set is the indices 0..P-1 in a
// qsl-seeded shuffle, not a random P-subset of the whole data set.
const SampleSetVersion = "LoadGen >= 6.0: indices 0..P-1, shuffled with mt19937(qsl_rng_seed)"

// loadSampleSet returns the performance sample set in load order, with
// MultiStream's padding (copies of the first spq-1 entries) appended so any
// start index yields a contiguous run.
func loadSampleSet(e EffectiveSettings) []uint32 {
	p := max(e.PerformanceSampleCount, 1)
	padding := uint64(0)
	if e.Scenario == MultiStream {
		padding = e.SamplesPerQuery - 1
	}
	set := make([]uint32, p, p+padding)
	for i := range set {
		set[i] = uint32(i)
	}
	rng.Shuffle(rng.NewMT19937(e.QSLRNGSeed), set)
	if e.Scenario == MultiStream {
		for i := uint64(0); i+1 < e.SamplesPerQuery; i++ {
			set = append(set, set[i%p])
		}
	}
	return set
}

// plan is the whole timed run, generated before the clock starts, as LoadGen
// generates all queries up front.
type plan struct {
	queries int
	spq     int
	// offsets are Server's scheduled issue times relative to the start, ns.
	offsets []int64
	// index is each sample's data-set index, query-major.
	index []uint32
	// duration is generated_query_duration: the time after the last query.
	duration int64
}

// minQueries applies the equal-issue rounding to the query count
// (reference/loadgen.md §3.6).
func minQueriesFor(e EffectiveSettings, qslPerfCount uint64) uint64 {
	n := e.MinQueryCount
	if !e.SampleConcatenatePermutation {
		return n
	}
	set := max(e.PerformanceSampleCount, 1)
	if e.Scenario == SingleStream {
		n = max(n, uint64(2*float64(e.MinDurationMs)/1000*e.TargetQPS))
		p := max(qslPerfCount, 1)
		return n + p - n%p
	}
	if r := n % set; r != 0 {
		n += set - r
	}
	return n
}

// checkEvery is how many loop iterations generation runs between looks at
// its context: a few milliseconds of work.
const checkEvery = 1 << 16

// generate builds the timed run's queries: the Server schedule from the
// schedule seed, and every sample index from the sample-index seed, with
// the RNG consumed in LoadGen's order. It stops with ctx's error when ctx
// is done, and refuses a plan larger than maxSamples (0: no limit), which
// the caller's footprint check should already have ruled out.
func generate(ctx context.Context, e EffectiveSettings, set []uint32, qslPerfCount, maxSamples uint64) (plan, error) {
	setSize := uint64(len(set))
	if e.Scenario == MultiStream {
		setSize -= e.SamplesPerQuery - 1
	}
	minQ := minQueriesFor(e, qslPerfCount)
	pl := plan{spq: int(e.SamplesPerQuery)}

	switch e.Scenario {
	case Offline:
		pl.queries = 1
		pl.duration = int64(1e9 / e.TargetQPS)
	case Server:
		var err error
		if pl.offsets, minQ, pl.duration, err = serverSchedule(ctx, e, minQ, setSize, maxSamples); err != nil {
			return plan{}, err
		}
		pl.queries = len(pl.offsets)
	default: // SingleStream, MultiStream: 2 × min_duration at the hinted rate
		spacing := max(int64(1e9/e.TargetQPS), 1)
		window := 2 * int64(e.MinDurationMs) * 1e6
		var t int64
		n := uint64(0)
		for {
			n++
			if t >= window && n >= minQ {
				break
			}
			if e.SampleConcatenatePermutation && n%setSize == 0 && n >= minQ && t < window {
				minQ += setSize
			}
			t += spacing
			if n%checkEvery == 0 {
				if err := ctx.Err(); err != nil {
					return plan{}, err
				}
				if maxSamples > 0 && satMul(n, e.SamplesPerQuery) > maxSamples {
					return plan{}, fmt.Errorf("more than %d samples planned: %w", maxSamples, ErrRunTooLarge)
				}
			}
		}
		pl.queries = int(n)
		pl.duration = t + spacing
	}
	var err error
	pl.index, err = pickSamples(ctx, e, set, setSize, minQ, pl)
	return pl, err
}

// ServerSchedule returns the Server arrival offsets (ns from the start)
// that LoadGen generates for a seed, rate, minimum duration and minimum query
// count: the identical sequence on every host.
func ServerSchedule(seed uint64, qps float64, minDuration time.Duration, minQueries uint64) []int64 {
	e := EffectiveSettings{Scenario: Server, ScheduleRNGSeed: seed, TargetQPS: qps,
		MinDurationMs: uint64(minDuration / time.Millisecond), MinQueryCount: minQueries}
	offsets, _, _, _ := serverSchedule(context.Background(), e, minQueries, 1, 0)
	return offsets
}

// serverSchedule draws the Poisson arrival offsets until the last is at or
// past min_duration and the count reaches minQ, topping minQ up by whole
// sets in equal-issue mode. It returns the offsets, the final minQ and
// generated_query_duration (LoadGen draws the next interval before it
// tests for the end, so its duration is one interval past the last
// query), or ctx's error, or ErrRunTooLarge past maxQueries (0: no limit).
func serverSchedule(ctx context.Context, e EffectiveSettings, minQ, setSize, maxQueries uint64) ([]int64, uint64, int64, error) {
	sched := rng.NewMT19937(e.ScheduleRNGSeed)
	window := int64(e.MinDurationMs) * 1e6
	// Size the schedule once: a Poisson count over the window stays within
	// six standard deviations of its mean, and growing a slice of a billion
	// offsets by appending would allocate it several times over.
	mean := e.TargetQPS * float64(e.MinDurationMs) / 1000
	offsets := make([]int64, 0, int(max(mean+6*math.Sqrt(mean), float64(minQ)))+64)
	var t int64
	for {
		offsets = append(offsets, t)
		n := uint64(len(offsets))
		if t >= window && n >= minQ {
			return offsets, minQ, t + rng.NextIntervalNs(sched, e.TargetQPS), nil
		}
		if e.SampleConcatenatePermutation && n%setSize == 0 && n >= minQ && t < window {
			minQ += setSize
		}
		t += rng.NextIntervalNs(sched, e.TargetQPS)
		if n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, 0, 0, err
			}
			if maxQueries > 0 && n > maxQueries {
				return nil, 0, 0, fmt.Errorf("more than %d queries scheduled: %w", maxQueries, ErrRunTooLarge)
			}
		}
	}
}

// pickSamples fills each query's sample indices. LoadGen draws its
// "unique" and equal-issue shuffles from the sample RNG before any pick,
// whether or not they are used, so they are drawn here too.
func pickSamples(ctx context.Context, e EffectiveSettings, set []uint32, setSize, minQ uint64, pl plan) ([]uint32, error) {
	r := rng.NewMT19937(e.SampleIndexRNGSeed)
	stride := uint64(1)
	if e.Scenario == MultiStream {
		stride = e.SamplesPerQuery
	}
	var unique []uint64
	for i := uint64(0); i < setSize; i += stride {
		unique = append(unique, i)
	}
	rng.Shuffle(r, unique)
	perms := int(math.Ceil(float64(minQ) / float64(setSize)))
	var equal []uint32
	for i := range perms {
		if i%64 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		perm := append([]uint32(nil), set[:setSize]...)
		rng.Shuffle(r, perm)
		equal = append(equal, perm...)
	}

	total := pl.queries * pl.spq
	out := make([]uint32, total)
	switch {
	case e.Scenario == Offline:
		if e.SampleConcatenatePermutation {
			for i := 0; i < total; {
				perm := append([]uint32(nil), set[:setSize]...)
				rng.Shuffle(r, perm)
				i += copy(out[i:], perm)
			}
		} else {
			for i := 0; i < total; {
				i += copy(out[i:], set[:setSize])
			}
		}
	case e.PerformanceIssueSame:
		for i := range out {
			out[i] = set[e.PerformanceIssueSameIndex%setSize]
		}
	case e.PerformanceIssueUnique:
		for q := 0; q < pl.queries; q++ {
			start := unique[q%len(unique)]
			for j := 0; j < pl.spq; j++ {
				out[q*pl.spq+j] = set[start+uint64(j)]
			}
		}
	case e.SampleConcatenatePermutation:
		for q := 0; q < pl.queries; q++ {
			for j := 0; j < pl.spq; j++ {
				out[q*pl.spq+j] = equal[(q*pl.spq+j)%len(equal)]
			}
		}
	default:
		for q := 0; q < pl.queries; q++ {
			if q%checkEvery == 0 && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			start := r.UniformInt(0, setSize-1)
			for j := 0; j < pl.spq; j++ {
				out[q*pl.spq+j] = set[start+uint64(j)]
			}
		}
	}
	return out, ctx.Err()
}
