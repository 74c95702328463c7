package trend

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/gpuperf/gpuperf/results/history"
)

// The reports' colours (Tableau 10): points in blue, segment levels in
// orange, change points in red, the equivalence band in light green.
var (
	colorPoint  = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	colorLevel  = color.RGBA{R: 255, G: 127, B: 14, A: 255}
	colorChange = color.RGBA{R: 214, G: 39, B: 40, A: 255}
	colorBand   = color.NRGBA{R: 44, G: 160, B: 44, A: 40}
	colorGrid   = color.Gray{Y: 220}
	colorRef    = color.Gray{Y: 110}
)

const (
	chartWidth  = 9 * vg.Inch
	chartHeight = 3.2 * vg.Inch
)

// runTicks labels the x axis (run positions, oldest first) with the
// runs' dates at a handful of positions.
type runTicks struct{ points []history.Point }

func (r runTicks) Ticks(lo, hi float64) []plot.Tick {
	n := len(r.points)
	step := max(1, n/6)
	var ts []plot.Tick
	for i := 0; i < n; i += step {
		ts = append(ts, plot.Tick{Value: float64(i + 1), Label: r.points[i].At.Format("2006-01-02")})
	}
	// The newest run is labelled too, unless a label already sits close.
	if last := float64(n); len(ts) > 0 && last-ts[len(ts)-1].Value >= float64(step)/2 {
		ts = append(ts, plot.Tick{Value: last, Label: r.points[n-1].At.Format("2006-01-02")})
	}
	return ts
}

func sans(f *font.Font, size float64) {
	f.Typeface, f.Variant = "Liberation", "Sans"
	f.Size = vg.Points(size)
}

// plotTrend draws one trend: each run's value with its interval, the
// segments' levels, and a dashed line before each change point; retained
// % also shows parity and the equivalence band.
func plotTrend(t Trend) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = t.Name()
	sans(&p.Title.TextStyle.Font, 11)
	p.X.Label.Text = "runs, oldest first"
	p.Y.Label.Text = "retained %"
	if t.Quantity != history.MetricRetained {
		p.Y.Label.Text = t.Metric + " (" + t.Unit + ")"
	}
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		sans(&a.Label.TextStyle.Font, 10)
		sans(&a.Tick.Label.Font, 9)
	}
	p.X.Tick.Marker = runTicks{t.Points}
	n := len(t.Points)
	p.X.Min, p.X.Max = 0.5, float64(n)+0.5

	// The axis spans the values (and the band for retained %); intervals
	// far wider than the values' spread are cut at twice that spread.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, pt := range t.Points {
		lo, hi = math.Min(lo, pt.Value), math.Max(hi, pt.Value)
	}
	if t.Quantity == history.MetricRetained {
		lo, hi = math.Min(lo, 100-t.MarginPct), math.Max(hi, 100+t.MarginPct)
	}
	span := math.Max(hi-lo, math.Abs(hi)*0.01)
	winLo, winHi := lo-2*span, hi+2*span
	for _, pt := range t.Points {
		if pt.Low != nil && pt.High != nil {
			lo, hi = math.Min(lo, math.Max(*pt.Low, winLo)), math.Max(hi, math.Min(*pt.High, winHi))
		}
	}
	pad := math.Max((hi-lo)*0.08, math.Abs(hi)*0.002)
	p.Y.Min, p.Y.Max = lo-pad, hi+pad
	clip := func(v float64) float64 { return math.Min(math.Max(v, p.Y.Min), p.Y.Max) }

	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = nil, colorGrid
	p.Add(g)
	if t.Quantity == history.MetricRetained {
		m := t.MarginPct
		band, err := plotter.NewPolygon(plotter.XYs{{X: p.X.Min, Y: clip(100 - m)}, {X: p.X.Max, Y: clip(100 - m)}, {X: p.X.Max, Y: clip(100 + m)}, {X: p.X.Min, Y: clip(100 + m)}})
		if err != nil {
			return nil, err
		}
		band.Color = colorBand
		band.LineStyle.Width = 0
		p.Add(band)
		if err := addLine(p, plotter.XYs{{X: p.X.Min, Y: clip(100)}, {X: p.X.Max, Y: clip(100)}}, colorRef, 0.7, false); err != nil {
			return nil, err
		}
	}
	for _, c := range t.ChangePoints {
		x := float64(c.Index) + 0.5
		if err := addLine(p, plotter.XYs{{X: x, Y: p.Y.Min}, {X: x, Y: p.Y.Max}}, colorChange, 1.2, true); err != nil {
			return nil, err
		}
	}
	for i, pt := range t.Points {
		// Beyond a few hundred runs the whiskers would bury the levels.
		if pt.Low == nil || pt.High == nil || n > maxWhiskers {
			continue
		}
		x := float64(i + 1)
		if err := addLine(p, plotter.XYs{{X: x, Y: clip(*pt.Low)}, {X: x, Y: clip(*pt.High)}}, colorPoint, 0.8, false); err != nil {
			return nil, err
		}
	}
	xys := make(plotter.XYs, n)
	for i, pt := range t.Points {
		xys[i] = plotter.XY{X: float64(i + 1), Y: pt.Value}
	}
	sc, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, err
	}
	sc.GlyphStyle.Color = colorPoint
	sc.GlyphStyle.Radius = vg.Points(2.2)
	if n > 200 {
		sc.GlyphStyle.Radius = vg.Points(1.2)
	}
	p.Add(sc)
	// The levels go on top: they are what the change points separate.
	for _, s := range t.Segments {
		if err := addLine(p, plotter.XYs{{X: float64(s.Start) + 0.5, Y: s.Mean}, {X: float64(s.End) + 0.5, Y: s.Mean}}, colorLevel, 2, false); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// maxWhiskers is the most runs whose intervals a chart draws.
const maxWhiskers = 200

func addLine(p *plot.Plot, xys plotter.XYs, c color.Color, width float64, dashed bool) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = c
	l.Width = vg.Points(width)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	p.Add(l)
	return nil
}

// catchPanic turns a plotting panic into an error.
func catchPanic(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plot: %v", r)
		}
	}()
	return f()
}

// WritePNG draws the trends one above the other into one PNG.
func WritePNG(w io.Writer, ts []Trend) error {
	if len(ts) == 0 {
		return fmt.Errorf("no series to draw")
	}
	return catchPanic(func() error {
		c := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(chartWidth, chartHeight*vg.Length(len(ts))), vgimg.UseDPI(110))}
		dc := draw.New(c)
		tiles := draw.Tiles{Rows: len(ts), Cols: 1, PadTop: vg.Points(8), PadBottom: vg.Points(4), PadY: vg.Points(14), PadLeft: vg.Points(6), PadRight: vg.Points(10)}
		for i, t := range ts {
			p, err := plotTrend(t)
			if err != nil {
				return err
			}
			p.Draw(tiles.At(dc, 0, i))
		}
		_, err := c.WriteTo(w)
		return err
	})
}

func svgOf(t Trend) (template.HTML, error) {
	var out template.HTML
	err := catchPanic(func() error {
		p, err := plotTrend(t)
		if err != nil {
			return err
		}
		c := vgsvg.New(chartWidth, chartHeight)
		p.Draw(draw.New(c))
		var b bytes.Buffer
		if _, err := c.WriteTo(&b); err != nil {
			return err
		}
		s := b.String()
		if i := strings.Index(s, "<svg"); i >= 0 {
			s = s[i:]
		}
		// Trust: the markup is gonum's, which escapes the text it draws.
		out = template.HTML(s)
		return nil
	})
	return out, err
}

type htmlTrend struct {
	Trend
	Chart   template.HTML
	Err     string
	Latest  history.Point
	Changes []htmlChange
}

type htmlChange struct {
	Run                  int64
	RunID, At            string
	Before, After, Delta string
	P                    string
	Worse                bool
}

// WriteHTML writes one self-contained page: per series a chart, its
// change points and the verdict on its newest segment.
func WriteHTML(w io.Writer, ts []Trend, title string) error {
	page := struct {
		Title   string
		Created string
		Trends  []htmlTrend
		Gate    Gate
	}{Title: title, Created: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Gate: Decide(ts)}
	for _, t := range ts {
		ht := htmlTrend{Trend: t, Latest: t.Points[len(t.Points)-1]}
		chart, err := svgOf(t)
		if err != nil {
			ht.Err = err.Error()
		}
		ht.Chart = chart
		for _, c := range t.ChangePoints {
			ht.Changes = append(ht.Changes, htmlChange{Run: c.Run, RunID: c.RunID, At: c.At.Format(time.DateOnly),
				Before: t.Format(c.Before), After: t.Format(c.After), Delta: t.FormatChange(c.Change), P: fmt.Sprintf("%.3g", c.PValue), Worse: c.Worse})
		}
		page.Trends = append(page.Trends, ht)
	}
	return htmlPage.Execute(w, page)
}

var htmlPage = template.Must(template.New("trend").Funcs(template.FuncMap{
	"value": func(t Trend, v float64) string { return t.Format(v) },
	"opt": func(t Trend, v *float64) string {
		if v == nil {
			return "–"
		}
		return t.Format(*v)
	},
	"date": func(t time.Time) string { return t.Format("2006-01-02 15:04") },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:"Liberation Sans",Arial,sans-serif;margin:2em auto;max-width:70em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}
.bad{color:#b00020;font-weight:bold} .ok{color:#2c7a2c} .muted{color:#666}
svg{max-width:100%;height:auto}
</style></head><body>
<h1>{{.Title}}</h1>
<p class="muted">gpuperf trend, {{.Created}}. Change points: E-divisive means with a permutation test; a dashed red line marks each, orange lines the levels between them.</p>
{{if .Gate.Regressions}}<p class="bad">Trend gate: regression</p><ul>{{range .Gate.Regressions}}<li>{{.}}</li>{{end}}</ul>
{{else}}<p class="ok">No series ends in a significant drop beyond its margin.</p>{{end}}
{{range .Trends}}{{$t := .Trend}}
<h2>{{.Name}}</h2>
{{if .Err}}<p class="bad">chart: {{.Err}}</p>{{else}}{{.Chart}}{{end}}
<p>{{len .Points}} runs. Latest: <b>{{value $t .Latest.Value}}</b>{{if .Latest.Low}} [{{opt $t .Latest.Low}}, {{opt $t .Latest.High}}]{{end}}, run {{.Latest.Run}}{{if .Latest.RunID}} ({{.Latest.RunID}}){{end}}, {{date .Latest.At}}.</p>
{{if .Changes}}<table><tr><th>first run after</th><th>date</th><th>before</th><th>after</th><th>change</th><th>p</th></tr>
{{range .Changes}}<tr{{if .Worse}} class="bad"{{end}}><td>{{.Run}}{{if .RunID}} ({{.RunID}}){{end}}</td><td>{{.At}}</td><td>{{.Before}}</td><td>{{.After}}</td><td>{{.Delta}}</td><td>{{.P}}</td></tr>
{{end}}</table>{{else}}<p class="muted">No change point.</p>{{end}}
{{if .Regression}}<p class="bad">{{.Reason}}</p>{{end}}
{{end}}
</body></html>
`))
