package report

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/results"
)

// The charts are gonum/plot plots rendered as SVG and inlined into the
// page. The colours are the Tableau 10 palette's first entries, which
// stay apart for the common colour-vision deficiencies.
var (
	colorBaseline  = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	colorCandidate = color.RGBA{R: 255, G: 127, B: 14, A: 255}
	colorThreshold = color.RGBA{R: 214, G: 39, B: 40, A: 255}
	colorBand      = color.NRGBA{R: 44, G: 160, B: 44, A: 40}
	colorGrid      = color.Gray{Y: 220}
	colorNeutral   = color.Gray{Y: 110}
)

func verdictColor(v string) color.Color {
	switch v {
	case results.VerdictEquivalent:
		return color.RGBA{R: 44, G: 160, B: 44, A: 255}
	case results.VerdictLower:
		return colorThreshold
	case results.VerdictHigher:
		return colorBaseline
	}
	return colorNeutral
}

func sideColor(role string) color.Color {
	if role == results.RoleBaseline {
		return colorBaseline
	}
	return colorCandidate
}

// svg draws p on a w×h canvas and returns the <svg> element, without the
// XML prologue, for inlining.
func svg(w, h vg.Length, paint func(draw.Canvas)) (template.HTML, error) {
	c := vgsvg.New(w, h)
	if err := catchPanic(func() { paint(draw.New(c)) }); err != nil {
		return "", err
	}
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", fmt.Errorf("render svg: %w", err)
	}
	s := b.String()
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	// Trust: the markup is gonum's, and it escapes every text it draws.
	return template.HTML(s), nil
}

// catchPanic turns a plotting panic (gonum panics on, e.g., a log scale
// over a non-positive value) into an error, so one bad chart does not
// take the report down.
func catchPanic(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plot: %v", r)
		}
	}()
	f()
	return nil
}

func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	sans(&p.Title.TextStyle.Font, 11)
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		sans(&a.Label.TextStyle.Font, 10)
		sans(&a.Tick.Label.Font, 9)
		a.Tick.Marker = compactTicks{Ticker: plot.DefaultTicks{}}
	}
	sans(&p.Legend.TextStyle.Font, 9)
	return p
}

// sans sets a font to Liberation Sans (gonum's default is the serif) at
// size points.
func sans(f *font.Font, size float64) {
	f.Typeface, f.Variant = "Liberation", "Sans"
	f.Size = vg.Points(size)
}

// compactTicks labels ticks with as few decimals as tell them apart:
// "1225", "0.5", not gonum's "1225.00". Each label is shortened on its own
// when perLabel (log scales: "0.1", "1", "10").
type compactTicks struct {
	plot.Ticker
	perLabel bool
}

func (c compactTicks) Ticks(min, max float64) []plot.Tick {
	ts := c.Ticker.Ticks(min, max)
	if c.perLabel {
		for i := range ts {
			if ts[i].Label != "" {
				ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
			}
		}
		return ts
	}
	for prec := 0; prec <= 6; prec++ {
		ok := true
		for _, t := range ts {
			if t.Label == "" {
				continue
			}
			v, _ := strconv.ParseFloat(strconv.FormatFloat(t.Value, 'f', prec, 64), 64)
			if math.Abs(v-t.Value) > 1e-9*math.Max(1, math.Abs(t.Value)) {
				ok = false
				break
			}
		}
		if ok || prec == 6 {
			for i := range ts {
				if ts[i].Label != "" {
					ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', prec, 64)
				}
			}
			return ts
		}
	}
	return ts
}

func grid() *plotter.Grid {
	g := plotter.NewGrid()
	g.Vertical.Color = colorGrid
	g.Horizontal.Color = colorGrid
	return g
}

// retainedChart is retained % per scenario, one row each: the point, its
// 95% interval as whiskers and its 90% (equivalence) interval as a thick
// bar, coloured by verdict, over the equivalence band and the gate's
// threshold. An interval far wider than the points' spread (two noisy
// repetitions give [25, 409]) would squash the rest, so the axis spans the
// points, the band and the threshold, widened by that span (at least 5
// points) each way; whiskers beyond are cut at the edge, and clipped says
// so. The labels give every interval whole.
func retainedChart(c *results.Comparison) (svgText template.HTML, clipped bool, err error) {
	n := len(c.Scenarios)
	if n == 0 {
		return "", false, nil
	}
	p := newPlot("Retained performance per scenario (candidate / baseline)", "retained %", "")
	m := c.Settings.MarginPct
	thr := c.Settings.MinRetainedPct
	coreLo, coreHi := math.Min(100-m, thr), math.Max(100+m, thr)
	names := make([]string, n)
	for i, s := range c.Scenarios {
		names[n-1-i] = scenarioName(s) // the first scenario on top
		if s.RetainedPct != nil {
			coreLo, coreHi = math.Min(coreLo, *s.RetainedPct), math.Max(coreHi, *s.RetainedPct)
		}
	}
	w := math.Max(5, coreHi-coreLo)
	winLo, winHi := coreLo-w, coreHi+w
	lo, hi := coreLo, coreHi
	for _, s := range c.Scenarios {
		for _, iv := range []*results.Interval{s.Interval, s.EquivalenceInterval} {
			if iv != nil {
				lo, hi = math.Min(lo, math.Max(iv.LowPct, winLo)), math.Max(hi, math.Min(iv.HighPct, winHi))
			}
		}
	}
	clip := func(v float64) float64 {
		if v < lo || v > hi {
			clipped = true
		}
		return math.Min(math.Max(v, lo), hi)
	}
	pad := math.Max(1, (hi-lo)*0.08)
	p.X.Min, p.X.Max = lo-pad, hi+pad
	p.Y.Min, p.Y.Max = -0.6, float64(n)-0.4
	p.NominalY(names...)
	g := grid()
	g.Horizontal.Color = nil
	p.Add(g)

	band, err := plotter.NewPolygon(plotter.XYs{{X: 100 - m, Y: p.Y.Min}, {X: 100 + m, Y: p.Y.Min}, {X: 100 + m, Y: p.Y.Max}, {X: 100 - m, Y: p.Y.Max}})
	if err != nil {
		return "", false, err
	}
	band.Color = colorBand
	band.LineStyle.Width = 0
	p.Add(band)
	parity, err := plotter.NewLine(plotter.XYs{{X: 100, Y: p.Y.Min}, {X: 100, Y: p.Y.Max}})
	if err != nil {
		return "", false, err
	}
	parity.Color = colorNeutral
	parity.Width = vg.Points(0.7)
	p.Add(parity)
	threshold, err := plotter.NewLine(plotter.XYs{{X: thr, Y: p.Y.Min}, {X: thr, Y: p.Y.Max}})
	if err != nil {
		return "", false, err
	}
	threshold.Color = colorThreshold
	threshold.Width = vg.Points(1.2)
	threshold.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	p.Add(threshold)

	var labels plotter.XYLabels
	for i, s := range c.Scenarios {
		y := float64(n - 1 - i)
		col := verdictColor(s.Verdict)
		if s.RetainedPct == nil {
			labels.XYs = append(labels.XYs, plotter.XY{X: 100, Y: y})
			labels.Labels = append(labels.Labels, verdictText(s))
			continue
		}
		v := *s.RetainedPct
		if iv := s.EquivalenceInterval; iv != nil {
			bar, err := plotter.NewLine(plotter.XYs{{X: clip(iv.LowPct), Y: y}, {X: clip(iv.HighPct), Y: y}})
			if err != nil {
				return "", false, err
			}
			c := color.NRGBAModel.Convert(col).(color.NRGBA)
			c.A = 120
			bar.Color = c
			bar.Width = vg.Points(7)
			p.Add(bar)
		}
		right := v
		if iv := s.Interval; iv != nil {
			eb, err := plotter.NewXErrorBars(intervalBar{x: v, y: y, low: v - clip(iv.LowPct), high: clip(iv.HighPct) - v})
			if err != nil {
				return "", false, err
			}
			eb.Color = col
			eb.Width = vg.Points(1.3)
			eb.CapWidth = vg.Points(8)
			p.Add(eb)
			right = clip(iv.HighPct)
		}
		pt, err := plotter.NewScatter(plotter.XYs{{X: v, Y: y}})
		if err != nil {
			return "", false, err
		}
		pt.Color = col
		pt.Radius = vg.Points(4)
		pt.Shape = draw.CircleGlyph{}
		if s.Interval == nil {
			// A point value without an interval is drawn hollow.
			pt.Shape = draw.RingGlyph{}
		}
		p.Add(pt)
		labels.XYs = append(labels.XYs, plotter.XY{X: right, Y: y})
		labels.Labels = append(labels.Labels, retainedLabel(s))
	}
	lab, err := plotter.NewLabels(labels)
	if err != nil {
		return "", false, err
	}
	lab.Offset = vg.Point{X: vg.Points(6)}
	for i := range lab.TextStyle {
		sans(&lab.TextStyle[i].Font, 9)
		lab.TextStyle[i].YAlign = draw.YCenter
	}
	p.Add(lab)
	h := vg.Points(70 + 34*float64(n))
	svgText, err = svg(vg.Points(620), h, p.Draw)
	return svgText, clipped, err
}

func retainedLabel(s results.ScenarioComparison) string {
	t := fmt.Sprintf("%.1f%%", *s.RetainedPct)
	if iv := s.Interval; iv != nil {
		t += fmt.Sprintf(" [%.1f, %.1f]", iv.LowPct, iv.HighPct)
	} else {
		t += " (no interval)"
	}
	return t + " " + s.Verdict
}

// intervalBar is one error bar for plotter.NewXErrorBars: low and high
// are distances from x.
type intervalBar struct{ x, y, low, high float64 }

func (b intervalBar) Len() int                      { return 1 }
func (b intervalBar) XY(int) (float64, float64)     { return b.x, b.y }
func (b intervalBar) XError(int) (float64, float64) { return b.low, b.high }

// repetitionChart is each side's headline value per repetition, with the
// geometric mean of its counted runs dashed; a run left out of the
// statistics is drawn as a cross. The axis always spans the baseline's
// mean ± the equivalence margin (shaded): zoomed to the data alone, two
// runs 0.00002% apart fill the chart and noise looks like a swing.
func repetitionChart(s results.ScenarioComparison, marginPct float64) (template.HTML, error) {
	unit, scale := displayUnit(s.Metric.Unit)
	dir := "higher is better"
	if !s.Metric.HigherIsBetter {
		dir = "lower is better"
	}
	p := newPlot(fmt.Sprintf("%s per repetition (%s)", unit, dir), "repetition", unit)
	p.Add(grid())
	maxRep, lo, hi := 1, math.Inf(1), math.Inf(-1)
	drawn := false
	for _, side := range []struct {
		role string
		v    results.SideValues
	}{{results.RoleBaseline, s.Baseline}, {results.RoleCandidate, s.Candidate}} {
		var counted, excluded plotter.XYs
		for _, r := range side.v.Runs {
			if r.Status != results.StatusOK || (r.RawValue == 0 && r.Value == 0) {
				continue
			}
			pt := plotter.XY{X: float64(r.Repetition), Y: r.Value / scale}
			maxRep = max(maxRep, r.Repetition)
			lo, hi = math.Min(lo, pt.Y), math.Max(hi, pt.Y)
			if r.Counted {
				counted = append(counted, pt)
			} else {
				excluded = append(excluded, pt)
			}
		}
		col := sideColor(side.role)
		if len(counted) > 0 {
			drawn = true
			l, sc, err := plotter.NewLinePoints(counted)
			if err != nil {
				return "", err
			}
			l.Color, l.Width = col, vg.Points(1.2)
			sc.Color, sc.Shape, sc.Radius = col, draw.CircleGlyph{}, vg.Points(3)
			p.Add(l, sc)
			p.Legend.Add(side.role, l, sc)
		}
		if len(excluded) > 0 {
			drawn = true
			sc, err := plotter.NewScatter(excluded)
			if err != nil {
				return "", err
			}
			sc.Color, sc.Shape, sc.Radius = col, draw.CrossGlyph{}, vg.Points(4)
			p.Add(sc)
			p.Legend.Add(side.role+" (left out)", sc)
		}
		if g := side.v.Geomean; g != nil {
			gl, err := plotter.NewLine(plotter.XYs{{X: 0.8, Y: *g / scale}, {X: float64(maxRep) + 0.2, Y: *g / scale}})
			if err != nil {
				return "", err
			}
			gl.Color, gl.Width, gl.Dashes = col, vg.Points(0.8), []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(gl)
			lo, hi = math.Min(lo, *g/scale), math.Max(hi, *g/scale)
		}
	}
	if !drawn {
		return "", nil
	}
	ref := (lo + hi) / 2
	if g := s.Baseline.Geomean; g != nil {
		ref = *g / scale
	}
	if marginPct <= 0 {
		marginPct = 3
	}
	bandLo, bandHi := ref*(1-marginPct/100), ref*(1+marginPct/100)
	if bandLo > bandHi {
		bandLo, bandHi = bandHi, bandLo
	}
	lo, hi = math.Min(lo, bandLo), math.Max(hi, bandHi)
	// Room above the data for the legend.
	span := hi - lo
	if span <= 0 {
		span = math.Max(math.Abs(hi)*0.05, 1e-9)
	}
	p.Y.Min, p.Y.Max = lo-0.15*span, hi+0.6*span
	band, err := plotter.NewPolygon(plotter.XYs{{X: 0.7, Y: bandLo}, {X: float64(maxRep) + 0.3, Y: bandLo},
		{X: float64(maxRep) + 0.3, Y: bandHi}, {X: 0.7, Y: bandHi}})
	if err != nil {
		return "", err
	}
	band.Color = colorBand
	band.LineStyle.Width = 0
	// The band goes under the lines.
	p.Add(band)
	p.Legend.Add(fmt.Sprintf("baseline ±%g%%", marginPct), band)
	p.X.Min, p.X.Max = 0.7, float64(maxRep)+0.3
	p.X.Tick.Marker = integerTicks{}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Points(4)
	return svg(vg.Points(330), vg.Points(220), p.Draw)
}

// displayUnit converts ns to ms for axes.
func displayUnit(unit string) (string, float64) {
	if unit == "ns" {
		return "ms", 1e6
	}
	return unit, 1
}

// integerTicks marks whole repetitions.
type integerTicks struct{}

func (integerTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	step := math.Max(1, math.Ceil((max-min)/10))
	for v := math.Ceil(min); v <= max; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: fmt.Sprint(v)})
	}
	return ts
}

// runDistribution is one run's latency distribution.
type runDistribution struct {
	role string
	rep  results.Repetition
	d    Distribution
}

// cdfChart overlays the two sides' latency distributions, one line per
// repetition, through LoadGen's reported percentiles. The x axis is
// logarithmic when the latencies span more than a factor of 20, unless
// linear is set (Offline, whose completions spread evenly over the run).
func cdfChart(title string, runs []runDistribution, linear bool) (template.HTML, error) {
	p := newPlot(title, "", "cumulative fraction")
	p.Add(grid())
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range runs {
		for _, pt := range r.d.Points {
			if pt.Ns > 0 {
				lo, hi = math.Min(lo, pt.Ns), math.Max(hi, pt.Ns)
			}
		}
	}
	if math.IsInf(lo, 0) {
		return "", nil
	}
	// The scenario's latency bound is drawn, so the axis includes it.
	bound := 0.0
	for _, r := range runs {
		bound = math.Max(bound, r.d.BoundNs)
	}
	if bound > 0 {
		hi = math.Max(hi, bound)
	}
	// One outlying maximum far beyond every run's p99.9 would squash the
	// distribution into the left of the chart: the right edge is then the
	// p99.9 (or the bound) with room, and maxima past it are drawn at the
	// edge with their value written beside.
	edge := math.Inf(1)
	if p999 := tailPoint(runs, 0.999); p999 > 0 && hi > 4*p999 {
		edge = math.Max(1.3*p999, 1.1*bound)
		hi = edge
	}
	// Milliseconds, or seconds for the long Offline and LLM latencies.
	unit, scale := "ms", 1e6
	if hi >= 10e9 {
		unit, scale = "s", 1e9
	}
	p.X.Label.Text = "latency (" + unit + ")"
	logX := hi/lo > 20 && !linear
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = compactTicks{Ticker: plot.LogTicks{Prec: -1}, perLabel: true}
		p.X.Label.Text = "latency (" + unit + ", log scale)"
	}
	legend := map[string]bool{}
	var cut plotter.XYLabels
	var cutNs []float64
	for _, r := range runs {
		var xys plotter.XYs
		for _, pt := range r.d.Points {
			if logX && pt.Ns <= 0 {
				continue
			}
			x := pt.Ns
			if x > edge {
				x = edge
				cut.XYs = append(cut.XYs, plotter.XY{X: edge / scale, Y: pt.P})
				cut.Labels = append(cut.Labels, fmt.Sprintf("max %s %s →", strconv.FormatFloat(pt.Ns/scale, 'g', 3, 64), unit))
				cutNs = append(cutNs, pt.Ns)
			}
			xys = append(xys, plotter.XY{X: x / scale, Y: pt.P})
		}
		if len(xys) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(xys)
		if err != nil {
			return "", err
		}
		col := sideColor(r.role)
		l.Color, l.Width = col, vg.Points(1.1)
		sc.Color, sc.Shape, sc.Radius = col, draw.CircleGlyph{}, vg.Points(1.8)
		p.Add(l, sc)
		if !legend[r.role] {
			legend[r.role] = true
			p.Legend.Add(r.role, l)
		}
	}
	if !math.IsInf(edge, 1) {
		p.X.Max = edge / scale
		if len(cut.XYs) > 0 {
			// One label for the largest cut maximum is enough.
			best := 0
			for i := range cutNs {
				if cutNs[i] > cutNs[best] {
					best = i
				}
			}
			lab, err := plotter.NewLabels(plotter.XYLabels{XYs: cut.XYs[best : best+1], Labels: cut.Labels[best : best+1]})
			if err != nil {
				return "", err
			}
			for i := range lab.TextStyle {
				sans(&lab.TextStyle[i].Font, 8)
				lab.TextStyle[i].XAlign = draw.XRight
				lab.TextStyle[i].YAlign = draw.YTop
			}
			lab.Offset = vg.Point{X: vg.Points(-2), Y: vg.Points(-3)}
			p.Add(lab)
		}
	}
	if bound > 0 {
		bl, err := plotter.NewLine(plotter.XYs{{X: bound / scale, Y: 0}, {X: bound / scale, Y: 1}})
		if err != nil {
			return "", err
		}
		bl.Color, bl.Width, bl.Dashes = colorThreshold, vg.Points(1.2), []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(bl)
		p.Legend.Add(fmt.Sprintf("bound %s %s", strconv.FormatFloat(bound/scale, 'g', 4, 64), unit), bl)
	}
	p.Y.Min, p.Y.Max = 0, 1
	p.Y.Scale = tailScale{}
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "min"}, {Value: 0.5, Label: "p50"}, {Value: 0.9, Label: "p90"},
		{Value: 0.99, Label: "p99"}, {Value: 0.999, Label: "p99.9"}, {Value: 1, Label: "max"}})
	// A CDF climbs to the right: its top left is empty.
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(6), vg.Points(-4)
	return svg(vg.Points(330), vg.Points(220), p.Draw)
}

// tailPoint is the largest latency at percentile p (a fraction) over the
// runs, 0 when none reports it.
func tailPoint(runs []runDistribution, p float64) float64 {
	v := 0.0
	for _, r := range runs {
		for _, pt := range r.d.Points {
			if math.Abs(pt.P-p) < 1e-9 {
				v = math.Max(v, pt.Ns)
			}
		}
	}
	return v
}

// tailScale stretches a cumulative fraction toward its tail: p is drawn
// at −log10(1 − p), so p50, p90, p99 and p99.9 are evenly apart; the
// maximum (p = 1) sits one step above p99.9.
type tailScale struct{}

func (tailScale) Normalize(min, max, x float64) float64 {
	f := func(p float64) float64 { return -math.Log10(1 - math.Min(math.Max(p, 0), 0.9999)) }
	return (f(x) - f(min)) / (f(max) - f(min))
}

// telemetryMetric is one row of the telemetry charts.
type telemetryMetric struct {
	column, title, unit string
}

// telemetryMetrics are the series charted, in order: those that explain a
// gap most often (clock, power, utilization, temperature, memory, PCIe,
// host steal).
var telemetryMetrics = []telemetryMetric{
	{gpu.SMClock.Name(), "SM clock", "MHz"},
	{gpu.Power.Name(), "Power", "W"},
	{gpu.GPUUtil.Name(), "GPU utilization", "%"},
	{gpu.Temperature.Name(), "Temperature", "°C"},
	{gpu.MemUsed.Name(), "Memory used", "MiB"},
	{gpu.PCIeRX.Name(), "PCIe RX", "KB/s"},
	{"host_steal_pct", "Host CPU steal", "%"},
}

// maxPoints bounds each charted series, and rowPoints all the devices'
// series of one chart together (at least minPoints each): longer ones keep
// each bucket's minimum and maximum, so a dip or spike survives. The
// charts are about 270 points wide, so more would not show.
const (
	maxPoints = 120
	rowPoints = 360
	minPoints = 40
)

// telemetryCharts draws each side's telemetry as a column of small
// charts, one per metric either side reports, on the same y range on both
// sides so the columns compare at a glance. A nil side is unavailable.
func telemetryCharts(base, cand *Telemetry, title [2]string) ([2]template.HTML, []string, error) {
	var out [2]template.HTML
	sides := [2]*Telemetry{base, cand}
	var rows []telemetryMetric
	var missing []string
	for _, m := range telemetryMetrics {
		found := false
		for _, t := range sides {
			if t != nil && len(seriesOf(t, m.column)) > 0 {
				found = true
			}
		}
		if found {
			rows = append(rows, m)
		} else {
			missing = append(missing, m.column)
		}
	}
	if len(rows) == 0 {
		return out, missing, nil
	}
	// Shared ranges per metric; a shared time axis.
	type rng struct{ lo, hi float64 }
	yr := make([]rng, len(rows))
	tmax := 0.0
	for i, m := range rows {
		yr[i] = rng{math.Inf(1), math.Inf(-1)}
		for _, t := range sides {
			if t == nil {
				continue
			}
			for _, s := range seriesOf(t, m.column) {
				for j, v := range s.V {
					yr[i].lo, yr[i].hi = math.Min(yr[i].lo, v), math.Max(yr[i].hi, v)
					tmax = math.Max(tmax, s.T[j])
				}
			}
		}
		nonNegative := yr[i].lo >= 0
		if yr[i].lo == yr[i].hi {
			d := math.Max(1, math.Abs(yr[i].lo)*0.05)
			yr[i].lo, yr[i].hi = yr[i].lo-d, yr[i].hi+d
		}
		pad := (yr[i].hi - yr[i].lo) * 0.08
		yr[i].lo, yr[i].hi = yr[i].lo-pad, yr[i].hi+pad
		if nonNegative && yr[i].lo < 0 {
			// A share, power or clock is never negative: keep the axis so.
			yr[i].lo = 0
		}
		if m.unit == "%" {
			// A share reads against its whole range: utilization on
			// 0..100, a small steal from 0 (at least 0..5%), so a wobble
			// of one point does not fill the chart.
			yr[i].lo = 0
			yr[i].hi = math.Max(yr[i].hi, 5)
			if m.column == gpu.GPUUtil.Name() {
				yr[i].hi = math.Max(yr[i].hi, 100)
			}
		}
	}
	if tmax <= 0 {
		tmax = 1
	}
	for k, t := range sides {
		if t == nil {
			continue
		}
		plots := make([][]*plot.Plot, len(rows))
		for i, m := range rows {
			p := newPlot("", "", m.unit)
			p.Title.Text = m.title
			sans(&p.Title.TextStyle.Font, 9.5)
			if i == 0 {
				p.Title.Text = title[k] + ": " + m.title
			}
			if i == len(rows)-1 {
				p.X.Label.Text = "seconds into the timed window"
			}
			p.Add(grid())
			p.X.Min, p.X.Max = 0, tmax
			p.Y.Min, p.Y.Max = yr[i].lo, yr[i].hi
			ss := seriesOf(t, m.column)
			if len(ss) == 0 {
				p.Title.Text += " (not reported)"
			}
			col := color.RGBAModel.Convert(sideColor([2]string{results.RoleBaseline, results.RoleCandidate}[k])).(color.RGBA)
			for j, s := range ss {
				l, err := plotter.NewLine(decimate(s.T, s.V, max(minPoints, min(maxPoints, rowPoints/len(ss)))))
				if err != nil {
					return out, missing, err
				}
				c := col
				if len(ss) > 1 {
					// Devices in shades of the side's colour.
					c = shade(col, float64(j)/float64(len(ss)))
				}
				l.Color, l.Width = c, vg.Points(1)
				p.Add(l)
			}
			plots[i] = []*plot.Plot{p}
		}
		h := vg.Points(40 + 92*float64(len(rows)))
		svgText, err := svg(vg.Points(330), h, func(dc draw.Canvas) {
			tiles := draw.Tiles{Rows: len(rows), Cols: 1, PadY: vg.Points(6), PadTop: vg.Points(2), PadBottom: vg.Points(2)}
			cs := plot.Align(plots, tiles, dc)
			for i := range plots {
				plots[i][0].Draw(cs[i][0])
			}
		})
		if err != nil {
			return out, missing, err
		}
		out[k] = svgText
	}
	return out, missing, nil
}

func seriesOf(t *Telemetry, column string) []Series {
	var out []Series
	for _, s := range t.Series {
		if s.Metric == column && len(s.V) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// shade lightens c by f in [0, 1).
func shade(c color.RGBA, f float64) color.RGBA {
	f *= 0.6
	mix := func(v uint8) uint8 { return uint8(float64(v) + (255-float64(v))*f) }
	return color.RGBA{R: mix(c.R), G: mix(c.G), B: mix(c.B), A: 255}
}

// decimate keeps at most about n points: it splits the series into n/2
// buckets and keeps each bucket's minimum and maximum in time order. Then
// it drops the inner points of flat stretches, which draw the same line.
func decimate(t, v []float64, n int) plotter.XYs {
	var xys plotter.XYs
	if len(v) <= n {
		xys = make(plotter.XYs, len(v))
		for i := range v {
			xys[i] = plotter.XY{X: t[i], Y: v[i]}
		}
	} else {
		buckets := n / 2
		xys = make(plotter.XYs, 0, 2*buckets)
		for b := range buckets {
			i0, i1 := b*len(v)/buckets, (b+1)*len(v)/buckets
			lo, hi := i0, i0
			for i := i0; i < i1; i++ {
				if v[i] < v[lo] {
					lo = i
				}
				if v[i] > v[hi] {
					hi = i
				}
			}
			first, second := min(lo, hi), max(lo, hi)
			xys = append(xys, plotter.XY{X: t[first], Y: v[first]})
			if second != first {
				xys = append(xys, plotter.XY{X: t[second], Y: v[second]})
			}
		}
	}
	out := xys[:0:0]
	for i, p := range xys {
		if i > 0 && i < len(xys)-1 && xys[i-1].Y == p.Y && xys[i+1].Y == p.Y {
			continue
		}
		out = append(out, p)
	}
	return out
}
