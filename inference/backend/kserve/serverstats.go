package kserve

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpuperf/gpuperf/inference"
	inferencev2 "github.com/gpuperf/gpuperf/proto/inference"
)

// statsSource names the statistics read in ServerStats.
const statsSource = "triton-statistics"

// statsTimeout bounds each statistics read: the end's runs on the load
// generator's goroutine, after the timed run.
const statsTimeout = 2 * time.Second

var _ inference.ServerStatsReporter = (*Backend)(nil)

// statsRead is one ModelStatistics answer, summed over the model's
// versions, or why there is none.
type statsRead struct {
	inferences, executions                     uint64
	success, fail, queue, input, infer, output duration
	err                                        error
}

type duration struct{ count, ns uint64 }

// ServerWindow reads the model's statistics at the timed run's edges
// (Triton's statistics extension) and keeps the difference for
// ServerStats.
func (b *Backend) ServerWindow(start bool) { b.stats.Edge(start) }

// ServerStats returns what the server counted in the last timed run, or
// nil when no run has opened a window since Start.
func (b *Backend) ServerStats() *inference.ServerStats { return b.stats.Stats() }

// readStats is the statistics window's read: the running session's.
func (b *Backend) readStats(ctx context.Context) statsRead {
	s := b.cur.Load()
	if s == nil {
		return statsRead{err: errors.New("the backend stopped")}
	}
	return s.readStats(ctx)
}

// readStats asks the server for the configured model's statistics.
func (s *session) readStats(ctx context.Context) statsRead {
	ctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	resp, err := s.clients[0].ModelStatistics(ctx, &inferencev2.ModelStatisticsRequest{Name: s.cfg.Model, Version: s.cfg.ModelVersion})
	switch {
	case status.Code(err) == codes.Unimplemented:
		return statsRead{err: errors.New("the server has no statistics extension (ModelStatistics is unimplemented)")}
	case err != nil:
		return statsRead{err: fmt.Errorf("ModelStatistics: %w", err)}
	}
	var r statsRead
	found := false
	for _, m := range resp.GetModelStats() {
		if m.GetName() != s.cfg.Model || (s.cfg.ModelVersion != "" && m.GetVersion() != s.cfg.ModelVersion) {
			continue
		}
		found = true
		r.inferences += m.GetInferenceCount()
		r.executions += m.GetExecutionCount()
		is := m.GetInferenceStats()
		for _, p := range []struct {
			dst *duration
			src *inferencev2.StatisticDuration
		}{
			{&r.success, is.GetSuccess()}, {&r.fail, is.GetFail()}, {&r.queue, is.GetQueue()},
			{&r.input, is.GetComputeInput()}, {&r.infer, is.GetComputeInfer()}, {&r.output, is.GetComputeOutput()},
		} {
			p.dst.count += p.src.GetCount()
			p.dst.ns += p.src.GetNs()
		}
	}
	if !found {
		return statsRead{err: fmt.Errorf("ModelStatistics has no entry for model %q", s.cfg.Model)}
	}
	return r
}

// delta is what the server counted between two reads.
func delta(a, b statsRead) *inference.ServerStats {
	st := &inference.ServerStats{Source: statsSource}
	switch {
	case a.err != nil:
		st.Unavailable = "at the timed run's start: " + a.err.Error()
		return st
	case b.err != nil:
		st.Unavailable = "at the timed run's end: " + b.err.Error()
		return st
	}
	if b.success.count < a.success.count || b.inferences < a.inferences {
		st.Unavailable = "the server's counters went back during the run (was it restarted?)"
		return st
	}
	mean := func(x, y duration) float64 {
		if y.count <= x.count {
			return 0
		}
		return float64(y.ns-x.ns) / float64(y.count-x.count)
	}
	st.Requests = b.success.count - a.success.count
	st.Failed = b.fail.count - a.fail.count
	st.Inferences = b.inferences - a.inferences
	st.Executions = b.executions - a.executions
	st.RequestNs = mean(a.success, b.success)
	st.QueueNs = mean(a.queue, b.queue)
	st.ComputeInputNs = mean(a.input, b.input)
	st.ComputeInferNs = mean(a.infer, b.infer)
	st.ComputeOutputNs = mean(a.output, b.output)
	return st
}
