package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
	"github.com/gpuperf/gpuperf/results"
)

// syncBuffer is a bytes.Buffer safe for mpb's drawing goroutine and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPlanDisplayBarsFinish drives the bar display as the coordinator does,
// from one goroutine per agent, and checks that Wait returns with one bar
// per calibration and per agent and scenario, each showing its last run.
func TestPlanDisplayBarsFinish(t *testing.T) {
	var out syncBuffer
	d := newPlanDisplayBars(&out, 4, 2, true)
	ok := func(r results.RunRecord, v float64) results.RunRecord {
		r.Status, r.Valid, r.Metric, r.Value, r.Unit = results.StatusOK, true, "result_samples_per_second", v, "samples/s"
		return r
	}
	cal := results.RunRecord{Host: "bm", Role: "calibration", Scenario: "Offline"}
	d.RunStarted(cal)
	d.RunProgress(cal, &gpuperfv1.Progress{Phase: "run"})
	d.RunFinished(ok(cal, 1000))
	var wg sync.WaitGroup
	for _, host := range []string{"bm", "vm"} {
		wg.Go(func() {
			for k := range 2 {
				r := results.RunRecord{Host: host, Role: "baseline", Scenario: "Offline", Repetition: k}
				d.RunStarted(r)
				for range 20 {
					d.RunProgress(r, &gpuperfv1.Progress{Phase: "run", ElapsedNs: int64(time.Second)})
				}
				d.RunFinished(ok(r, 1000+float64(k)))
			}
		})
	}
	wg.Wait()
	// An unfinished run (an interrupted plan) must not keep Wait waiting.
	d.RunStarted(results.RunRecord{Host: "vm", Role: "candidate", Scenario: "Server"})

	waited := make(chan struct{})
	go func() { d.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		t.Fatal("Wait did not return")
	}
	s := out.String()
	last := s[strings.LastIndex(s, "bm calibrate Offline"):]
	for _, want := range []string{
		"bm calibrate Offline         1/1 runs",
		"bm Offline                   2/2 runs", "VALID result_samples_per_second = 1001 samples/s",
		"vm Offline                   2/2 runs",
		"vm Server                    0/2 runs",
	} {
		if !strings.Contains(last, want) {
			t.Errorf("the last frame lacks %q:\n%s", want, last)
		}
	}
	if n := strings.Count(last, "calibrate"); n != 1 {
		t.Errorf("the last frame has %d calibration bars; want 1:\n%s", n, last)
	}
}
