package main

import (
	"fmt"
	"io"
	"sync"
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

	mu     sync.Mutex
	done   int
	p      *mpb.Progress
	bars   map[string]*mpb.Bar
	status map[string]string
}

func newPlanDisplay(w io.Writer, runs, reps int) *planDisplay {
	d := &planDisplay{w: w, total: runs, reps: reps, bars: map[string]*mpb.Bar{}, status: map[string]string{}}
	if isTerminal(w) {
		d.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(24), mpb.WithRefreshRate(200*time.Millisecond))
	}
	return d
}

func (d *planDisplay) bar(r results.RunRecord) *mpb.Bar {
	key := r.Host + " " + r.Scenario
	if b, ok := d.bars[key]; ok {
		return b
	}
	total := int64(d.reps)
	if r.Role == "calibration" {
		key, total = r.Host+" calibrate "+r.Scenario, 1
	}
	b := d.p.AddBar(total,
		mpb.PrependDecorators(decor.Name(fmt.Sprintf("%-28s", key)), decor.CountersNoUnit(" %d/%d runs")),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.status[key]
		})),
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
	d.status[r.Host+" "+r.Scenario] = "starting"
	d.mu.Unlock()
}

func (d *planDisplay) RunProgress(r results.RunRecord, p *gpuperfv1.Progress) {
	if d.p == nil {
		return
	}
	d.mu.Lock()
	d.status[r.Host+" "+r.Scenario] = fmt.Sprintf("run %d: %s %s/%s, %d queries", r.Repetition+1, p.Phase,
		time.Duration(p.ElapsedNs).Round(time.Second), time.Duration(p.TargetNs), p.QueriesIssued)
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
			fmt.Fprintf(d.w, "[%d/%d] %s %s run %d: %s\n", d.done, d.total, r.Host, r.Scenario, r.Repetition+1, line)
		}
		return
	}
	d.status[r.Host+" "+r.Scenario] = line
	d.bar(r).Increment()
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

// Wait lets the bars draw their last state.
func (d *planDisplay) Wait() {
	if d.p == nil {
		return
	}
	d.mu.Lock()
	for _, b := range d.bars {
		if !b.Completed() {
			b.Abort(false)
		}
	}
	d.mu.Unlock()
	d.p.Wait()
}
