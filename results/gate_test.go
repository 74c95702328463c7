package results

import (
	"strings"
	"testing"
)

func pct(v float64) *float64 { return &v }

func iv(lo, hi float64) *Interval {
	return &Interval{Method: MethodPairedT, Confidence: 0.95, LowPct: lo, HighPct: hi, HalfWidthPct: (hi - lo) / 2}
}

func TestDecideGate(t *testing.T) {
	compared := func(point, lo, hi float64) GateInput {
		return GateInput{Name: "resnet50 Offline", Status: StatusCompared, RetainedPct: pct(point), Interval: iv(lo, hi), MarginPct: 3}
	}
	point := func(p float64) GateInput {
		return GateInput{Name: "bert-99 Server", Status: StatusPoint, RetainedPct: pct(p)}
	}
	void := GateInput{Name: "rnnt Offline", Status: StatusVoid, Detail: "baseline run 1 is INVALID"}
	refused := GateInput{Name: "resnet50 SingleStream", Status: StatusRefused, Detail: "different query counts"}
	candInvalid := GateInput{Name: "resnet50 Server", Status: StatusCandidateInvalid, CandidateInvalid: 2}
	candInvalidSome := GateInput{Name: "resnet50 Server", Status: StatusCompared, RetainedPct: pct(99), Interval: iv(98, 100), CandidateInvalid: 1}
	noData := GateInput{Name: "resnet50 Server", Status: StatusNoData, Detail: "runs failed"}
	notMeasurable := GateInput{Name: "resnet50 Server", Status: StatusCompared, RetainedPct: pct(60), Interval: iv(20, 180), MarginPct: 3,
		NotMeasurable: "the issue delay p99 was 9.1 ms on the candidate, 61% of the 15 ms bound"}

	for _, tc := range []struct {
		name     string
		mode     string
		f        Failures
		in       []GateInput
		want     int
		outcome  string
		per      []string // each scenario's outcome
		reasonAt string   // a substring of the first reason
	}{
		{"no gate, fine", GateNone, Failures{}, []GateInput{compared(80, 70, 90)}, ExitOK, OutcomeNotGated, []string{OutcomeNotGated}, ""},
		{"regression: interval wholly below", GateRegression, Failures{}, []GateInput{compared(90, 88, 92)}, ExitRegression, OutcomeRegression, []string{OutcomeRegression}, "lies wholly below 95%"},
		{"regression: interval straddles", GateRegression, Failures{}, []GateInput{compared(95, 93, 97)}, ExitOK, OutcomePass, []string{OutcomePass}, ""},
		{"regression: upper end exactly at the threshold", GateRegression, Failures{}, []GateInput{compared(94, 93, 95)}, ExitOK, OutcomePass, []string{OutcomePass}, ""},
		{"regression: point below, no interval", GateRegression, Failures{}, []GateInput{point(94)}, ExitRegression, OutcomeRegression, []string{OutcomeRegression}, "judged on the point value"},
		{"regression: point above, no interval, is not shown", GateRegression, Failures{}, []GateInput{point(96)}, ExitOK, OutcomeNotShown, []string{OutcomeNotShown}, "not shown to regress (retained 96.0%, no interval"},
		{"regression: wide straddle is not shown, not a pass", GateRegression, Failures{}, []GateInput{compared(60, 22, 201)}, ExitOK, OutcomeNotShown, []string{OutcomeNotShown}, "not shown to regress (interval [22.0, 201.0])"},
		{"regression: wide but wholly above passes", GateRegression, Failures{}, []GateInput{compared(150, 96, 300)}, ExitOK, OutcomePass, []string{OutcomePass}, ""},
		{"regression: one pass, one not shown", GateRegression, Failures{}, []GateInput{compared(99, 98, 100), compared(90, 80, 110)}, ExitOK, OutcomeNotShown, []string{OutcomePass, OutcomeNotShown}, "resnet50 Offline: not shown"},
		{"regression: not measurable decides nothing", GateRegression, Failures{}, []GateInput{notMeasurable}, ExitOK, OutcomeNotShown, []string{OutcomeNotMeasurable}, "not measurable on this host"},
		{"qualify: not measurable is inconclusive", GateQualify, Failures{}, []GateInput{notMeasurable}, ExitInconclusive, OutcomeInconclusive, []string{OutcomeNotMeasurable}, "not measurable"},
		{"no gate: not measurable is shown as such", GateNone, Failures{}, []GateInput{notMeasurable}, ExitOK, OutcomeNotGated, []string{OutcomeNotMeasurable}, ""},
		{"regression: a regression beside a not-shown row names both", GateRegression, Failures{}, []GateInput{compared(90, 88, 92), compared(90, 80, 110)}, ExitRegression, OutcomeRegression, []string{OutcomeRegression, OutcomeNotShown}, "wholly below"},
		{"qualify: wholly at or above", GateQualify, Failures{}, []GateInput{compared(97, 95, 99)}, ExitOK, OutcomePass, []string{OutcomePass}, ""},
		{"qualify: straddles", GateQualify, Failures{}, []GateInput{compared(96, 94, 98)}, ExitInconclusive, OutcomeInconclusive, []string{OutcomeInconclusive}, "straddles 95%"},
		{"qualify: wholly below", GateQualify, Failures{}, []GateInput{compared(90, 88, 92)}, ExitRegression, OutcomeRegression, []string{OutcomeRegression}, "wholly below"},
		{"qualify: point only", GateQualify, Failures{}, []GateInput{point(99)}, ExitInconclusive, OutcomeInconclusive, []string{OutcomeInconclusive}, "cannot qualify"},
		{"qualify: no data", GateQualify, Failures{}, []GateInput{noData}, ExitInconclusive, OutcomeInconclusive, []string{OutcomeNoData}, "no data"},
		{"regression: no data is never a pass", GateRegression, Failures{}, []GateInput{noData}, ExitOK, OutcomeNotShown, []string{OutcomeNoData}, "not examined, no data: runs failed"},
		{"no gate: no data is shown as such", GateNone, Failures{}, []GateInput{noData}, ExitOK, OutcomeNotGated, []string{OutcomeNoData}, ""},
		{"void in every mode: none", GateNone, Failures{}, []GateInput{void}, ExitVoid, OutcomeVoid, []string{OutcomeVoid}, "baseline run 1 is INVALID"},
		{"void in every mode: qualify", GateQualify, Failures{}, []GateInput{void, compared(99, 98, 100)}, ExitVoid, OutcomeVoid, []string{OutcomeVoid, OutcomePass}, "void"},
		{"candidate INVALID, baseline VALID: regression", GateRegression, Failures{}, []GateInput{candInvalid}, ExitRegression, OutcomeRegression, []string{OutcomeRegression}, "INVALID where the baseline is VALID"},
		{"candidate INVALID beside VALID runs: regression", GateQualify, Failures{}, []GateInput{candInvalidSome}, ExitRegression, OutcomeRegression, []string{OutcomeRegression}, "1 candidate run(s) INVALID"},
		{"candidate INVALID without a gate: exit 3", GateNone, Failures{}, []GateInput{candInvalid}, ExitVoid, OutcomeVoid, []string{OutcomeVoid}, "INVALID"},
		{"refused under a gate: 2", GateRegression, Failures{}, []GateInput{refused}, ExitUsage, OutcomeUsage, []string{OutcomeRefused}, "different query counts"},
		{"refused without a gate: shown, exit 0", GateNone, Failures{}, []GateInput{refused}, ExitOK, OutcomeNotGated, []string{OutcomeRefused}, ""},
		// Precedence: the first of 2, 1, 3, 4, 5.
		{"5 and 4: 4", GateQualify, Failures{}, []GateInput{compared(96, 94, 98), compared(90, 88, 92)}, ExitRegression, OutcomeRegression, []string{OutcomeInconclusive, OutcomeRegression}, "wholly below"},
		{"4 and 3: 3", GateRegression, Failures{}, []GateInput{compared(90, 88, 92), void}, ExitVoid, OutcomeVoid, nil, "void"},
		{"3 and 1: 1", GateRegression, Failures{Runtime: []string{"2 runs failed"}}, []GateInput{void, compared(90, 88, 92)}, ExitFailure, OutcomeFailed, nil, "2 runs failed"},
		{"1 and 2: 2", GateQualify, Failures{Runtime: []string{"2 runs failed"}, Usage: []string{"--min-retained: bad"}}, []GateInput{point(99)}, ExitUsage, OutcomeUsage, nil, "--min-retained"},
		{"refusal (2) beats a failure (1)", GateRegression, Failures{Runtime: []string{"a run failed"}}, []GateInput{refused}, ExitUsage, OutcomeUsage, nil, "refused"},
		{"runtime failure alone, no gate", GateNone, Failures{Runtime: []string{"a run failed"}}, []GateInput{compared(99, 98, 100)}, ExitFailure, OutcomeFailed, nil, "a run failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, per := DecideGate(tc.mode, 95, tc.f, tc.in)
			if got.ExitCode != tc.want || got.Outcome != tc.outcome {
				t.Errorf("DecideGate = exit %d (%s); want exit %d (%s); reasons %q", got.ExitCode, got.Outcome, tc.want, tc.outcome, got.Reasons)
			}
			if tc.per != nil {
				for i, w := range tc.per {
					if per[i].Outcome != w {
						t.Errorf("scenario %d outcome %s, want %s (%s)", i, per[i].Outcome, w, per[i].Reason)
					}
				}
			}
			if tc.reasonAt != "" && (len(got.Reasons) == 0 || !strings.Contains(got.Reasons[0], tc.reasonAt)) {
				t.Errorf("first reason of %q lacks %q", got.Reasons, tc.reasonAt)
			}
			if (got.Outcome == OutcomePass || got.Outcome == OutcomeNotGated) && len(got.Reasons) > 0 {
				t.Errorf("%s with reasons %q", got.Outcome, got.Reasons)
			}
			if got.Outcome == OutcomeNotShown && len(got.Reasons) == 0 {
				t.Error("not shown without saying which scenario")
			}
			for i, g := range per {
				if g.Outcome == OutcomePass && (tc.in[i].Status == StatusNoData || tc.in[i].Status == StatusVoid || tc.in[i].NotMeasurable != "") {
					t.Errorf("scenario %d (%s) shows pass", i, tc.in[i].Status)
				}
			}
			if got.Mode != tc.mode || got.MinRetainedPct != 95 {
				t.Errorf("mode %s at %g", got.Mode, got.MinRetainedPct)
			}
		})
	}
}
