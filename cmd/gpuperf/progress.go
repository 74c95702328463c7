package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/gpuperf/gpuperf/inference"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// progress draws bench's one line on a terminal, fitted to its width:
// the scenario, a bar, and what the run is doing; nothing when piped.
// The bar follows the samples done of the query for Offline (the query
// is the run) and the time against the minimum duration otherwise.
type progress struct {
	p    *mpb.Progress
	bar  *mpb.Bar
	text atomic.Pointer[string]
	// barWidth is fixed from the terminal's width when the line is made.
	barWidth int
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newProgress(w io.Writer, label string) *progress {
	if !isTerminal(w) {
		return &progress{}
	}
	return newProgressOn(newTermWriter(w), label)
}

// permille is the bar's scale.
const permille = 1000

func newProgressOn(tw *termWriter, label string) *progress {
	pr := &progress{}
	width, _, err := tw.GetTermSize()
	if err != nil || width <= 0 {
		width = 80
	}
	label = padRight(label, scenarioWidth)
	pr.barWidth = min(max((width-scenarioWidth-4)/3, minBar), maxBar)
	start := "starting"
	pr.text.Store(&start)
	pr.p = mpb.New(mpb.WithConsoleWriter(tw), mpb.WithAutoRefresh(), mpb.WithRefreshRate(250*time.Millisecond))
	pr.bar = pr.p.AddBar(permille, mpb.BarWidth(pr.barWidth),
		mpb.PrependDecorators(decor.Name(label)),
		mpb.AppendDecorators(decor.Any(func(s decor.Statistics) string {
			return fit(*pr.text.Load(), s.AvailableWidth-pr.barWidth-3)
		})),
	)
	return pr
}

// Write prints log lines above the progress line.
func (pr *progress) Write(b []byte) (int, error) {
	if pr.p != nil {
		if n, err := pr.p.Write(b); err == nil {
			return n, nil
		}
	}
	return os.Stderr.Write(b)
}

func (pr *progress) update(p inference.Progress) {
	if pr.p == nil {
		return
	}
	text := phaseText(&gpuperfv1.Progress{Phase: p.Phase, ElapsedNs: int64(p.Elapsed), TargetNs: int64(p.Target)})
	frac := 0.0
	if p.Target > 0 {
		frac = float64(p.Elapsed) / float64(p.Target)
	}
	phase := p.Phase[strings.LastIndex(p.Phase, " ")+1:]
	switch {
	case strings.Contains(p.Phase, "warm-up"):
		frac = 0
	case p.Total == 1 && p.Samples > 1 && phase == "run":
		// Offline: one query; the run is done when its samples are.
		frac = float64(p.Completed) / float64(p.Samples)
		text += fmt.Sprintf(", %s/%s samples", formatValue(float64(p.Completed), ""), formatValue(float64(p.Samples), ""))
	default:
		text += fmt.Sprintf(", %s queries", formatValue(float64(p.Issued), ""))
	}
	pr.text.Store(&text)
	pr.bar.SetCurrent(int64(min(max(frac, 0), 1) * permille))
}

// done draws the last state and ends the line.
func (pr *progress) done() {
	if pr.p == nil {
		return
	}
	pr.bar.Abort(false)
	pr.p.Wait()
}

func slogDefault() *slog.Logger { return slog.Default() }

func joinNames(names []string) string { return strings.Join(names, ", ") }
