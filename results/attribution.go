package results

// Finding is one ranked explanation of a gap between the sides, drawn from
// telemetry or the load generator's health: the metric on each side, its
// relative delta, and a plain-language sentence.
type Finding struct {
	// Scenario is "benchmark/Scenario"; empty for a finding about the whole
	// side (e.g. a PCIe link trained down, from the fingerprint).
	Scenario string `json:"scenario,omitempty"`
	// Kind classifies the finding (power-capping, thermal, cpu-steal, ...).
	Kind   string `json:"kind"`
	Metric string `json:"metric"`
	// Baseline and Candidate are the metric's values; nil when a side does
	// not report it.
	Baseline  *float64 `json:"baseline"`
	Candidate *float64 `json:"candidate"`
	Unit      string   `json:"unit"`
	// DeltaPct is 100 × (candidate − baseline) / baseline; nil when
	// undefined.
	DeltaPct *float64 `json:"delta_pct"`
	// Rank is 1 for the finding that best explains the gap.
	Rank int    `json:"rank"`
	Text string `json:"text"`
}
