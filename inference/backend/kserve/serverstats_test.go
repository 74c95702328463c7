package kserve

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/kserve/kservetest"
)

// serverStatsRun runs a short Offline run against srv and returns its
// result.
func serverStatsRun(t *testing.T, srv *kservetest.Server, kv ...string) *inference.Result {
	t.Helper()
	b := newBackend(t, srv, kv...)
	s, qsl, err := inference.Settings("resnet50", inference.Offline, inference.ProfileQuick)
	if err != nil {
		t.Fatal(err)
	}
	s.MinDurationMs, s.WarmupMs, s.OfflineExpectedQPS = 300, 50, 2000
	res, err := inference.Run(context.Background(), b, inference.Config{Settings: s, QSL: qsl, Model: "resnet50"})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The server's statistics over the timed run: the warm-up's requests are
// left out, and its queue and compute times are the test server's.
func TestServerStats(t *testing.T) {
	srv := kservetest.New(t, kservetest.Options{Behavior: kservetest.Behavior{Queue: time.Millisecond, Latency: 2 * time.Millisecond}})
	res := serverStatsRun(t, srv, "max_inflight=8", "batch=2")
	st := res.ServerStats
	if st == nil || st.Source != "triton-statistics" || st.Unavailable != "" {
		t.Fatalf("server stats = %+v", st)
	}
	requests := (res.SamplesIssued + 1) / 2
	// The start's read goes over the network while the first requests
	// run: allow a few to fall before it.
	if st.Requests > requests || st.Requests+8 < requests || st.Inferences > res.SamplesIssued || st.Inferences+16 < res.SamplesIssued {
		t.Errorf("server counted %d requests, %d inferences; the timed run sent %d requests of %d samples", st.Requests, st.Inferences, requests, res.SamplesIssued)
	}
	if all := srv.Stats().Requests; int64(st.Requests) >= all {
		t.Errorf("server counted %d requests in the window of %d in all: the warm-up is in it", st.Requests, all)
	}
	if st.Executions != st.Requests || st.Failed != 0 {
		t.Errorf("executions %d, failed %d; want %d and 0", st.Executions, st.Failed, st.Requests)
	}
	ms := func(ns float64) float64 { return ns / 1e6 }
	if q, c := ms(st.QueueNs), ms(st.ComputeInferNs); q < 1 || q > 20 || c < 2 || c > 30 {
		t.Errorf("queue %.3f ms, compute %.3f ms; want about 1 and 2", q, c)
	}
	if st.RequestNs < st.QueueNs+st.ComputeInferNs {
		t.Errorf("request %.0f ns shorter than its queue and compute %.0f ns", st.RequestNs, st.QueueNs+st.ComputeInferNs)
	}
}

// A server without the statistics extension: the run goes on, and the
// result says why it has no server statistics.
func TestServerStatsUnimplemented(t *testing.T) {
	srv := kservetest.New(t, kservetest.Options{Behavior: kservetest.Behavior{NoStatistics: true}})
	res := serverStatsRun(t, srv, "max_inflight=4")
	st := res.ServerStats
	if st == nil || !strings.Contains(st.Unavailable, "no statistics extension") || st.Requests != 0 {
		t.Fatalf("server stats = %+v; want unavailable, naming the extension", st)
	}
	if res.SamplesComplete != res.SamplesIssued || res.SamplesFailed != 0 {
		t.Errorf("%d of %d samples complete, %d failed; the run must go on without statistics", res.SamplesComplete, res.SamplesIssued, res.SamplesFailed)
	}
}
