package results

import (
	"fmt"
	"math"
	"strings"
)

// GeneratorHealth is the load generator's condition in one scenario, per
// side: how late it issued queries, how much CPU the hypervisor stole and
// how busy other work kept the host. A scenario whose metric includes the
// issue delay (Server: latency counts from the scheduled issue) is "not
// measurable on this host" when, on either side, the delay's p99 takes
// GeneratorBoundShare of the latency bound or, at a fixed QPS,
// GeneratorLatencyShare of the measured percentile latency: the number is
// then the host's generator, not the device. SingleStream, MultiStream
// and Offline count from the actual issue, so a late generator slows them
// without entering their metric.
type GeneratorHealth struct {
	Baseline  *GeneratorSide `json:"baseline,omitempty"`
	Candidate *GeneratorSide `json:"candidate,omitempty"`
	// MetricIncludesIssueDelay: the scenario's metric counts from the
	// scheduled issue (Server), so a late generator shows in it.
	MetricIncludesIssueDelay bool `json:"metric_includes_issue_delay"`
	// NotMeasurable says why the metric is the generator's, with the
	// figures and the side that was worse; empty when it is the device's.
	NotMeasurable string `json:"not_measurable,omitempty"`
	// HostNoise, when the comparison could not decide at the margin, says
	// whether the host was too noisy to measure at it (and why) or the
	// spread is the runs' own.
	HostNoise string `json:"host_noise,omitempty"`
}

// GeneratorSide is one side's generator health: means over its counted
// runs (nil when no run recorded the figure).
type GeneratorSide struct {
	Runs int `json:"runs"`
	// IssueDelayP99Ms is the issue delay's p99 (Server: actual − scheduled
	// issue; SingleStream and MultiStream: previous completion → next
	// issue); IssueDelayMaxP99Ms the worst run's.
	IssueDelayP99Ms    *float64 `json:"issue_delay_p99_ms,omitempty"`
	IssueDelayMaxP99Ms *float64 `json:"issue_delay_worst_run_p99_ms,omitempty"`
	// LatencyBoundMs is Server's latency bound; LatencyMs the measured
	// percentile latency (the scenario's target percentile).
	LatencyBoundMs *float64 `json:"latency_bound_ms,omitempty"`
	LatencyMs      *float64 `json:"latency_ms,omitempty"`
	// StealPct is CPU steal as a share of all CPU time.
	StealPct *float64 `json:"cpu_steal_pct,omitempty"`
	// OtherCPUs is how many CPUs' worth of time other work took while the
	// runs ran (the host's busy time less the agent's own), of HostCPUs.
	OtherCPUs *float64 `json:"other_work_cpus,omitempty"`
	HostCPUs  int      `json:"host_cpus,omitempty"`
}

// Thresholds of the generator's health.
const (
	// GeneratorBoundShare: an issue delay p99 of a tenth of the latency
	// bound spends a tenth of the budget before the device sees a query.
	GeneratorBoundShare = 0.10
	// GeneratorLatencyShare: at a fixed QPS the compared number is the
	// percentile latency; a generator late by a quarter of it sets it.
	GeneratorLatencyShare = 0.25
	// noisyIssueMs, noisyStealPct and noisyOtherShare mark a noisy host:
	// an issue delay p99 of a millisecond, one point of CPU steal, or
	// other work taking a quarter of the host's CPUs.
	noisyIssueMs    = 1.0
	noisyStealPct   = 1.0
	noisyOtherShare = 0.25
)

// assessGenerator fills each scenario's GeneratorHealth from its counted
// runs, marks a Server scenario whose latency the generator set as not
// measurable (its verdict becomes VerdictNotMeasurable: the numbers stay,
// but no verdict on the device is drawn), and says, where the verdict is
// inconclusive, whether the host was too noisy to measure at the margin.
func assessGenerator(c *Comparison) {
	bRuns := loadRuns(c.cache, c.Baseline, c.Scenarios, RoleBaseline)
	cRuns := loadRuns(c.cache, c.Candidate, c.Scenarios, RoleCandidate)
	if len(bRuns) == 0 && len(cRuns) == 0 {
		return
	}
	for i := range c.Scenarios {
		sc := &c.Scenarios[i]
		name := sc.Benchmark + " " + sc.Scenario
		pick := counted
		invalid := sc.Status == StatusVoid || sc.Status == StatusCandidateInvalid
		if invalid {
			// INVALID runs count for nothing, but their generator may be
			// why they are INVALID.
			pick = finished
		}
		b, k := generatorSide(pick(bRuns, name)), generatorSide(pick(cRuns, name))
		if b == nil && k == nil {
			continue
		}
		g := &GeneratorHealth{Baseline: b, Candidate: k, MetricIncludesIssueDelay: sc.Scenario == "Server"}
		sc.Generator = g
		if invalid && g.MetricIncludesIssueDelay {
			if why := notMeasurable(b, k, false); why != "" {
				g.NotMeasurable = why
				sc.Notes = append(sc.Notes, "the INVALID runs were not measurable on this host: "+why)
			}
		}
		if sc.Status != StatusCompared && sc.Status != StatusPoint {
			continue
		}
		fixedQPS := !sc.Metric.HigherIsBetter
		if g.MetricIncludesIssueDelay {
			if why := notMeasurable(b, k, fixedQPS); why != "" {
				g.NotMeasurable = why
				sc.Verdict = VerdictNotMeasurable
				sc.Notes = append(sc.Notes, "not measurable on this host: "+why)
				continue
			}
		}
		if sc.Verdict == VerdictInconclusive && sc.Interval != nil {
			g.HostNoise = hostNoise(sc, c.Settings, b, k)
			sc.Notes = append(sc.Notes, g.HostNoise)
		}
	}
}

// finished are a scenario's runs that finished, counted or not.
func finished(runs []runFile, scenario string) []runFile {
	var out []runFile
	for _, r := range runs {
		if r.Scenario == scenario && r.Rep.Status == StatusOK {
			out = append(out, r)
		}
	}
	return out
}

// generatorSide averages one side's generator figures over its counted
// runs of a scenario; nil without runs.
func generatorSide(runs []runFile) *GeneratorSide {
	if len(runs) == 0 {
		return nil
	}
	o := observe(runs)
	s := &GeneratorSide{Runs: len(runs)}
	mean := func(m string) *float64 {
		if a, ok := o.get(m); ok {
			v := a.mean
			return &v
		}
		return nil
	}
	s.IssueDelayP99Ms = mean(mIssueP99)
	if v := o.vals[mIssueP99]; len(v) > 0 {
		worst := v[0]
		for _, x := range v {
			worst = math.Max(worst, x)
		}
		s.IssueDelayMaxP99Ms = &worst
	}
	s.LatencyBoundMs = mean(mBound)
	s.LatencyMs = mean(mLatency)
	s.StealPct = mean(mSteal)
	s.OtherCPUs = mean(mOtherCPUs)
	if a, ok := o.get(mHostCPUs); ok {
		s.HostCPUs = int(math.Round(a.mean))
	}
	return s
}

// notMeasurable says why the generator set a Server scenario's metric on
// one side (the worse one named, with the other's figure), or "".
func notMeasurable(b, c *GeneratorSide, fixedQPS bool) string {
	type judged struct {
		role  string
		s     *GeneratorSide
		share float64 // the larger of the two shares
		why   []string
	}
	var worst *judged
	for _, side := range []struct {
		role string
		s    *GeneratorSide
	}{{RoleBaseline, b}, {RoleCandidate, c}} {
		s := side.s
		if s == nil || s.IssueDelayP99Ms == nil || !(*s.IssueDelayP99Ms > floorIssueMs) {
			continue
		}
		d := *s.IssueDelayP99Ms
		j := &judged{role: side.role, s: s}
		if s.LatencyBoundMs != nil && *s.LatencyBoundMs > 0 {
			if share := d / *s.LatencyBoundMs; share >= GeneratorBoundShare {
				j.why = append(j.why, fmt.Sprintf("%.0f%% of the %s latency bound", 100*share, ms(*s.LatencyBoundMs)))
				j.share = math.Max(j.share, share)
			}
		}
		if fixedQPS && s.LatencyMs != nil && *s.LatencyMs > 0 {
			if share := d / *s.LatencyMs; share >= GeneratorLatencyShare {
				j.why = append(j.why, fmt.Sprintf("%.0f%% of its %s percentile latency", 100*share, ms(*s.LatencyMs)))
				j.share = math.Max(j.share, share)
			}
		}
		if len(j.why) > 0 && (worst == nil || j.share > worst.share) {
			worst = j
		}
	}
	if worst == nil {
		return ""
	}
	text := fmt.Sprintf("the load generator's issue delay p99 was %s on the %s (%s)", ms(*worst.s.IssueDelayP99Ms), worst.role, strings.Join(worst.why, ", "))
	if o := map[string]*GeneratorSide{RoleBaseline: b, RoleCandidate: c}[other(worst.role)]; o != nil && o.IssueDelayP99Ms != nil {
		text += fmt.Sprintf(", against %s on the %s", ms(*o.IssueDelayP99Ms), other(worst.role))
	}
	text += ": Server latency counts from the scheduled issue, so it measured the host's generator, not the device"
	if h := hostFigures(worst.s, false); h != "" {
		text += "; on the " + worst.role + " " + h
	}
	return text
}

// hostNoise tells a host too noisy to measure at the margin from a
// spread that is the runs' own, for a scenario the comparison could not
// decide.
func hostNoise(sc *ScenarioComparison, set Settings, b, c *GeneratorSide) string {
	wide := fmt.Sprintf("the %g%% interval ±%.1f points is too wide to decide at ±%g%%", 100*sc.Interval.Confidence, sc.Interval.HalfWidthPct, set.MarginPct)
	if sc.RepsNeeded != nil {
		wide += fmt.Sprintf(" (%d repetitions per side would give the test %g%% power at this spread)", *sc.RepsNeeded, 100*set.Power)
	}
	var noisy []string
	for _, side := range []struct {
		role string
		s    *GeneratorSide
	}{{RoleBaseline, b}, {RoleCandidate, c}} {
		if reasons := noiseSignals(side.s); len(reasons) > 0 {
			noisy = append(noisy, "on the "+side.role+" "+strings.Join(reasons, ", "))
		}
	}
	if len(noisy) > 0 {
		return "host too noisy to measure at ±" + fmt.Sprint(set.MarginPct) + "%: " + wide + ", and the host was busy: " + strings.Join(noisy, "; ") +
			"; measure on a quieter host (or pin the load generator), or add repetitions"
	}
	quiet := "the host was quiet"
	var figs []string
	for _, side := range []struct {
		role string
		s    *GeneratorSide
	}{{RoleBaseline, b}, {RoleCandidate, c}} {
		if h := hostFigures(side.s, true); h != "" {
			figs = append(figs, side.role+": "+h)
		}
	}
	if len(figs) > 0 {
		quiet += " (" + strings.Join(figs, "; ") + ")"
	}
	return "inconclusive at ±" + fmt.Sprint(set.MarginPct) + "%: " + wide + "; " + quiet + ", so the spread is the runs' own, not the host's"
}

// noiseSignals lists what marks a side's host as noisy.
func noiseSignals(s *GeneratorSide) []string {
	if s == nil {
		return nil
	}
	var out []string
	if s.IssueDelayP99Ms != nil && *s.IssueDelayP99Ms >= noisyIssueMs {
		out = append(out, "issue delay p99 "+ms(*s.IssueDelayP99Ms))
	}
	if s.StealPct != nil && *s.StealPct >= noisyStealPct {
		out = append(out, fmt.Sprintf("CPU steal %.1f%%", *s.StealPct))
	}
	if s.OtherCPUs != nil && s.HostCPUs > 0 && *s.OtherCPUs >= noisyOtherShare*float64(s.HostCPUs) {
		out = append(out, fmt.Sprintf("other work took %.1f of %d CPUs", *s.OtherCPUs, s.HostCPUs))
	}
	return out
}

// hostFigures are a side's host figures in words, the issue delay
// included when delay is set.
func hostFigures(s *GeneratorSide, delay bool) string {
	if s == nil {
		return ""
	}
	var out []string
	if delay && s.IssueDelayP99Ms != nil {
		out = append(out, "issue delay p99 "+ms(*s.IssueDelayP99Ms))
	}
	if s.StealPct != nil {
		out = append(out, fmt.Sprintf("CPU steal %.1f%%", *s.StealPct))
	}
	if s.OtherCPUs != nil && s.HostCPUs > 0 {
		out = append(out, fmt.Sprintf("other work %.1f of %d CPUs", *s.OtherCPUs, s.HostCPUs))
	}
	return strings.Join(out, ", ")
}

func ms(v float64) string {
	switch {
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	case v >= 1:
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.3f ms", v)
}
