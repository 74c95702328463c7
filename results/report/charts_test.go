package report

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/results"
)

// axisLabels returns the numeric tick labels of a chart's SVG text.
func axisLabels(svg string) []float64 {
	var out []float64
	for _, m := range regexp.MustCompile(`>(-?[0-9][0-9.]*)</text>`).FindAllStringSubmatch(svg, -1) {
		if v, err := strconv.ParseFloat(m[1], 64); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// Two repetitions a hair apart: the axis still spans the baseline's mean
// ± the margin, so the difference looks as small as it is.
func TestRepetitionChartSpansTheMargin(t *testing.T) {
	g := 1000.0
	s := results.ScenarioComparison{Benchmark: "resnet50", Scenario: "Offline",
		Metric:   results.Metric{Name: "result_samples_per_second", Unit: "samples/s", HigherIsBetter: true},
		Baseline: results.SideValues{Geomean: &g, Runs: []results.Repetition{{Repetition: 1, Value: 1000, Status: results.StatusOK, Counted: true}, {Repetition: 2, Value: 1000.0002, Status: results.StatusOK, Counted: true}}},
	}
	svg, err := repetitionChart(s, 3)
	if err != nil {
		t.Fatal(err)
	}
	text := string(svg)
	if !strings.Contains(text, "baseline ±3%") {
		t.Error("the margin band is not in the legend")
	}
	ticks := axisLabels(text)
	lo, hi := ticks[0], ticks[0]
	for _, v := range ticks {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo > 975 || hi < 1025 {
		t.Fatalf("ticks %v: the axis does not span 970..1030", ticks)
	}
}

// A Server CDF whose maximum is a hundred times its p99.9: the right edge
// stays near the p99.9, the maximum is written there, and the bound is
// drawn.
func TestCDFChartClipsAnOutlierAndDrawsTheBound(t *testing.T) {
	d := Distribution{Name: "latency", BoundNs: 15e6, Points: []LatencyPoint{
		{0, 1e6}, {0.5, 2e6}, {0.9, 3e6}, {0.99, 4e6}, {0.999, 5e6}, {1, 500e6},
	}}
	svg, err := cdfChart("Sample latency CDF", []runDistribution{{role: results.RoleBaseline, d: d}}, false)
	if err != nil {
		t.Fatal(err)
	}
	text := string(svg)
	for _, want := range []string{"max 500 ms →", "bound 15 ms"} {
		if !strings.Contains(text, want) {
			t.Errorf("the chart lacks %q", want)
		}
	}
	for _, v := range axisLabels(text) {
		if v > 30 {
			t.Fatalf("a tick at %v ms: the outlier still sets the axis", v)
		}
	}
}
