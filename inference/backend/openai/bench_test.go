package openai

import (
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
	"github.com/gpuperf/gpuperf/inference/backend/openai/openaitest"
	"github.com/gpuperf/gpuperf/internal/procstat"
)

// serveEnv makes the test binary an openaitest server (see TestMain), so a
// benchmark can keep the server's CPU out of its own process.
const serveEnv = "GPUPERF_OPENAITEST_SERVE"

// serveForBenchmark starts a test server with no delays on a loopback
// port, for ServeIfChild.
func serveForBenchmark() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: openaitest.New(openaitest.Config{})}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// BenchmarkClientCPU measures the client CPU one streamed request costs:
// 128 output tokens, one per event, from a server in another process on
// loopback, 8 requests in flight. cpu-us/request is this process's user +
// system CPU time over the requests (the backend's workers, HTTP, event
// parsing and JSON decoding; the server's CPU is not in it).
func BenchmarkClientCPU(b *testing.B) {
	const tokens = 128
	url := backendtest.StartChild(b, serveEnv)
	be, err := New(map[string]string{OptURL: url, OptModel: "test-model", OptMaxTokens: strconv.Itoa(tokens), OptMaxInflight: "8"})
	if err != nil {
		b.Fatal(err)
	}
	var c backendtest.Counter
	backendtest.StartWith(b, be, &c)
	// Warm the connections.
	be.IssueQuery(make([]inference.Sample, 8))
	if err := c.Wait(8, time.Minute); err != nil {
		b.Fatal(err)
	}
	q := make([]inference.Sample, b.N)
	for i := range q {
		q[i] = inference.Sample{ID: uint64(i), Index: uint32(i)}
	}
	b.ReportAllocs()
	cpu0, err := procstat.ReadSelf()
	if err != nil {
		b.Skip("no process CPU time here:", err)
	}
	t0 := time.Now()
	b.ResetTimer()
	be.IssueQuery(q)
	if err := c.Wait(uint64(8+b.N), 5*time.Minute); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n, err := c.Failed(); n > 0 {
		b.Fatalf("%d requests failed: %v", n, err)
	}
	wall := time.Since(t0)
	cpu1, _ := procstat.ReadSelf()
	cpu := cpu1.Sub(cpu0)
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/request")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*tokens), "cpu-ns/token")
	b.ReportMetric(float64(b.N)/wall.Seconds(), "requests/s")
}
