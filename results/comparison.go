package results

import (
	"encoding/json"
	"time"
)

// ComparisonSchema versions the JSON of a Comparison (report.json). Fields
// are only added within v1; a renamed or re-typed field makes v2. The
// schema is documented in docs/comparison-schema.md.
const ComparisonSchema = "gpuperf.comparison/v1"

// Role names, as plans spell them.
const (
	RoleBaseline  = "baseline"
	RoleCandidate = "candidate"
)

// Formats of a side's results.
const (
	// FormatGpuperf is a gpuperf result tree (run.json, result.json).
	FormatGpuperf = "gpuperf"
	// FormatMLPerf is a published MLPerf results tree
	// (<system>/<benchmark>/<Scenario>[/performance/run_<k>]).
	FormatMLPerf = "mlperf"
)

// Comparison is the model of one comparison: two sides, and per benchmark
// and scenario the retained performance with its interval, verdict and
// gate outcome. Every report format (terminal table, JSON, Markdown, HTML,
// JUnit) renders this one value; JSON is the value itself.
type Comparison struct {
	Schema string `json:"schema"`
	// Version is the gpuperf that compared.
	Version   string    `json:"gpuperf_version,omitempty"`
	CreatedAt time.Time `json:"created_at"`

	Baseline  Side `json:"baseline"`
	Candidate Side `json:"candidate"`

	Settings    Settings    `json:"settings"`
	Definitions Definitions `json:"definitions"`

	Scenarios []ScenarioComparison `json:"scenarios"`
	// Unmatched lists benchmark/scenario pairs only one side has; they are
	// not compared.
	Unmatched []Unmatched `json:"unmatched,omitempty"`
	Notes     []string    `json:"notes,omitempty"`

	// Fairness is the preflight diff of the two sides' fingerprints;
	// Findings are the ranked telemetry explanations of the gaps.
	Fairness *Fairness `json:"fairness,omitempty"`
	Findings []Finding `json:"findings,omitempty"`

	// Gate is the overall outcome and the exit code it maps to.
	Gate GateOutcome `json:"gate"`

	// Isolation is how each side kept its performance under the plan's
	// neighbour loads; nil when the plan had none.
	Isolation *Isolation `json:"isolation,omitempty"`
	// cache holds the runs as the sides read them.
	cache runCache
}

// Side describes one side of a comparison and where its numbers came from.
type Side struct {
	Role string `json:"role"`
	// Path is the folder the side was read from.
	Path   string `json:"path"`
	Format string `json:"format"`
	// Name is the host (gpuperf) or system folder (MLPerf) name; several
	// hosts are joined with "+".
	Name string `json:"name"`
	// RunID is the gpuperf tree's run id.
	RunID string `json:"run_id,omitempty"`
	// Round is the MLPerf round (v4.0) when the path says it; Submitter is
	// the MLPerf submitter.
	Round     string `json:"round,omitempty"`
	Submitter string `json:"submitter,omitempty"`
	// StoredBaseline is set when this side's runs were imported from an
	// earlier tree (compared unpaired).
	StoredBaseline string `json:"stored_baseline,omitempty"`
	// Hosts are the side's machines with their fingerprints.
	Hosts []HostInfo `json:"hosts"`
}

// HostInfo is one machine of a side: its fingerprint as stored, and the
// GPU count read from it.
type HostInfo struct {
	Name string `json:"name"`
	// SystemName is the MLPerf system description's system_name.
	SystemName  string `json:"system_name,omitempty"`
	Accelerator string `json:"accelerator,omitempty"`
	// GPUs is the accelerator count --per-gpu divides by; GPUsFrom says
	// where it came from (e.g. "systems/X.json accelerators_per_node", or
	// "not in the fingerprint; assumed 1").
	GPUs     int    `json:"gpus"`
	GPUsFrom string `json:"gpus_from"`
	// FingerprintFile is the host.json or systems/<system>.json read;
	// Fingerprint is its content (gpuperf: the agent's fingerprint_json,
	// decoded), for the fairness preflight.
	FingerprintFile string          `json:"fingerprint_file,omitempty"`
	Fingerprint     json.RawMessage `json:"fingerprint,omitempty"`
	// HypervisorFile and Hypervisor are the same for the agent on the
	// host's vGPU hypervisor (hypervisor.json), when the plan had one.
	HypervisorFile string          `json:"hypervisor_file,omitempty"`
	Hypervisor     json.RawMessage `json:"hypervisor,omitempty"`
}

// Interval methods.
const (
	// MethodPairedT is a paired Student-t interval on the log ratios of
	// interleaved pairs.
	MethodPairedT = "paired-t-log"
	// MethodWelchT is Welch's unequal-variance t interval on the
	// difference of mean logs.
	MethodWelchT = "welch-t-log"
	// MethodOneSidedVarT is a Student-t interval on mean logs where one
	// side has a single repetition: the spread comes from the other side
	// alone, assuming both spread alike.
	MethodOneSidedVarT = "t-log-one-side-variance"
	// MethodRepeatedT is a sequential design's repeated confidence
	// interval: the paired t interval at the look's nominal level, which
	// gives the family's confidence over every look (see
	// SequentialRecord).
	MethodRepeatedT = "paired-t-log-repeated"
	// MethodBootstrap is a seeded percentile bootstrap of the ratio of
	// geometric means (of the paired log ratios when paired); only with 10
	// or more repetitions per side.
	MethodBootstrap = "bootstrap-percentile"
)

// Requested interval methods (Settings.IntervalMethod).
const (
	IntervalAuto      = "auto"
	IntervalT         = "t"
	IntervalBootstrap = "bootstrap"
)

// Settings are what the comparison was asked to do.
type Settings struct {
	// Confidence of Interval (0.95); EquivalenceConfidence of the TOST
	// interval (0.90, two one-sided tests at 5%).
	Confidence            float64 `json:"confidence"`
	EquivalenceConfidence float64 `json:"equivalence_confidence"`
	// MarginPct is the equivalence margin: retained within
	// [100−margin, 100+margin] counts as equivalent.
	MarginPct float64 `json:"equivalence_margin_pct"`
	// Power is the chance, at a true ratio of 100%, that the equivalence
	// test concludes "equivalent" at RepsNeeded repetitions (0.80).
	Power float64 `json:"power"`
	// MinRetainedPct is the gate's threshold; MinRetainedFrom says who set
	// it: "flag", "plan" or "default".
	MinRetainedPct  float64 `json:"min_retained_pct"`
	MinRetainedFrom string  `json:"min_retained_from"`
	// Gate is GateNone, GateRegression or GateQualify.
	Gate   string `json:"gate"`
	PerGPU bool   `json:"per_gpu"`
	// IntervalMethod is IntervalAuto, IntervalT or IntervalBootstrap.
	IntervalMethod     string `json:"interval_method"`
	BootstrapResamples int    `json:"bootstrap_resamples"`
	BootstrapSeed      uint64 `json:"bootstrap_seed"`
}

// Definitions state, in words, how every printed number is defined, so a
// renderer prints them with the numbers.
type Definitions struct {
	Retained    string `json:"retained"`
	Percentile  string `json:"percentile"`
	Interval    string `json:"interval"`
	HalfWidth   string `json:"half_width"`
	RepsNeeded  string `json:"repetitions_needed"`
	Equivalence string `json:"equivalence"`
	Gate        string `json:"gate"`
	Server      string `json:"server"`
	PerGPU      string `json:"per_gpu,omitempty"`
}

// Scenario statuses.
const (
	// StatusCompared: an interval was computed.
	StatusCompared = "compared"
	// StatusPoint: one repetition per side; the point value only.
	StatusPoint = "point"
	// StatusRefused: the two sides cannot be compared (Refusal says why).
	StatusRefused = "refused"
	// StatusVoid: the baseline is INVALID or has LoadGen errors.
	StatusVoid = "void"
	// StatusCandidateInvalid: the baseline has VALID runs, the candidate
	// none.
	StatusCandidateInvalid = "candidate-invalid"
	// StatusNoData: no counted run on a side, for another reason (runs
	// failed, peak search unconfirmed).
	StatusNoData = "no-data"
)

// Verdicts of the equivalence test (two one-sided tests on the
// EquivalenceInterval against the margin).
const (
	VerdictEquivalent   = "equivalent"
	VerdictLower        = "lower"
	VerdictHigher       = "higher"
	VerdictInconclusive = "inconclusive"
	// VerdictNone: nothing was compared (refused, void, no data).
	VerdictNone = "n/a"
	// VerdictNotMeasurable: the scenario's metric is the load generator's
	// on this host, not the device's (GeneratorHealth says why).
	VerdictNotMeasurable = "not-measurable"
)

// Pairings.
const (
	PairingPaired   = "paired"
	PairingUnpaired = "unpaired"
)

// Labels a scenario may carry.
const (
	// LabelChosenTarget: a published Server result is at a QPS its
	// submitter chose; its ratio is not a capacity ratio.
	LabelChosenTarget = "chosen-target"
	// LabelPeakSearch: Server completed samples/s of the confirmation run
	// at each side's highest fully VALID QPS.
	LabelPeakSearch = "peak-search"
	// LabelFixedQPSLatency is the prefix of "p99-latency ratio at fixed
	// QPS": a Server run at one fixed QPS, compared on its percentile
	// latency (inverted).
	LabelFixedQPSLatency = "latency ratio at fixed QPS"
	// LabelLatencyInverted: a latency metric, inverted so that above 100%
	// the candidate did better.
	LabelLatencyInverted = "latency, inverted"
	// LabelTokens: an LLM benchmark compared in tokens/s.
	LabelTokens = "tokens/s"
	// LabelScheduled: Scheduled samples/s, Server's official metric up to
	// MLPerf v4.0.
	LabelScheduled = "scheduled samples/s"
	// LabelPerGPU: both sides divided by their GPU count.
	LabelPerGPU = "per-gpu"
	// LabelCrossSubmitter and LabelCrossRound: the sides come from
	// different submitters or rounds.
	LabelCrossSubmitter = "cross-submitter"
	LabelCrossRound     = "cross-round"
)

// ScenarioComparison is one benchmark and scenario: each side's
// repetitions and the candidate's retained performance.
type ScenarioComparison struct {
	// Benchmark is the model key (resnet50, bert-99, mixtral-8x7b).
	Benchmark string `json:"benchmark"`
	Scenario  string `json:"scenario"`
	Metric    Metric `json:"metric"`
	// Labels qualify the number (LabelChosenTarget, LabelPerGPU, ...).
	Labels []string `json:"labels,omitempty"`
	// Status is one of the Status* values.
	Status string `json:"status"`
	// Pairing is PairingPaired when repetitions were interleaved pairs
	// and compared pair by pair.
	Pairing string `json:"pairing"`

	Baseline  SideValues `json:"baseline_runs"`
	Candidate SideValues `json:"candidate_runs"`

	// RetainedPct is 100 × candidate / baseline of the geometric means
	// (of the pair ratios when paired); latencies inverted. Nil when not
	// computed.
	RetainedPct *float64 `json:"retained_pct"`
	// Interval is the Settings.Confidence interval of RetainedPct;
	// EquivalenceInterval the Settings.EquivalenceConfidence one the
	// verdict uses. Nil when no interval is possible.
	Interval            *Interval `json:"interval,omitempty"`
	EquivalenceInterval *Interval `json:"equivalence_interval,omitempty"`
	// Sequential is set when the repetitions came from a sequential
	// design (repetitions: auto): its looks and nominal levels.
	Sequential *SequentialInfo `json:"sequential,omitempty"`
	// IntervalKind is IntervalConfidence when the repetitions ran
	// different seed sets, IntervalRepeatability when they all ran the
	// same seeds; empty without an interval.
	IntervalKind string `json:"interval_kind,omitempty"`
	// RepsNeeded is how many repetitions per side (pairs when paired, an
	// even number) give the equivalence test Settings.Power to conclude
	// "equivalent" at the margin when the true ratio is 100%, at the
	// observed spread; never fewer than MinPairs. Nil when the spread is
	// unknown.
	RepsNeeded *int `json:"repetitions_needed,omitempty"`

	Verdict string `json:"verdict"`
	// Refusal says why the sides were not compared (StatusRefused); Void
	// why the scenario is void (StatusVoid).
	Refusal string   `json:"refusal,omitempty"`
	Void    string   `json:"void,omitempty"`
	Notes   []string `json:"notes,omitempty"`

	Gate ScenarioGate `json:"gate"`

	// Generator is the load generator's health on each side; nil when no
	// run recorded it.
	Generator *GeneratorHealth `json:"generator_health,omitempty"`

	// Server is what the serving stack itself counted on each side (the
	// runs' server_stats), nil when neither side's backend reads a
	// server's statistics.
	Server *ServerTimes `json:"server_times,omitempty"`
}

// ServerTimes are a scenario's serving statistics, side by side: where a
// request's time went on each, shown whether or not a finding was drawn.
type ServerTimes struct {
	Baseline  *ServerSide `json:"baseline,omitempty"`
	Candidate *ServerSide `json:"candidate,omitempty"`
}

// ServerSide is one side's means over its counted runs, per request, in
// milliseconds.
type ServerSide struct {
	// Source names the statistics ("triton-statistics", "vllm-metrics",
	// "tgi-metrics"); Runs counts the counted runs that had them.
	Source string `json:"source"`
	Runs   int    `json:"runs"`
	// Unavailable is why no counted run had statistics (the last run's
	// reason); the times are then absent.
	Unavailable string `json:"unavailable,omitempty"`
	// ClientMeanMs is the load generator's mean latency, for contrast;
	// RequestMs the time on the server, QueueMs and InferMs its parts
	// (LLM servers split InferMs into PrefillMs and DecodeMs).
	ClientMeanMs *float64 `json:"client_mean_ms,omitempty"`
	RequestMs    *float64 `json:"request_ms,omitempty"`
	QueueMs      *float64 `json:"queue_ms,omitempty"`
	InferMs      *float64 `json:"infer_ms,omitempty"`
	PrefillMs    *float64 `json:"prefill_ms,omitempty"`
	DecodeMs     *float64 `json:"decode_ms,omitempty"`
}

// Metric is what a scenario compares.
type Metric struct {
	// Name is the official key (result_completed_samples_per_sec,
	// early_stopping_latency_ss, ...).
	Name string `json:"name"`
	// Label says it in words, e.g. "Completed samples/s at the peak VALID
	// QPS".
	Label string `json:"label"`
	Unit  string `json:"unit"`
	// HigherIsBetter is false for latencies; RetainedPct is inverted for
	// them.
	HigherIsBetter bool `json:"higher_is_better"`
	// PerGPU: values are divided by each side's GPU count.
	PerGPU bool `json:"per_gpu"`
}

// SideValues are one side's repetitions of a scenario.
type SideValues struct {
	Runs []Repetition `json:"runs"`
	// Counted is how many runs enter the statistics; Valid, Invalid and
	// Failed count the runs by outcome.
	Counted int `json:"counted"`
	Valid   int `json:"valid"`
	Invalid int `json:"invalid"`
	Failed  int `json:"failed"`
	// Geomean is the geometric mean of the counted values; SpreadPct the
	// sample standard deviation of their natural logs × 100 (about the
	// coefficient of variation in %). Nil when undefined.
	Geomean   *float64 `json:"geomean,omitempty"`
	SpreadPct *float64 `json:"spread_pct,omitempty"`
}

// Repetition is one timed run of one side.
type Repetition struct {
	// Repetition is 1-based; pairs share it.
	Repetition int    `json:"repetition"`
	Host       string `json:"host,omitempty"`
	// Dir is the run's folder, relative to the side's Path.
	Dir string `json:"dir,omitempty"`
	// File and Line name where the headline was read (summary or detail
	// log), or result.json.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	// RawValue is the headline as read, in Metric.Unit before any per-GPU
	// division; Value is what is compared.
	RawValue float64 `json:"raw_value"`
	Value    float64 `json:"value"`
	GPUs     int     `json:"gpus"`
	// Status is the run's status in run.json (ok, failed, cancelled); ok
	// for published results.
	Status string `json:"status"`
	Valid  bool   `json:"valid"`
	// Counted says whether the run enters the statistics; Excluded says
	// why not.
	Counted  bool   `json:"counted"`
	Excluded string `json:"excluded,omitempty"`
	// Queries is the number of queries processed, when known.
	Queries uint64 `json:"queries,omitempty"`
	// LoadGenErrors counts LoadGen-style errors (reference/loadgen.md
	// §7.2) the run logged.
	LoadGenErrors int     `json:"loadgen_errors"`
	TargetQPS     float64 `json:"target_qps,omitempty"`
	// Peak is set for a Server peak search.
	Peak *PeakInfo `json:"peak,omitempty"`
}

// PeakInfo summarises a Server peak search; its probes never count, only
// the confirmation run.
type PeakInfo struct {
	StartQPS     float64 `json:"start_qps"`
	PeakQPS      float64 `json:"peak_qps"`
	PrecisionQPS float64 `json:"precision_qps"`
	Probes       int     `json:"probes"`
	Confirmed    bool    `json:"confirmed"`
}

// Interval is a confidence interval of RetainedPct.
type Interval struct {
	Method     string  `json:"method"`
	Confidence float64 `json:"confidence"`
	LowPct     float64 `json:"low_pct"`
	HighPct    float64 `json:"high_pct"`
	// HalfWidthPct is (HighPct − LowPct) / 2, in percentage points.
	HalfWidthPct float64 `json:"half_width_pct"`
	// DF is the t distribution's degrees of freedom (Welch's may be
	// fractional); zero for the bootstrap.
	DF float64 `json:"df,omitempty"`
	// N is the number of pairs (paired) or the smaller side's count.
	N         int    `json:"n"`
	Resamples int    `json:"resamples,omitempty"`
	Seed      uint64 `json:"seed,omitempty"`
}

// Unmatched is a benchmark and scenario only one side has.
type Unmatched struct {
	Benchmark string `json:"benchmark"`
	Scenario  string `json:"scenario"`
	// Side is the role that has it.
	Side string `json:"side"`
}

// Gate modes.
const (
	GateNone       = "none"
	GateRegression = "regression"
	GateQualify    = "qualify"
)

// Gate outcomes, overall and per scenario.
const (
	OutcomePass         = "pass"
	OutcomeRegression   = "regression"
	OutcomeInconclusive = "inconclusive"
	OutcomeVoid         = "void"
	OutcomeRefused      = "refused"
	OutcomeFailed       = "failed"
	OutcomeUsage        = "invalid-input"
	OutcomeNotGated     = "not-gated"
	// OutcomeNotShown: the regression gate could not examine the
	// scenario ("not shown to regress"): its interval straddles the
	// threshold and is wider than the margin, or there is no interval.
	// It exits 0 but is no pass; overall, some scenario was not examined.
	OutcomeNotShown = "not-shown"
	// OutcomeNoData: a scenario with nothing to compare; never a pass.
	OutcomeNoData = "no-data"
	// OutcomeNotMeasurable: the load generator, not the device, set the
	// scenario's metric on this host (GeneratorHealth).
	OutcomeNotMeasurable = "not-measurable"
)

// Exit codes the gate maps to (DESIGN.md); when several apply, the first
// of ExitUsage, ExitFailure, ExitVoid, ExitRegression, ExitInconclusive
// wins.
const (
	ExitOK           = 0
	ExitFailure      = 1
	ExitUsage        = 2
	ExitVoid         = 3
	ExitRegression   = 4
	ExitInconclusive = 5
)

// GateOutcome is the comparison's overall outcome.
type GateOutcome struct {
	Mode           string  `json:"mode"`
	MinRetainedPct float64 `json:"min_retained_pct"`
	Outcome        string  `json:"outcome"`
	ExitCode       int     `json:"exit_code"`
	// Reasons name each scenario (or failure) that set the exit code.
	Reasons []string `json:"reasons,omitempty"`
}

// ScenarioGate is one scenario's gate outcome.
type ScenarioGate struct {
	Outcome  string `json:"outcome"`
	ExitCode int    `json:"exit_code"`
	Reason   string `json:"reason,omitempty"`
}
