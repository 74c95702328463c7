package results

// GeneratorHealth is the load generator's condition in one scenario, per
// side: how late it issued queries, how much CPU the hypervisor stole and
// how busy the host was with other work. A scenario whose metric includes
// the issue delay (Server: latency counts from the scheduled time) is
// "not measurable on this host" when the delay takes a large share of the
// latency bound or of the measured latency: the number is the host's,
// not the device's.
type GeneratorHealth struct {
	Baseline  *GeneratorSide `json:"baseline,omitempty"`
	Candidate *GeneratorSide `json:"candidate,omitempty"`
	// MetricIncludesIssueDelay: the scenario's metric counts from the
	// scheduled issue (Server), so a late generator shows in it.
	MetricIncludesIssueDelay bool `json:"metric_includes_issue_delay"`
	// NotMeasurable says why the metric is the generator's, with the
	// figures and the side that was worse; empty when it is the device's.
	NotMeasurable string `json:"not_measurable,omitempty"`
	// HostNoise says, when the verdict is inconclusive, whether the host
	// was too noisy to measure at the margin (and why) or the spread is
	// the runs' own.
	HostNoise string `json:"host_noise,omitempty"`
}

// GeneratorSide is one side's generator health: means over its counted
// runs.
type GeneratorSide struct {
	Runs int `json:"runs"`
}
