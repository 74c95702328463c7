package inference_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
)

// BenchmarkServerNull runs a 2-second Server run at 1M QPS against an inline
// backend and reports the generator's memory per query (everything the run
// allocated, divided by the queries issued) and its issue delay.
func BenchmarkServerNull(b *testing.B) {
	s, qsl, err := inference.Settings("resnet50", inference.Server, inference.ProfileQuick)
	if err != nil {
		b.Fatal(err)
	}
	s.MinDurationMs, s.WarmupMs = 2000, 0
	s.ServerTargetQPS = 1e6
	s.ServerTargetLatencyNs = 10e6
	cfg := inference.Config{Settings: s, QSL: qsl, Model: "resnet50"}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		res, err := inference.Run(context.Background(), &inlineBackend{}, cfg)
		if err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		q := float64(res.QueriesIssued)
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/q, "bytes/query")
		b.ReportMetric(float64(res.Health.IssueDelay.P50Ns), "delay-p50-ns")
		b.ReportMetric(float64(res.Health.IssueDelay.P99Ns), "delay-p99-ns")
		b.ReportMetric(res.CompletedSamplesPerSecond, "completed-qps")
		if !res.Validity.Valid {
			b.Logf("INVALID: %s", res.Validity.InvalidReason)
		}
	}
}
