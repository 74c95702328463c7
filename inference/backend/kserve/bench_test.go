package kserve

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
	"github.com/gpuperf/gpuperf/internal/procstat"
)

// BenchmarkClient measures the backend's own cost against a test server in
// another process on loopback: client CPU (user + system, from getrusage,
// so every goroutine of the client counts: gRPC, protobuf, the workers)
// per request and per sample, and the samples per second reached with all
// samples queued at once (an Offline burst).
func BenchmarkClient(b *testing.B) {
	addr := backendtest.StartChild(b, serverHelperEnv)
	for _, bc := range []struct {
		name string
		opts []string
	}{
		{"simple/unary", []string{"model=simple"}},
		{"simple/stream", []string{"model=simple", "stream=true"}},
		{"simple/batch=8", []string{"model=simple", "batch=8"}},
		{"resnet50/batch=8", []string{"model=resnet50", "batch=8", "max_inflight=8"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			opts := map[string]string{OptEndpoint: addr, OptMaxInflight: "16", OptConnections: "2"}
			for _, kv := range bc.opts {
				k, v, _ := strings.Cut(kv, "=")
				opts[k] = v
			}
			be, err := New(opts)
			if err != nil {
				b.Fatal(err)
			}
			var c backendtest.Counter
			backendtest.StartWith(b, be, &c)
			samples := make([]inference.Sample, b.N)
			for i := range samples {
				samples[i] = inference.Sample{ID: uint64(i), Index: uint32(i)}
			}
			cpu0, err := procstat.ReadSelf()
			if err != nil {
				b.Skip("no process CPU time here:", err)
			}
			t0 := time.Now()
			b.ResetTimer()
			be.IssueQuery(samples)
			if err := c.Wait(uint64(b.N), 5*time.Minute); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			wall := time.Since(t0)
			cpu1, _ := procstat.ReadSelf()
			cpu := cpu1.Sub(cpu0)
			if n, err := c.Failed(); n > 0 {
				b.Fatalf("%d samples failed: %v", n, err)
			}
			batch := be.Config().Batch
			requests := (b.N + batch - 1) / batch
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(requests), "cpu-ns/request")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/sample")
			b.ReportMetric(float64(b.N)/wall.Seconds(), "samples/s")
			if testing.Verbose() {
				fmt.Fprintf(os.Stderr, "%s: %d samples, %d requests, %v CPU over %v\n", bc.name, b.N, requests, cpu, wall)
			}
		})
	}
}
