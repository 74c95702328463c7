package inference_test

import (
	"context"
	"sync"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
)

// windowBackend records the generator clock at its first IssueQuery of the
// timed run and at each completion, to check the window hook against.
type windowBackend struct {
	inlineBackend
	mu          sync.Mutex
	first, last int64
}

func (b *windowBackend) IssueQuery(s []inference.Sample) {
	now := inference.Now()
	b.mu.Lock()
	if b.first == 0 {
		b.first = now
	}
	b.mu.Unlock()
	b.inlineBackend.IssueQuery(s)
	b.mu.Lock()
	b.last = inference.Now()
	b.mu.Unlock()
}

// The window opens once, after the warm-up and before the first timed
// query, and closes once, after the last completion, on the generator's
// clock.
func TestWindowBracketsTimedRun(t *testing.T) {
	cfg := quickConfig(t, inference.SingleStream)
	cfg.Settings.WarmupMs = 50
	cfg.AutoHint = true
	var calls []struct {
		start bool
		at    int64
	}
	b := &windowBackend{}
	cfg.Window = func(start bool, at int64) {
		if start {
			// The warm-up has issued by now; forget its queries.
			b.mu.Lock()
			b.first = 0
			b.mu.Unlock()
		}
		calls = append(calls, struct {
			start bool
			at    int64
		}{start, at})
	}
	res, err := inference.Run(context.Background(), b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || !calls[0].start || calls[1].start {
		t.Fatalf("window calls = %+v; want one start, then one end", calls)
	}
	if calls[0].at > b.first || calls[1].at < b.last {
		t.Errorf("window [%d, %d] does not bracket the timed queries [%d, %d]", calls[0].at, calls[1].at, b.first, b.last)
	}
	if d := calls[1].at - calls[0].at; d < res.DurationNs {
		t.Errorf("window %d ns shorter than the run's %d ns", d, res.DurationNs)
	}
}

// serverBackend keeps server statistics: it counts the queries issued
// between its window's edges.
type serverBackend struct {
	inlineBackend
	mu      sync.Mutex
	open    bool
	edges   []bool
	inside  uint64 // samples issued while the window was open
	outside uint64
}

func (b *serverBackend) IssueQuery(s []inference.Sample) {
	b.mu.Lock()
	if b.open {
		b.inside += uint64(len(s))
	} else {
		b.outside += uint64(len(s))
	}
	b.mu.Unlock()
	b.inlineBackend.IssueQuery(s)
}

func (b *serverBackend) ServerWindow(start bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open = start
	b.edges = append(b.edges, start)
}

func (b *serverBackend) ServerStats() *inference.ServerStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return &inference.ServerStats{Source: "test", Requests: b.inside}
}

// A backend with server statistics sees the timed run's edges, after the
// warm-up, and its statistics land in the result.
func TestServerStatsBracketTimedRun(t *testing.T) {
	cfg := quickConfig(t, inference.SingleStream)
	cfg.Settings.WarmupMs = 50
	cfg.AutoHint = true
	b := &serverBackend{}
	res, err := inference.Run(context.Background(), b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.edges) != 2 || !b.edges[0] || b.edges[1] {
		t.Fatalf("ServerWindow calls = %v; want start, then end", b.edges)
	}
	if b.outside == 0 {
		t.Error("no warm-up queries outside the window")
	}
	if res.ServerStats == nil || res.ServerStats.Requests != res.SamplesIssued {
		t.Errorf("server stats = %+v; want the %d timed samples", res.ServerStats, res.SamplesIssued)
	}
}
