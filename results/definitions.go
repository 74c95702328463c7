package results

import "fmt"

// definitions states how the numbers are defined.
func definitions(s Settings) Definitions {
	d := Definitions{
		Retained: "candidate / baseline × 100 of the geometric means of the counted (VALID, error-free) repetitions, or the geometric mean of the pair ratios when paired; " +
			"latencies are inverted (baseline / candidate) so above 100% the candidate did better",
		Percentile: "latency percentiles are LoadGen's nearest rank, sorted[floor(n·p)] (0-based) over the run's samples; SingleStream and MultiStream use LoadGen's early-stopping estimate; " +
			"bootstrap intervals take montanaflynn/stats' Percentile (linear interpolation between closest ranks, Hyndman–Fan type 7) of the resampled mean log ratios, at Hesterberg's expanded tail levels",
		Interval: fmt.Sprintf("%g%% interval on the natural logs of the values: paired Student t on the log ratios of interleaved (ABBA) pairs, otherwise Welch t on the two samples' logs, "+
			"or a seeded expanded-percentile bootstrap (%d resamples, seed %d) when asked for and with at least %d repetitions per side; one repetition per side gives the point value and no interval",
			100*s.Confidence, s.BootstrapResamples, s.BootstrapSeed, minBootstrapReps),
		HalfWidth: "(high − low) / 2 of the interval, in percentage points of retained %",
		RepsNeeded: fmt.Sprintf("repetitions per side (pairs when paired, rounded up to whole ABBA blocks) at which the equivalence test has %g%% power to conclude equivalent within ±%g%% when the true ratio is 100%%, "+
			"at the observed spread (exact TOST power over the t interval's spread, Owen's Q); never fewer than %d, so a spread measured as zero does not shrink it", 100*s.Power, s.MarginPct, MinPairs),
		Equivalence: fmt.Sprintf("two one-sided tests at 5%%: the %g%% interval wholly within [%g%%, %g%%] is equivalent, wholly below %g%% lower, wholly above %g%% higher, otherwise inconclusive", 100*s.EquivalenceConfidence, 100-s.MarginPct, 100+s.MarginPct, 100-s.MarginPct, 100+s.MarginPct),
		Gate: fmt.Sprintf("gate %s at %g%% retained: regression fails (exit 4) when the %g%% interval lies wholly below it and passes only what it could examine: an interval at or above it, or one straddling it no wider than ±%g%%; "+
			"a wider interval (or none) is \"not shown to regress\", a scenario with no data \"not examined\", and one whose metric the load generator set \"not measurable on this host\": exit 0, but never \"pass\"; "+
			"qualify passes only when the whole interval is at or above it and is inconclusive (exit 5) otherwise; "+
			"an INVALID baseline or one with LoadGen errors voids the scenario (exit 3); precedence 2, 1, 3, 4, 5", s.Gate, s.MinRetainedPct, 100*s.Confidence, s.MarginPct),
		Server: "gpuperf Server: Completed samples/s of the confirmation run at each side's highest fully VALID QPS found by the same peak search (probes never count), or at one fixed QPS the percentile-latency ratio, labelled so; " +
			"published MLPerf Server: the official metric at a QPS the submitter chose (chosen-target): Scheduled samples/s up to v4.0, Completed samples/s since v4.1, tokens/s for LLMs",
	}
	if s.PerGPU {
		d.PerGPU = "throughputs divided by each side's GPU count (MLPerf: systems/<system>.json accelerators_per_node × number_of_nodes; gpuperf: the host fingerprint, else 1)"
	}
	return d
}
