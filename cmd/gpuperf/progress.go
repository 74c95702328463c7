package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/gpuperf/gpuperf/inference"
)

// progress draws a bar on a terminal and nothing when output is piped.
type progress struct {
	mu    sync.Mutex
	label string
	bar   *progressbar.ProgressBar
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newProgress(w io.Writer, label string) *progress {
	if !isTerminal(w) {
		return &progress{}
	}
	// The bar tracks time against the minimum duration: that, not a query
	// count, is what ends every scenario but Offline.
	return &progress{label: label, bar: progressbar.NewOptions64(1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(label),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

func (p *progress) update(pr inference.Progress) {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.ChangeMax64(max(int64(pr.Target/time.Millisecond), 1))
	p.bar.Describe(fmt.Sprintf("%s %s: %s/%s, %d queries issued, %d samples done",
		p.label, pr.Phase, pr.Elapsed.Round(time.Second), pr.Target, pr.Issued, pr.Completed))
	_ = p.bar.Set64(min(int64(pr.Elapsed/time.Millisecond), int64(pr.Target/time.Millisecond)))
}

func (p *progress) done() {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.bar.Finish()
}

func slogDefault() *slog.Logger { return slog.Default() }

func joinNames(names []string) string { return strings.Join(names, ", ") }
