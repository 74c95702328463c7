package main

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
	"github.com/gpuperf/gpuperf/results"
)

// planDisplay shows a plan's runs: one bar per agent and scenario on a
// terminal, one plain line per finished run when piped.
type planDisplay struct {
	w     io.Writer
	total int // runs in the plan, for the plain lines
	reps  int

	mu   sync.Mutex
	done int
	p    *mpb.Progress
	bars map[string]*mpb.Bar
	// status holds each bar's text, read by its decorator while mpb draws:
	// atomics, since mpb may draw while d.mu is held (AddBar waits for it).
	status map[string]*atomic.Pointer[string]
}

func newPlanDisplay(w io.Writer, runs, reps int) *planDisplay {
	return newPlanDisplayBars(w, runs, reps, isTerminal(w))
}

// newPlanDisplayBars draws bars when bars is set, whatever w is.
func newPlanDisplayBars(w io.Writer, runs, reps int, bars bool) *planDisplay {
	d := &planDisplay{w: w, total: runs, reps: reps, bars: map[string]*mpb.Bar{}, status: map[string]*atomic.Pointer[string]{}}
	if bars {
		// The line width is the terminal's; 120 columns when w is not one.
		d.p = mpb.New(mpb.WithOutput(w), mpb.WithAutoRefresh(), mpb.WithWidth(120), mpb.WithRefreshRate(200*time.Millisecond))
	}
	return d
}

// barKey names the bar a run belongs to: one per agent and scenario, and
// one per calibration run.
func barKey(r results.RunRecord) string {
	if r.Role == "calibration" {
		return r.Host + " calibrate " + r.Scenario
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
	total := int64(d.reps)
	if r.Role == "calibration" {
		total = 1
	}
	st := new(atomic.Pointer[string])
	st.Store(new(string))
	d.status[key] = st
	b := d.p.AddBar(total, mpb.BarWidth(24),
		mpb.PrependDecorators(decor.Name(fmt.Sprintf("%-28s", key)), decor.CountersNoUnit(" %d/%d runs")),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return *st.Load() })),
	)
	d.bars[key] = b
	return b
}

func (d *planDisplay) RunStarted(r results.RunRecord) {
	if d.p == nil {
		return
	}
	d.mu.Lock()
	d.bar(r)
	d.setStatus(r, "starting")
	d.mu.Unlock()
}

func (d *planDisplay) RunProgress(r results.RunRecord, p *gpuperfv1.Progress) {
	if d.p == nil {
		return
	}
	d.mu.Lock()
	d.setStatus(r, fmt.Sprintf("run %d: %s %s/%s, %d queries", r.Repetition+1, p.Phase,
		time.Duration(p.ElapsedNs).Round(time.Second), time.Duration(p.TargetNs), p.QueriesIssued))
	d.mu.Unlock()
}

func (d *planDisplay) RunFinished(r results.RunRecord) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r.Role != "calibration" {
		d.done++
	}
	line := runLine(r)
	if d.p == nil {
		if r.Role == "calibration" {
			fmt.Fprintf(d.w, "calibration on %s: %s\n", r.Host, line)
		} else {
			fmt.Fprintf(d.w, "[%d/%d] %s %s run %d: %s\n", d.done, d.total, r.Host, scenarioUnder(r), r.Repetition+1, line)
		}
		return
	}
	d.bar(r).Increment()
	d.setStatus(r, line)
}

// setStatus sets the text beside r's bar; d.mu must be held.
func (d *planDisplay) setStatus(r results.RunRecord, text string) {
	d.bar(r)
	d.status[barKey(r)].Store(&text)
}

func runLine(r results.RunRecord) string {
	switch r.Status {
	case results.StatusOK:
		v := "VALID"
		if !r.Valid {
			v = "INVALID"
		}
		return fmt.Sprintf("%s %s = %.6g %s", v, r.Metric, r.Value, r.Unit)
	default:
		return fmt.Sprintf("%s: %s", r.Status, r.Error)
	}
}

// Wait lets the bars draw their last state. Bars of runs that never
// finished (an interrupted plan) are aborted but kept on screen. The lock
// is not held meanwhile: the status decorator takes it while drawing.
func (d *planDisplay) Wait() {
	if d.p == nil {
		return
	}
	d.mu.Lock()
	var open []*mpb.Bar
	for _, b := range d.bars {
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
