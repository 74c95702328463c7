package inference

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// ResultSchema versions result.json; bump the minor for additions and the
// major for changes. The schema is documented in docs/result-schema.md.
const ResultSchema = "gpuperf.result/v1"

// Result is everything one timed run measured: LoadGen's summary and detail
// values, plus the generator's own health and gpuperf's context.
type Result struct {
	Schema  string `json:"schema"`
	Version string `json:"gpuperf_version"`

	SUTName     string            `json:"sut_name"`
	Backend     string            `json:"backend"`
	BackendOpts map[string]string `json:"backend_options,omitempty"`
	// BackendEffective are the options an OptionReporter backend ran
	// with, defaults included: what the fairness check compares.
	BackendEffective map[string]string `json:"backend_effective_options,omitempty"`
	// SeedSet is the seed set the run drew from (see DeriveSeed): 0 for
	// the configured seeds; a comparison's repetition k uses set k on
	// both sides.
	SeedSet int `json:"seed_set"`
	// BackendSeed is the seed a Reseeder backend drew from in this run;
	// nil for a backend without randomness of its own.
	BackendSeed *uint64 `json:"backend_seed,omitempty"`
	// BackendFacts are what an Annotator backend reported about the run.
	BackendFacts map[string]string `json:"backend_facts,omitempty"`
	// ServerStats is what a ServerStatsReporter backend's server counted
	// during the timed run; nil for other backends.
	ServerStats *ServerStats `json:"server_stats,omitempty"`
	Model       string       `json:"model"`
	Profile     Profile      `json:"profile"`
	QSL         QSL          `json:"qsl"`
	// SampleSet says which LoadGen version's performance sample set is used.
	SampleSet string `json:"performance_sample_set"`

	Requested TestSettings      `json:"requested"`
	Effective EffectiveSettings `json:"effective"`
	// HintsFrom says where the expected-QPS or expected-latency hint came
	// from: "settings", "warm-up" when gpuperf measured it, or "re-run"
	// when it is the rate a first run observed (see Rerun).
	HintsFrom string `json:"hints_from"`

	StartedAt time.Time `json:"started_at"`
	Warmup    Warmup    `json:"warmup"`

	GeneratedQueryCount      uint64 `json:"generated_query_count"`
	GeneratedSamplesPerQuery uint64 `json:"generated_samples_per_query"`
	GeneratedQueryDurationNs int64  `json:"generated_query_duration_ns"`
	// EndReason is LoadGen's "Ending naturally"/"Ending early" text.
	EndReason string `json:"end_reason,omitempty"`

	QueriesIssued   uint64 `json:"queries_issued"`
	SamplesIssued   uint64 `json:"samples_issued"`
	SamplesComplete uint64 `json:"samples_completed"`
	SamplesFailed   uint64 `json:"samples_failed"`
	FirstError      string `json:"first_error,omitempty"`

	// Times relative to the run's start, in ns, as LoadGen's
	// PerformanceResult holds them.
	FinalQueryIssuedNs    int64 `json:"final_query_issued_ns"`
	FinalQueryScheduledNs int64 `json:"final_query_scheduled_ns"`
	FinalQueryAllDoneNs   int64 `json:"final_query_all_samples_done_ns"`
	MaxLatencyNs          int64 `json:"max_latency_ns"`
	DurationNs            int64 `json:"duration_ns"`

	// Latency is over samples; QueryLatency over queries (MultiStream).
	Latency      LatencyStats  `json:"latency"`
	QueryLatency *LatencyStats `json:"query_latency,omitempty"`
	// TargetPercentile is the scenario's headline percentile.
	TargetPercentile   float64 `json:"target_percentile"`
	TargetLatencyNs    int64   `json:"target_percentile_latency_ns"`
	OverlatencyQueries uint64  `json:"overlatency_query_count"`

	SamplesPerSecond          float64 `json:"samples_per_second,omitempty"`
	CompletedSamplesPerSecond float64 `json:"completed_samples_per_second,omitempty"`
	ScheduledSamplesPerSecond float64 `json:"scheduled_samples_per_second,omitempty"`
	QPSWithLoadgenOverhead    float64 `json:"qps_with_loadgen_overhead,omitempty"`
	QPSWithoutLoadgenOverhead float64 `json:"qps_without_loadgen_overhead,omitempty"`

	EarlyStopping EarlyStopping `json:"early_stopping"`
	Tokens        *TokenStats   `json:"tokens,omitempty"`

	Validity Validity `json:"validity"`
	// Metric is the scenario's official number (reference/loadgen.md §7.3).
	Metric Metric `json:"metric"`

	Warnings []string `json:"warnings,omitempty"`
	Errors   []string `json:"errors,omitempty"`

	Health Health `json:"generator_health"`

	// Peak holds the probes of a Server peak search, when one ran.
	Peak *PeakSearch `json:"peak_search,omitempty"`
	// Rerun says why this is a repeat of a timed run whose hint the
	// backend's rate had moved away from, and what changed.
	Rerun *Rerun `json:"rerun,omitempty"`

	// Telemetry is the GPU and host telemetry summary over the timed run
	// (gpu.Summary), filled in by the agent; GPUState is the GPU state its
	// preflight recorded before the warm-up (gpu.Preflight).
	Telemetry json.RawMessage `json:"telemetry,omitempty"`
	GPUState  json.RawMessage `json:"gpu_state,omitempty"`

	// Series is kept out of JSON; the log writers and reports read it.
	Series *Series `json:"-"`

	// drainEnd is how the timed run's final wait ended.
	drainEnd drainEnd
}

// Warmup records the untimed run before the timed one.
type Warmup struct {
	DurationNs int64   `json:"duration_ns"`
	Queries    uint64  `json:"queries"`
	Samples    uint64  `json:"samples"`
	RatePerSec float64 `json:"samples_per_second"`
	MeanNs     int64   `json:"mean_query_latency_ns"`
}

// LatencyStats are LoadGen's latency lines: nearest-rank percentiles
// sorted[floor(n·p)] and a mean truncated to whole ns.
type LatencyStats struct {
	MinNs       int64        `json:"min_ns"`
	MaxNs       int64        `json:"max_ns"`
	MeanNs      int64        `json:"mean_ns"`
	Percentiles []Percentile `json:"percentiles"`
}

// Percentile is one reported percentile.
type Percentile struct {
	P  float64 `json:"p"`
	Ns int64   `json:"ns"`
}

// EarlyStopping is the §6 outcome. For SingleStream and MultiStream,
// EstimateNs is the official metric.
type EarlyStopping struct {
	Applies bool `json:"applies"`
	Met     bool `json:"met"`
	// Lines are LoadGen's " * ..." text, verbatim.
	Lines []string `json:"lines"`
	// TTFTLines and TPOTLines replace Lines in token mode.
	TTFTLines []string `json:"ttft_lines,omitempty"`
	TPOTLines []string `json:"tpot_lines,omitempty"`
	// EstimateNs is early_stopping_latency_ss (SingleStream) or
	// early_stopping_latency_ms (MultiStream); Estimate99Ns is
	// early_stopping_latency_ms for SingleStream (0 when too few queries).
	EstimateNs   int64 `json:"estimate_ns"`
	Estimate99Ns int64 `json:"estimate_p99_ns"`
	Discarded    int64 `json:"discarded"`
}

// TokenStats are LoadGen's token-latency results.
type TokenStats struct {
	TotalTokens           int64        `json:"total_tokens"`
	FirstToken            LatencyStats `json:"first_token"`
	TimePerOutputToken    LatencyStats `json:"time_per_output_token"`
	TTFTPercentileNs      int64        `json:"ttft_target_percentile_ns"`
	TPOTPercentileNs      int64        `json:"tpot_target_percentile_ns"`
	TokensPerSecond       float64      `json:"tokens_per_second"`
	CompletedTokensPerSec float64      `json:"completed_tokens_per_second"`
}

// Validity is LoadGen's VALID/INVALID verdict and its four checks.
type Validity struct {
	Valid bool `json:"valid"`
	// PerfConstraintsMet is nil outside Server.
	PerfConstraintsMet *bool `json:"perf_constraints_met,omitempty"`
	MinDurationMet     bool  `json:"min_duration_met"`
	MinQueriesMet      bool  `json:"min_queries_met"`
	EarlyStoppingMet   bool  `json:"early_stopping_met"`
	// Recommendations are LoadGen's lines, without the leading " * ".
	Recommendations []string `json:"recommendations,omitempty"`
	// InvalidReason is result_invalid_reason.
	InvalidReason string `json:"invalid_reason,omitempty"`
}

// Metric is a run's official number.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// HigherIsBetter is false for latency metrics.
	HigherIsBetter bool `json:"higher_is_better"`
}

// Health is the load generator's own condition during the run, so a slow
// generator inside a VM is never mistaken for a slow GPU.
type Health struct {
	// IssueDelay is actual issue − scheduled issue (Server) or the gap
	// from the previous completion to the next issue (SingleStream,
	// MultiStream).
	IssueDelay Quantiles `json:"issue_delay"`
	// IssueCall is the time spent inside the backend's IssueQuery.
	IssueCall Quantiles `json:"issue_call"`
	// GeneratorCPU is this process's CPU time over the timed run.
	GeneratorCPUUserNs int64   `json:"generator_cpu_user_ns"`
	GeneratorCPUSysNs  int64   `json:"generator_cpu_system_ns"`
	GeneratorCPUPct    float64 `json:"generator_cpu_percent"`
	// Wait is how the Server generator waited for its arrivals: the spin
	// policy, its margin, the host's sleep overshoot and the issuing
	// thread's own CPU share; nil in other scenarios.
	Wait *WaitHealth `json:"wait,omitempty"`
	// HostSteal is the host's CPU steal time as a share of all CPU time
	// over the run, from /proc/stat; negative when unavailable.
	HostStealPct  float64 `json:"host_steal_percent"`
	HostStealNote string  `json:"host_steal_note,omitempty"`
	// HostBusyPct is the share of all the host's CPU time that was busy
	// (neither idle nor waiting for I/O) over the run, this process
	// included; HostCPUs is how many CPUs that is. With GeneratorCPUPct
	// they say how much CPU other work took. Nil when /proc/stat is
	// unreadable.
	HostBusyPct *float64 `json:"host_busy_percent,omitempty"`
	HostCPUs    int      `json:"host_cpus,omitempty"`
	// Stale and Duplicate count completions LoadGen would log as errors.
	StaleCompletions     uint64 `json:"stale_completions"`
	DuplicateCompletions uint64 `json:"duplicate_completions"`
}

// Quantiles summarises a distribution held in a histogram; values are
// accurate to 1/64 (about 1.6%).
type Quantiles struct {
	Count  uint64 `json:"count"`
	P50Ns  int64  `json:"p50_ns"`
	P90Ns  int64  `json:"p90_ns"`
	P99Ns  int64  `json:"p99_ns"`
	P999Ns int64  `json:"p999_ns"`
	MaxNs  int64  `json:"max_ns"`
	MeanNs int64  `json:"mean_ns"`
}

// PeakSearch records a Server peak search (see peak.go).
type PeakSearch struct {
	Precision float64 `json:"precision_qps"`
	// ProbeDurationMs is every probe's min_duration: probes are sized by
	// time, so a probe at a low QPS costs no more than one at a high one.
	ProbeDurationMs uint64 `json:"probe_duration_ms"`
	// BudgetMs bounds the search's wall time; MinQPS is the lowest QPS it
	// probes; ElapsedNs is the time it took.
	BudgetMs  uint64      `json:"budget_ms"`
	MinQPS    float64     `json:"min_qps"`
	ElapsedNs int64       `json:"elapsed_ns"`
	Probes    []PeakProbe `json:"probes"`
	PeakQPS   float64     `json:"peak_qps"`
	Confirmed bool        `json:"confirmed"`
	Note      string      `json:"note,omitempty"`
}

// PeakProbe is one run of the search.
type PeakProbe struct {
	TargetQPS    float64 `json:"target_qps"`
	Valid        bool    `json:"valid"`
	Completed    float64 `json:"completed_samples_per_second"`
	P99Ns        int64   `json:"target_percentile_latency_ns"`
	Reason       string  `json:"reason,omitempty"`
	Confirmation bool    `json:"confirmation,omitempty"`
}

// Series holds the raw per-sample data of a run, for reports that plot it.
type Series struct {
	// SampleLatencyNs is unsorted, in issue order.
	SampleLatencyNs []int64
	// LoadedSet is the performance sample set in load order
	// (loaded_qsl_set in the detail log).
	LoadedSet []uint32
}

// InvalidExplanation says why a run is INVALID, in one line. LoadGen's
// result_invalid_reason leaves out early stopping, so a run that failed
// only that gets its lines.
func (res *Result) InvalidExplanation() string {
	why := strings.TrimSpace(res.Validity.InvalidReason)
	if es := res.EarlyStopping; es.Applies && !es.Met {
		var lines []string
		for _, l := range slices.Concat(es.Lines, es.TTFTLines, es.TPOTLines) {
			lines = append(lines, strings.TrimPrefix(strings.TrimSpace(l), "* "))
		}
		why = strings.TrimSpace(why + " early stopping not met: " + strings.Join(lines, " "))
	}
	if why == "" {
		why = "see the summary's recommendations"
	}
	return why
}
