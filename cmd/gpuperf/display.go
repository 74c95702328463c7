package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mattn/go-runewidth"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/gpuperf/gpuperf/coordinator"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
	"github.com/gpuperf/gpuperf/results"
)

// planDisplay shows a plan's runs. On a terminal it redraws a block of
// lines that fit its width: first the whole plan (runs done of all, a bar,
// time spent and the time left), then the calibration, then one line per
// agent and scenario (runs done, a bar, and what the current run is doing
// or how the last one ended). Log lines print above the block. Piped, it
// writes one plain line per finished run instead.
type planDisplay struct {
	w     io.Writer
	total int // timed runs in the plan
	reps  int
	// labelWidth aligns the agent names; barWidth is every bar's width.
	labelWidth, barWidth int

	mu         sync.Mutex
	done       int
	firstTimed time.Time               // when the first timed run started
	active     map[string]*runProgress // the runs in flight, by bar key
	p          *mpb.Progress
	overall    *mpb.Bar
	headline   atomic.Pointer[string]
	bars       map[string]*mpb.Bar
	// status holds each bar's text, read by its decorator while mpb draws:
	// atomics, since mpb may draw while d.mu is held (AddBar waits for it).
	status map[string]*atomic.Pointer[string]
}

// runProgress is what the display knows of a run in flight.
type runProgress struct {
	started time.Time
	frac    float64 // of its target duration, for the ETA
}

// Bars are minBar to maxBar columns wide; the text beside them gives way
// first (and is cut with "…").
const (
	minBar        = 10
	maxBar        = 24
	scenarioWidth = 12
)

func newPlanDisplay(w io.Writer, runs, reps int, hosts []string) *planDisplay {
	return newPlanDisplayOn(w, runs, reps, hosts, nil)
}

// newPlanDisplayOn draws through tw when it is given (tests give one with a
// width), else on w when w is a terminal.
func newPlanDisplayOn(w io.Writer, runs, reps int, hosts []string, tw *termWriter) *planDisplay {
	d := &planDisplay{w: w, total: runs, reps: reps, active: map[string]*runProgress{},
		bars: map[string]*mpb.Bar{}, status: map[string]*atomic.Pointer[string]{}}
	d.labelWidth = len("calibrate")
	for _, h := range hosts {
		d.labelWidth = max(d.labelWidth, runewidth.StringWidth(h))
	}
	if tw == nil && isTerminal(w) {
		tw = newTermWriter(w)
	}
	if tw == nil {
		return d
	}
	// Every line's bar is as wide: a third of what the terminal leaves
	// after the labels, within minBar..maxBar. (A resized terminal still
	// gets lines that fit: mpb narrows the bars.)
	width, _, err := tw.GetTermSize()
	if err != nil || width <= 0 {
		width = 80
	}
	d.barWidth = min(max((width-d.labelWidth-scenarioWidth-8)/3, minBar), maxBar)
	d.p = mpb.New(mpb.WithConsoleWriter(tw), mpb.WithAutoRefresh(), mpb.WithRefreshRate(250*time.Millisecond))
	head := "calibrating"
	d.headline.Store(&head)
	d.overall = d.addBar(int64(runs), padRight("plan", d.labelWidth+1+scenarioWidth), &d.headline)
	return d
}

// addBar adds a line: label, runs done of total, the bar, and text, which
// gives way to the bar (cut with "…") and leaves the last column free.
func (d *planDisplay) addBar(total int64, label string, text *atomic.Pointer[string]) *mpb.Bar {
	return d.p.AddBar(total, mpb.BarWidth(d.barWidth),
		mpb.PrependDecorators(decor.Name(label), decor.CountersNoUnit(" %d/%d", decor.WCSyncWidth)),
		mpb.AppendDecorators(decor.Any(func(s decor.Statistics) string {
			return fit(*text.Load(), s.AvailableWidth-d.barWidth-3)
		})),
	)
}

// Write prints log lines above the display's block (or plainly when
// piped), so they never land inside it.
func (d *planDisplay) Write(b []byte) (int, error) {
	if d.p == nil {
		return d.w.Write(b)
	}
	n, err := d.p.Write(b)
	if err != nil {
		// The display has shut down: write plainly.
		return d.w.Write(b)
	}
	return n, nil
}

// barKey names the line a run belongs to: one per agent and scenario, and
// one per calibrated scenario.
func barKey(r results.RunRecord) string {
	if r.Role == "calibration" {
		return "calibrate " + r.Scenario
	}
	return r.Host + " " + scenarioUnder(r)
}

// scenarioUnder names a run's scenario, and the neighbour load it ran
// under.
func scenarioUnder(r results.RunRecord) string {
	if r.Interference != "" {
		return r.Scenario + " under " + r.Interference
	}
	return r.Scenario
}

func (d *planDisplay) bar(r results.RunRecord) *mpb.Bar {
	key := barKey(r)
	if b, ok := d.bars[key]; ok {
		return b
	}
	total, host := int64(d.reps), r.Host
	if r.Role == "calibration" {
		total, host = coordinator.CalibrationRuns, "calibrate"
	}
	st := new(atomic.Pointer[string])
	st.Store(new(string))
	d.status[key] = st
	label := padRight(host, d.labelWidth) + " " + padRight(r.Scenario, scenarioWidth)
	b := d.addBar(total, label, st)
	d.bars[key] = b
	return b
}

// fit cuts text to room columns.
func fit(text string, room int) string {
	if room <= 1 {
		return ""
	}
	return runewidth.Truncate(text, room, "…")
}

func padRight(s string, w int) string {
	return runewidth.FillRight(runewidth.Truncate(s, w, "…"), w)
}

func (d *planDisplay) RunStarted(r results.RunRecord) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r.Role != "calibration" {
		if d.firstTimed.IsZero() {
			d.firstTimed = time.Now()
		}
		d.active[barKey(r)] = &runProgress{started: time.Now()}
	}
	if d.p == nil {
		return
	}
	d.bar(r)
	d.setStatus(r, runName(r)+": starting")
	d.updateHeadline()
}

func (d *planDisplay) RunProgress(r results.RunRecord, p *gpuperfv1.Progress) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a := d.active[barKey(r)]; a != nil && p.TargetNs > 0 && !strings.Contains(p.Phase, "warm-up") {
		a.frac = min(float64(p.ElapsedNs)/float64(p.TargetNs), 0.95)
	}
	if d.p == nil {
		return
	}
	d.setStatus(r, runName(r)+": "+phaseText(p))
	d.updateHeadline()
}

func (d *planDisplay) RunFinished(r results.RunRecord) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r.Role != "calibration" {
		d.done++
		delete(d.active, barKey(r))
	}
	line := runLine(r)
	if r.Role == "calibration" && r.Status == results.StatusOK {
		// A calibration measures; its validity is not the point.
		line = formatValue(r.Value, r.Unit)
	}
	if d.p == nil {
		if r.Role == "calibration" {
			fmt.Fprintf(d.w, "calibration %d/%d on %s, %s: %s\n", r.Repetition+1, coordinator.CalibrationRuns, r.Host, r.Scenario, line)
		} else {
			fmt.Fprintf(d.w, "[%d/%d] %s %s run %d: %s\n", d.done, d.total, r.Host, scenarioUnder(r), r.Repetition+1, line)
		}
		return
	}
	d.bar(r).Increment()
	if r.Role != "calibration" {
		d.overall.SetCurrent(int64(d.done))
	}
	d.setStatus(r, runName(r)+": "+line)
	d.updateHeadline()
}

// runName is how a status line starts: "run 3" or "3/5".
func runName(r results.RunRecord) string {
	if r.Role == "calibration" {
		return fmt.Sprintf("measurement %d", r.Repetition+1)
	}
	return fmt.Sprintf("run %d", r.Repetition+1)
}

// updateHeadline sets the plan line's text: time spent and the estimate of
// the time left, from the share of the plan done (runs in flight count by
// how far they are); d.mu must be held.
func (d *planDisplay) updateHeadline() {
	var text string
	switch {
	case d.firstTimed.IsZero():
		text = "calibrating on the baseline"
	case d.done == d.total:
		text = "done in " + fmtDuration(time.Since(d.firstTimed))
	default:
		spent := time.Since(d.firstTimed)
		frac := float64(d.done)
		for _, a := range d.active {
			frac += a.frac
		}
		text = fmtDuration(spent) + " elapsed"
		if frac >= 0.2 {
			left := time.Duration(float64(spent) * (float64(d.total) - frac) / frac)
			text += ", about " + fmtDuration(left) + " left"
		}
	}
	d.headline.Store(&text)
}

// setStatus sets the text beside r's bar; d.mu must be held.
func (d *planDisplay) setStatus(r results.RunRecord, text string) {
	d.bar(r)
	d.status[barKey(r)].Store(&text)
}

// phaseText words a run's progress: what it is doing and its time against
// its target. The load generator's phases are "warm-up", "run" (the timed
// run; for Offline its one query) and "drain"; repeats and peak probes
// prefix theirs.
func phaseText(p *gpuperfv1.Progress) string {
	prefix, phase := "", p.Phase
	if i := strings.LastIndex(phase, ": "); i >= 0 {
		prefix, phase = phase[:i+2], phase[i+2:]
	}
	if rest, ok := strings.CutPrefix(phase, "re-run "); ok {
		prefix += "re-run, "
		phase = rest
	}
	word := phase
	switch phase {
	case "run":
		word = "timed run"
	case "drain":
		word = "draining"
	}
	el, target := time.Duration(p.ElapsedNs), time.Duration(p.TargetNs)
	text := prefix + word + " " + fmtDuration(el)
	if target > 0 {
		text += "/" + fmtDuration(target)
	}
	return text
}

// fmtDuration prints a duration to the second ("1m05s"), or to the tenth
// below ten seconds.
func fmtDuration(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func runLine(r results.RunRecord) string {
	switch r.Status {
	case results.StatusOK:
		v := "VALID"
		if !r.Valid {
			v = "INVALID"
		}
		line := v + " " + formatValue(r.Value, r.Unit)
		if r.Rerun != "" {
			line += " (re-run: " + r.Rerun + ")"
		}
		return line
	default:
		return fmt.Sprintf("%s: %s", r.Status, r.Error)
	}
}

// formatValue prints a metric with its unit for people: thousands
// separated, latencies as durations.
func formatValue(v float64, unit string) string {
	if unit == "ns" {
		return time.Duration(v).Round(time.Microsecond).String()
	}
	num := fmt.Sprintf("%.4g", v)
	if v >= 1000 {
		num = humanize.Comma(int64(math.Round(v)))
	}
	if unit == "" {
		return num
	}
	return num + " " + unit
}

// Wait lets the display draw its last state. Lines of runs that never
// finished (an interrupted plan) are kept on screen as they were. The lock
// is not held meanwhile: the decorators read atomics while drawing.
func (d *planDisplay) Wait() {
	if d.p == nil {
		return
	}
	d.mu.Lock()
	d.updateHeadline()
	var open []*mpb.Bar
	for _, b := range append([]*mpb.Bar{d.overall}, slices.Collect(maps.Values(d.bars))...) {
		if !b.Completed() {
			open = append(open, b)
		}
	}
	d.mu.Unlock()
	for _, b := range open {
		b.Abort(false)
	}
	d.p.Wait()
}
