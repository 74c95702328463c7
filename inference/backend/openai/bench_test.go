package openai

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
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

// serveForBenchmark runs a test server with no delays on a loopback port,
// prints its URL and serves until stdin closes.
func serveForBenchmark() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: openaitest.New(openaitest.Config{})}
	go srv.Serve(ln)
	fmt.Printf("http://%s\n", ln.Addr())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // EOF when the parent goes
	srv.Close()
	os.Exit(0)
}

// startServerProcess starts this test binary as a test server.
func startServerProcess(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serveEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	url, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("test server: %v", err)
	}
	return strings.TrimSpace(url)
}

// BenchmarkClientCPU measures the client CPU one streamed request costs:
// 128 output tokens, one per event, from a server in another process on
// loopback, 8 requests in flight. cpu-us/request is this process's user +
// system CPU time over the requests (the backend's workers, HTTP, event
// parsing and JSON decoding; the server's CPU is not in it).
func BenchmarkClientCPU(b *testing.B) {
	const tokens = 128
	url := startServerProcess(b)
	be, err := New(map[string]string{OptURL: url, OptModel: "test-model", OptMaxTokens: strconv.Itoa(tokens), OptMaxInflight: "8"})
	if err != nil {
		b.Fatal(err)
	}
	c := &signalCounter{want: 8, done: make(chan struct{})}
	backendtest.StartWith(b, be, c)
	// Warm the connections.
	be.IssueQuery(make([]inference.Sample, 8))
	<-c.done
	c.mu.Lock()
	c.want, c.done = 8+b.N, make(chan struct{})
	c.mu.Unlock()
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
	<-c.done
	b.StopTimer()
	if c.failed > 0 {
		b.Fatalf("%d requests failed: %v", c.failed, c.err)
	}
	wall := time.Since(t0)
	cpu1, _ := procstat.ReadSelf()
	cpu := (cpu1.User - cpu0.User) + (cpu1.System - cpu0.System)
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/request")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*tokens), "cpu-ns/token")
	b.ReportMetric(float64(b.N)/wall.Seconds(), "requests/s")
}

// signalCounter counts completions and closes done when want are in,
// without polling, which would add to the CPU measured.
type signalCounter struct {
	mu     sync.Mutex
	n      int
	want   int
	done   chan struct{}
	failed int
	err    error
}

func (c *signalCounter) Complete(r inference.Response) { c.CompleteBatch([]inference.Response{r}) }

func (c *signalCounter) CompleteBatch(rs []inference.Response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range rs {
		if r.Err != nil {
			c.failed++
			c.err = r.Err
		}
	}
	c.n += len(rs)
	if c.n == c.want {
		close(c.done)
	}
}
