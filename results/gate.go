package results

import (
	"fmt"
	"slices"
)

// GateInput is what the gate decides one scenario on.
type GateInput struct {
	// Name labels the scenario in reasons, e.g. "resnet50 Offline".
	Name   string
	Status string
	// RetainedPct and Interval (the Settings.Confidence one) as computed;
	// either may be nil.
	RetainedPct *float64
	Interval    *Interval
	// CandidateInvalid counts candidate runs that are INVALID (or logged
	// LoadGen errors, or whose peak search was not confirmed) while the
	// baseline is VALID.
	CandidateInvalid int
	// Detail says why the scenario is void, refused or has no data.
	Detail string
	// MarginPct is the equivalence margin: an interval whose half-width
	// exceeds it is too wide for the regression gate to call a pass.
	MarginPct float64
	// NotMeasurable says why the scenario measured the host rather than
	// the device (see GeneratorHealth); the gate then decides nothing.
	NotMeasurable string
}

// Failures are problems outside any one scenario's numbers: bad usage or
// input (exit 2) and runtime failures such as failed runs (exit 1).
type Failures struct {
	Usage   []string
	Runtime []string
}

// exitPrecedence is the order in which exit codes win when several apply:
// the first of 2, 1, 3, 4, 5.
var exitPrecedence = []int{ExitUsage, ExitFailure, ExitVoid, ExitRegression, ExitInconclusive}

// DecideGate decides the gate. mode is GateNone, GateRegression or
// GateQualify; minRetained is the threshold in percent.
//
// Per scenario:
//   - void (an INVALID baseline, or one with LoadGen errors): exit 3 in
//     every mode;
//   - a candidate INVALID where the baseline is VALID: a regression (4)
//     under a gate; without one, exit 3 (a run is INVALID);
//   - refused (the sides are not comparable): under a gate, exit 2, since
//     the gate cannot be evaluated on what was given;
//   - no data on a side: outcome no-data, never pass; under qualify,
//     inconclusive (5);
//   - not measurable on this host (the load generator's issue delay
//     dominates the latency): outcome not-measurable, never a verdict on
//     the device; under qualify, inconclusive (5);
//   - regression gate: exit 4 when the interval lies wholly below the
//     threshold; pass when it lies at or above it, or straddles it with a
//     half-width within the equivalence margin (the runs could have seen
//     a regression of the margin's size); otherwise not-shown ("not shown
//     to regress", exit 0), which is not a pass. With one repetition per
//     side (no interval) a point value below the threshold is a
//     regression, judged on the point value, and one above it not-shown;
//   - qualify gate: pass only when the whole interval is at or above the
//     threshold; wholly below is a regression (4); otherwise, or with no
//     interval, inconclusive (5).
//
// The overall exit code is the first of 2, 1, 3, 4, 5 that any scenario
// or failure produced, else 0.
func DecideGate(mode string, minRetained float64, f Failures, in []GateInput) (GateOutcome, []ScenarioGate) {
	gated := mode == GateRegression || mode == GateQualify
	per := make([]ScenarioGate, len(in))
	for i, s := range in {
		per[i] = decideScenario(mode, gated, minRetained, s)
	}
	out := GateOutcome{Mode: mode, MinRetainedPct: minRetained}
	reasons := map[int][]string{}
	reasons[ExitUsage] = append(reasons[ExitUsage], f.Usage...)
	reasons[ExitFailure] = append(reasons[ExitFailure], f.Runtime...)
	for i, g := range per {
		if g.ExitCode != ExitOK {
			reasons[g.ExitCode] = append(reasons[g.ExitCode], in[i].Name+": "+g.Reason)
		}
	}
	out.Outcome = OutcomePass
	if !gated {
		out.Outcome = OutcomeNotGated
	}
	// Exit 0 is a pass only when every scenario passed; otherwise the
	// scenarios the gate could not examine are named.
	var unexamined []string
	for i, g := range per {
		if gated && g.ExitCode == ExitOK && g.Outcome != OutcomePass {
			unexamined = append(unexamined, in[i].Name+": "+g.Reason)
		}
	}
	if len(unexamined) > 0 {
		out.Outcome = OutcomeNotShown
		out.Reasons = unexamined
	}
	for _, code := range exitPrecedence {
		if len(reasons[code]) == 0 {
			continue
		}
		out.ExitCode = code
		out.Outcome = outcomeOf(code)
		// The winning code's reasons first, then the rest by precedence,
		// then the scenarios not examined.
		out.Reasons = slices.Clone(reasons[code])
		for _, other := range exitPrecedence {
			if other != code {
				out.Reasons = append(out.Reasons, reasons[other]...)
			}
		}
		out.Reasons = append(out.Reasons, unexamined...)
		break
	}
	return out, per
}

func outcomeOf(code int) string {
	switch code {
	case ExitUsage:
		return OutcomeUsage
	case ExitFailure:
		return OutcomeFailed
	case ExitVoid:
		return OutcomeVoid
	case ExitRegression:
		return OutcomeRegression
	case ExitInconclusive:
		return OutcomeInconclusive
	}
	return OutcomePass
}

func decideScenario(mode string, gated bool, minRetained float64, s GateInput) ScenarioGate {
	pass := ScenarioGate{Outcome: OutcomePass}
	if !gated {
		pass.Outcome = OutcomeNotGated
	}
	switch s.Status {
	case StatusVoid:
		return ScenarioGate{Outcome: OutcomeVoid, ExitCode: ExitVoid, Reason: "void: " + s.Detail}
	case StatusRefused:
		if !gated {
			return ScenarioGate{Outcome: OutcomeRefused, Reason: "refused: " + s.Detail}
		}
		return ScenarioGate{Outcome: OutcomeRefused, ExitCode: ExitUsage, Reason: "refused, so the gate cannot be evaluated: " + s.Detail}
	}
	if s.CandidateInvalid > 0 {
		reason := fmt.Sprintf("%d candidate run(s) INVALID where the baseline is VALID", s.CandidateInvalid)
		if !gated {
			return ScenarioGate{Outcome: OutcomeVoid, ExitCode: ExitVoid, Reason: reason}
		}
		return ScenarioGate{Outcome: OutcomeRegression, ExitCode: ExitRegression, Reason: reason + ", a regression"}
	}
	if s.Status == StatusNoData || s.RetainedPct == nil {
		detail := s.Detail
		if detail == "" {
			detail = "nothing to compare"
		}
		if mode == GateQualify {
			return ScenarioGate{Outcome: OutcomeNoData, ExitCode: ExitInconclusive, Reason: "no data to qualify: " + detail}
		}
		return ScenarioGate{Outcome: OutcomeNoData, Reason: "not examined, no data: " + detail}
	}
	if s.NotMeasurable != "" {
		reason := "not measurable on this host: " + s.NotMeasurable
		if mode == GateQualify {
			return ScenarioGate{Outcome: OutcomeNotMeasurable, ExitCode: ExitInconclusive, Reason: reason + "; it cannot qualify"}
		}
		return ScenarioGate{Outcome: OutcomeNotMeasurable, Reason: reason}
	}
	if !gated {
		return pass
	}
	point := *s.RetainedPct
	iv := s.Interval
	switch mode {
	case GateRegression:
		if iv == nil {
			if point < minRetained {
				return ScenarioGate{Outcome: OutcomeRegression, ExitCode: ExitRegression,
					Reason: fmt.Sprintf("retained %.1f%% is below %g%%, judged on the point value: no interval is possible with one repetition per side", point, minRetained)}
			}
			return ScenarioGate{Outcome: OutcomeNotShown,
				Reason: fmt.Sprintf("not shown to regress (retained %.1f%%, no interval: one repetition per side)", point)}
		}
		switch {
		case iv.HighPct < minRetained:
			return ScenarioGate{Outcome: OutcomeRegression, ExitCode: ExitRegression,
				Reason: fmt.Sprintf("the %g%% interval [%.1f%%, %.1f%%] lies wholly below %g%%", 100*iv.Confidence, iv.LowPct, iv.HighPct, minRetained)}
		case iv.LowPct >= minRetained:
			return ScenarioGate{Outcome: OutcomePass, Reason: fmt.Sprintf("the %g%% interval [%.1f%%, %.1f%%] lies at or above %g%%", 100*iv.Confidence, iv.LowPct, iv.HighPct, minRetained)}
		case s.MarginPct > 0 && iv.HalfWidthPct > s.MarginPct:
			return ScenarioGate{Outcome: OutcomeNotShown,
				Reason: fmt.Sprintf("not shown to regress (interval [%.1f, %.1f]): it straddles %g%% and is wider than the ±%g%% margin, so a regression of that size could hide in it", iv.LowPct, iv.HighPct, minRetained, s.MarginPct)}
		}
		return ScenarioGate{Outcome: OutcomePass, Reason: fmt.Sprintf("the %g%% interval [%.1f%%, %.1f%%] straddles %g%% within the ±%g%% margin: no regression of that size", 100*iv.Confidence, iv.LowPct, iv.HighPct, minRetained, s.MarginPct)}
	default: // qualify
		if iv == nil {
			return ScenarioGate{Outcome: OutcomeInconclusive, ExitCode: ExitInconclusive,
				Reason: fmt.Sprintf("retained %.1f%% has no interval (one repetition per side), so it cannot qualify", point)}
		}
		switch {
		case iv.LowPct >= minRetained:
			return ScenarioGate{Outcome: OutcomePass, Reason: fmt.Sprintf("the %g%% interval [%.1f%%, %.1f%%] lies at or above %g%%", 100*iv.Confidence, iv.LowPct, iv.HighPct, minRetained)}
		case iv.HighPct < minRetained:
			return ScenarioGate{Outcome: OutcomeRegression, ExitCode: ExitRegression,
				Reason: fmt.Sprintf("the %g%% interval [%.1f%%, %.1f%%] lies wholly below %g%%", 100*iv.Confidence, iv.LowPct, iv.HighPct, minRetained)}
		default:
			return ScenarioGate{Outcome: OutcomeInconclusive, ExitCode: ExitInconclusive,
				Reason: fmt.Sprintf("the %g%% interval [%.1f%%, %.1f%%] straddles %g%%", 100*iv.Confidence, iv.LowPct, iv.HighPct, minRetained)}
		}
	}
}

// ApplyGate decides the comparison's gate from its scenarios and settings
// plus failures outside them, filling Gate and every scenario's Gate.
func (c *Comparison) ApplyGate(f Failures) {
	in := make([]GateInput, len(c.Scenarios))
	for i, s := range c.Scenarios {
		in[i] = s.gateInput(c.Settings.MarginPct)
	}
	overall, per := DecideGate(c.Settings.Gate, c.Settings.MinRetainedPct, f, in)
	c.Gate = overall
	for i := range c.Scenarios {
		c.Scenarios[i].Gate = per[i]
	}
}

func (s *ScenarioComparison) gateInput(margin float64) GateInput {
	g := GateInput{Name: s.Benchmark + " " + s.Scenario, Status: s.Status, RetainedPct: s.RetainedPct, Interval: s.Interval, MarginPct: margin}
	if s.Verdict == VerdictNotMeasurable && s.Generator != nil {
		g.NotMeasurable = s.Generator.NotMeasurable
	}
	switch s.Status {
	case StatusVoid:
		g.Detail = s.Void
	case StatusRefused:
		g.Detail = s.Refusal
	}
	if s.Status != StatusVoid && s.Status != StatusRefused {
		for _, r := range s.Candidate.Runs {
			if r.Status == StatusOK && r.invalid() {
				g.CandidateInvalid++
			}
		}
		if s.Status == StatusNoData && len(s.Notes) > 0 {
			g.Detail = s.Notes[len(s.Notes)-1]
		}
	}
	return g
}

// invalid reports a run that finished but is not a usable VALID result:
// INVALID, LoadGen errors, or an unconfirmed peak search.
func (r Repetition) invalid() bool {
	return !r.Valid || r.LoadGenErrors > 0 || (r.Peak != nil && !r.Peak.Confirmed)
}
