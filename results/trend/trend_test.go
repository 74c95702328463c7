package trend

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/results/history"
)

var t0 = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

// retainedSeries is n nightly retained-% points at 99.5 with 0.5 noise,
// moving by step from index at on.
func retainedSeries(n, at int, step float64, seed uint64) history.Series {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := history.Series{Benchmark: "resnet50", Scenario: "Offline", Baseline: "bm", Candidate: "vgpu", Quantity: history.MetricRetained,
		Metric: "result_samples_per_second", Unit: "%", HigherIsBetter: true}
	for i := range n {
		v := 99.5 + 0.5*rng.NormFloat64()
		if i >= at {
			v += step
		}
		lo, hi := v-1, v+1
		s.Points = append(s.Points, history.Point{Run: int64(i + 1), RunID: t0.AddDate(0, 0, i).Format("20060102-150405"), At: t0.AddDate(0, 0, i), Value: v, Low: &lo, High: &hi, N: 4})
	}
	return s
}

func TestDropBeyondTheMarginIsARegression(t *testing.T) {
	tr, err := Analyze(retainedSeries(30, 22, -4, 1), Options{MarginPct: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.ChangePoints) == 0 {
		t.Fatal("no change point for a 4 pp drop at 0.5 pp noise")
	}
	last := tr.ChangePoints[len(tr.ChangePoints)-1]
	if last.Index < 21 || last.Index > 23 || !last.Worse || last.Change > -3 || last.Change < -5 || last.Run != int64(last.Index+1) {
		t.Fatalf("change point %+v", last)
	}
	if !tr.Regression || !strings.Contains(tr.Reason, "beyond the 2 pp margin") || !strings.Contains(tr.Reason, "newest 8 runs") {
		t.Fatalf("regression %v: %s", tr.Regression, tr.Reason)
	}
	if g := Decide([]Trend{tr}); g.ExitCode != 4 || len(g.Regressions) != 1 {
		t.Fatalf("gate %+v", g)
	}
}

func TestDropWithinTheMarginOrAnImprovementPasses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		step   float64
		margin float64
	}{
		{"a 1.5 pp drop within a 2 pp margin", -1.5, 2},
		{"a 4 pp improvement", 4, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := Analyze(retainedSeries(40, 25, tc.step, 2), Options{MarginPct: tc.margin})
			if err != nil {
				t.Fatal(err)
			}
			if len(tr.ChangePoints) == 0 {
				t.Fatalf("the shift was not found")
			}
			if tr.Regression {
				t.Fatalf("judged a regression: %s", tr.Reason)
			}
			if g := Decide([]Trend{tr}); g.ExitCode != 0 {
				t.Fatalf("gate %+v", g)
			}
		})
	}
}

func TestOlderDropWithARecoveryPasses(t *testing.T) {
	s := retainedSeries(45, 15, -5, 3)
	for i := 30; i < 45; i++ {
		s.Points[i].Value += 5
	}
	tr, err := Analyze(s, Options{MarginPct: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.ChangePoints) != 2 || tr.Regression {
		t.Fatalf("change points %+v regression %v", tr.ChangePoints, tr.Regression)
	}
}

func TestLatencySeriesRisingIsWorse(t *testing.T) {
	s := history.Series{Benchmark: "resnet50", Scenario: "SingleStream", Candidate: "vgpu", Quantity: history.MetricCandidate,
		Metric: "early_stopping_latency_ss", Unit: "ns", HigherIsBetter: false}
	rng := rand.New(rand.NewPCG(4, 4))
	for i := range 30 {
		v := 2e6 * (1 + 0.005*rng.NormFloat64())
		if i >= 20 {
			v *= 1.06
		}
		s.Points = append(s.Points, history.Point{Run: int64(i + 1), At: t0.AddDate(0, 0, i), Value: v, N: 1})
	}
	tr, err := Analyze(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Regression || tr.MarginPct != 3 || !strings.Contains(tr.Reason, "above") {
		t.Fatalf("latency up 6%%: regression %v margin %v: %s", tr.Regression, tr.MarginPct, tr.Reason)
	}
}

func TestSparkline(t *testing.T) {
	line, per := Sparkline([]float64{1, 2, 3, 4, 5, 6, 7, 8}, 60)
	if line != "▁▂▃▄▅▆▇█" || per != 1 {
		t.Fatalf("%q %d", line, per)
	}
	line, _ = Sparkline([]float64{5, 5, 5}, 60)
	if line != "▅▅▅" {
		t.Fatalf("flat: %q", line)
	}
	vals := make([]float64, 1000)
	line, per = Sparkline(vals, 60)
	if n := len([]rune(line)); n > 60 || per != 17 {
		t.Fatalf("1000 points: %d columns, %d per column", n, per)
	}
}

func TestRenderings(t *testing.T) {
	tr, err := Analyze(retainedSeries(30, 22, -4, 1), Options{MarginPct: 2})
	if err != nil {
		t.Fatal(err)
	}
	flat, err := Analyze(retainedSeries(12, 99, 0, 5), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := []Trend{tr, flat}

	var text bytes.Buffer
	if err := WriteText(&text, ts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"resnet50 Offline, vgpu vs bm: retained %", "30 runs, 2026-03-01 … 2026-03-30", "latest: ", "change at run", "REGRESSION", "no change point (12 runs)"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.ContainsAny(text.String(), "▁█") {
		t.Errorf("no sparkline:\n%s", text.String())
	}

	var c bytes.Buffer
	if err := WriteCSV(&c, ts); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&c).ReadAll()
	if err != nil || len(rows) != 1+30+12 || rows[0][0] != "benchmark" {
		t.Fatalf("csv: %d rows %v", len(rows), err)
	}
	cps := 0
	for _, r := range rows[1:31] {
		if r[17] == "true" {
			cps++
		}
	}
	if cps != len(tr.ChangePoints) {
		t.Errorf("csv marks %d change points, want %d", cps, len(tr.ChangePoints))
	}

	var j bytes.Buffer
	g := Decide(ts)
	if err := WriteJSON(&j, ts, &g); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Schema string `json:"schema"`
		Trends []struct {
			Benchmark    string            `json:"benchmark"`
			Points       []json.RawMessage `json:"points"`
			ChangePoints []ChangePoint     `json:"change_points"`
			Regression   bool              `json:"regression"`
		} `json:"trends"`
		Gate Gate `json:"gate"`
	}
	if err := json.Unmarshal(j.Bytes(), &back); err != nil || back.Schema != "gpuperf.trend/v1" || len(back.Trends) != 2 ||
		len(back.Trends[0].Points) != 30 || !back.Trends[0].Regression || back.Gate.ExitCode != 4 {
		t.Fatalf("json: %v %+v", err, back)
	}

	var h bytes.Buffer
	if err := WriteHTML(&h, ts, "Nightly trend"); err != nil {
		t.Fatal(err)
	}
	if s := h.String(); strings.Count(s, "<svg") != 2 || !strings.Contains(s, "Trend gate: regression") || !strings.Contains(s, "<th>first run after</th>") || strings.Contains(s, "chart: ") {
		t.Errorf("html:\n%.2000s", s)
	}

	var img bytes.Buffer
	if err := WritePNG(&img, ts); err != nil {
		t.Fatal(err)
	}
	im, err := png.Decode(&img)
	if err != nil {
		t.Fatal(err)
	}
	if b := im.Bounds(); b.Dx() < 900 || b.Dy() < 2*b.Dx()/3 {
		t.Errorf("png %v: want two panels of 9×3.2 in", b)
	}
}

// TestStaircaseBeyondTheMarginIsARegression: two drops, each within the
// margin, add up to one beyond it; the newest level is judged against the
// last level more than the margin away, not only the step before.
func TestStaircaseBeyondTheMarginIsARegression(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	s := history.Series{Benchmark: "resnet50", Scenario: "Server", Baseline: "bm", Candidate: "vgpu", Quantity: history.MetricRetained, Unit: "%", HigherIsBetter: true}
	for i := range 60 {
		v := 100 + 0.2*rng.NormFloat64()
		switch {
		case i >= 40:
			v -= 2.4
		case i >= 20:
			v -= 1.2
		}
		s.Points = append(s.Points, history.Point{Run: int64(i + 1), At: t0.AddDate(0, 0, i), Value: v})
	}
	tr, err := Analyze(s, Options{MarginPct: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.ChangePoints) != 2 {
		t.Fatalf("want both steps, got %+v", tr.ChangePoints)
	}
	for _, c := range tr.ChangePoints {
		if c.Change < -2 {
			t.Fatalf("a step beyond the margin on its own: %+v", c)
		}
	}
	if !tr.Regression || !strings.Contains(tr.Reason, "the 20 runs before the change at run 21") {
		t.Fatalf("staircase: regression %v: %s", tr.Regression, tr.Reason)
	}
}
