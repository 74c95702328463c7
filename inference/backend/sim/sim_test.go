package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
)

// The tests below run in real time against the event loop. They do not
// call t.Parallel: the spinning loop wants a processor to itself.

func TestMain(m *testing.M) { backendtest.Main(m) }

func newSim(t testing.TB, opts map[string]string) *Backend {
	t.Helper()
	b, err := New(opts)
	if err != nil {
		t.Fatalf("New(%v) = %v", opts, err)
	}
	return b
}

func burst(n int) []inference.Sample {
	s := make([]inference.Sample, n)
	for i := range s {
		s[i] = inference.Sample{ID: uint64(i), Index: uint32(i)}
	}
	return s
}

// TestOfflineThroughput issues one burst and checks the throughput against
// c·b/D, and that batching doubles it.
func TestOfflineThroughput(t *testing.T) {
	tests := []struct {
		servers, batch, n int
	}{
		{servers: 4, batch: 1, n: 1600}, // 800 ms
		{servers: 2, batch: 1, n: 600},  // 600 ms
		{servers: 2, batch: 2, n: 1200}, // 600 ms: batch 2 doubles c=2's rate
	}
	rates := map[string]float64{}
	for _, tc := range tests {
		name := fmt.Sprintf("c=%d,b=%d", tc.servers, tc.batch)
		t.Run(name, func(t *testing.T) {
			b := newSim(t, map[string]string{
				"servers": fmt.Sprint(tc.servers), "batch": fmt.Sprint(tc.batch), "latency": "2ms",
			})
			f := backendtest.Start(t, b)
			q := burst(tc.n)
			t0 := backendtest.Now()
			b.IssueQuery(q)
			b.FlushQueries()
			if err := f.Wait(tc.n, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			recs := f.Records()
			got := float64(tc.n) / (float64(recs[len(recs)-1].At-t0) / 1e9)
			want := b.Config().Capacity()
			if math.Abs(got-want) > 0.01*want {
				t.Errorf("throughput = %.1f/s; want %.1f/s ± 1%%", got, want)
			}
			// Every completion lands near its virtual instant.
			per := int64(tc.servers * tc.batch)
			var late []int64
			for _, r := range recs {
				late = append(late, r.At-t0-(int64(r.ID)/per+1)*2*ms)
			}
			slices.Sort(late)
			t.Logf("throughput %.1f/s (want %.1f); lateness p50 %v p99 %v max %v", got, want,
				time.Duration(late[len(late)/2]), time.Duration(late[len(late)*99/100]), time.Duration(late[len(late)-1]))
			rates[name] = got
		})
	}
	if r := rates["c=2,b=2"] / rates["c=2,b=1"]; math.Abs(r-2) > 0.02 {
		t.Errorf("batch 2 / batch 1 throughput = %.3f; want 2", r)
	}
}

// TestSingleSampleLatency checks that a lone sample's latency is its service
// time, to within 2%.
func TestSingleSampleLatency(t *testing.T) {
	b := newSim(t, map[string]string{"latency": "5ms"})
	f := backendtest.Start(t, b)
	var lat []int64
	for i := range 20 {
		t0 := backendtest.Now()
		b.IssueQuery([]inference.Sample{{ID: uint64(i)}})
		if err := f.Wait(i+1, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, f.Records()[i].At-t0)
	}
	slices.Sort(lat)
	med := time.Duration(lat[len(lat)/2])
	if d := med - 5*time.Millisecond; d < 0 || d > 100*time.Microsecond {
		t.Errorf("median latency = %v; want 5ms + at most 2%%", med)
	}
	t.Logf("latency min %v median %v max %v", time.Duration(lat[0]), med, time.Duration(lat[len(lat)-1]))
}

// TestFIFO checks that completions come back in issue order.
func TestFIFO(t *testing.T) {
	for _, servers := range []string{"1", "3"} {
		t.Run("servers="+servers, func(t *testing.T) {
			b := newSim(t, map[string]string{"servers": servers, "latency": "500us"})
			f := backendtest.Start(t, b)
			id := uint64(0)
			for q := range 60 {
				s := make([]inference.Sample, 1+q%7)
				for i := range s {
					s[i].ID = id
					id++
				}
				b.IssueQuery(s)
			}
			if err := f.Wait(int(id), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			for i, r := range f.Records() {
				if r.ID != uint64(i) {
					t.Fatalf("completion %d is ID %d; want FIFO order", i, r.ID)
				}
			}
		})
	}
}

// TestStallShowsAsGap checks that a stall every 50 samples leaves a gap of
// at least the stall between completions.
func TestStallShowsAsGap(t *testing.T) {
	b := newSim(t, map[string]string{"latency": "1ms", "stall": "20ms", "stall_every": "50"})
	f := backendtest.Start(t, b)
	q := burst(120)
	t0 := backendtest.Now()
	b.IssueQuery(q)
	if err := f.Wait(120, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	recs := f.Records()
	var gaps []int
	prev := t0
	for i, r := range recs {
		gap := time.Duration(r.At - prev)
		if gap >= 20*time.Millisecond {
			gaps = append(gaps, i)
		}
		prev = r.At
	}
	if want := []int{50, 100}; !slices.Equal(gaps, want) {
		t.Errorf("gaps of ≥ 20ms before completions %v; want %v", gaps, want)
	}
	// 120 services of 1 ms and two stalls of 20 ms.
	if got, want := time.Duration(recs[119].At-t0), 160*time.Millisecond; got < want || got > want+5*time.Millisecond {
		t.Errorf("burst took %v; want %v", got, want)
	}
}

func TestStopWhilePending(t *testing.T) {
	b := newSim(t, map[string]string{"latency": "10s", "servers": "2"})
	f := new(backendtest.Fake)
	if err := b.StartWith(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	b.IssueQuery(burst(10))
	time.Sleep(5 * time.Millisecond) // let the loop start two services
	start := time.Now()
	if err := b.Stop(); err != nil {
		t.Fatalf("Stop() = %v", err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("Stop() took %v", d)
	}
	backendtest.WaitGone(t, "sim.(*device).loop")
	time.Sleep(10 * time.Millisecond)
	if n := f.Len(); n != 0 {
		t.Errorf("%d completions; want 0", n)
	}
	b.IssueQuery(burst(1)) // after Stop: dropped
	if err := b.Stop(); err != nil {
		t.Errorf("second Stop() = %v", err)
	}
}

// slowCompleter takes 30 ms per call and notes whether a call is running.
type slowCompleter struct {
	inside, calls atomic.Int64
}

func (c *slowCompleter) Complete(inference.Response) { c.CompleteBatch(nil) }
func (c *slowCompleter) CompleteBatch([]inference.Response) {
	c.inside.Add(1)
	time.Sleep(30 * time.Millisecond)
	c.calls.Add(1)
	c.inside.Add(-1)
}

// TestStopWaitsForLoop stops the device while its loop is inside a
// completion call: Stop must return only after that call, and no call may
// follow.
func TestStopWaitsForLoop(t *testing.T) {
	b := newSim(t, map[string]string{"latency": "1ms"})
	c := new(slowCompleter)
	if err := b.StartWith(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	b.IssueQuery(burst(100))
	for c.inside.Load() == 0 {
		time.Sleep(100 * time.Microsecond)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if c.inside.Load() != 0 {
		t.Fatal("Stop returned while the loop was still completing")
	}
	n := c.calls.Load()
	time.Sleep(50 * time.Millisecond)
	if got := c.calls.Load(); got != n {
		t.Errorf("%d completion calls after Stop returned", got-n)
	}
}

func TestRestartIsRepeatable(t *testing.T) {
	b := newSim(t, map[string]string{"latency": "300us", "dist": "exponential", "seed": "5"})
	var runs [][]int64
	for range 2 {
		f := new(backendtest.Fake)
		if err := b.StartWith(context.Background(), f); err != nil {
			t.Fatal(err)
		}
		if err := b.StartWith(context.Background(), f); err == nil {
			t.Fatal("second StartWith() = nil; want an error")
		}
		q := burst(100)
		t0 := backendtest.Now()
		b.IssueQuery(q)
		if err := f.Wait(100, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		var at []int64
		for _, r := range f.Records() {
			at = append(at, r.At-t0)
		}
		runs = append(runs, at)
		if err := b.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	// Same seed, same service times: the schedules agree to within the
	// loop's jitter (a busy host may delay a report now and then), while
	// exponential draws differ by far more.
	off := 0
	for i := range runs[0] {
		if d := time.Duration(runs[0][i] - runs[1][i]); d.Abs() > 200*time.Microsecond {
			off++
		}
	}
	if off > len(runs[0])/20 {
		t.Errorf("%d of %d completions differ by over 200µs between runs", off, len(runs[0]))
	}
}

func TestParentCancelEndsLoop(t *testing.T) {
	b := newSim(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	f := new(backendtest.Fake)
	if err := b.StartWith(ctx, f); err != nil {
		t.Fatal(err)
	}
	cancel()
	backendtest.WaitGone(t, "sim.(*device).loop")
	b.IssueQuery(burst(5)) // dropped: the loop is gone
	if err := b.Stop(); err != nil {
		t.Fatalf("Stop() = %v", err)
	}
	if err := b.Start(context.Background(), nil); err == nil {
		t.Error("Start(ctx, nil) = nil; want an error")
	}
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig(map[string]string{
		"servers": "4", "latency": "250us", "dist": "lognormal", "sigma": "0.3",
		"batch": "8", "seed": "42", "stall": "20ms", "stall_every": "500",
	})
	want := Config{Servers: 4, Latency: 250 * time.Microsecond, Dist: Lognormal, Sigma: 0.3,
		Batch: 8, Seed: 42, Stall: 20 * time.Millisecond, StallEvery: 500}
	if err != nil || c != want {
		t.Fatalf("ParseConfig() = %+v, %v; want %+v", c, err, want)
	}
	if c, err := ParseConfig(nil); err != nil || c != DefaultConfig() {
		t.Fatalf("ParseConfig(nil) = %+v, %v; want the defaults", c, err)
	}
	bad := []struct {
		opts map[string]string
		want string // substring of the error
	}{
		{map[string]string{"servers": "0"}, "servers=0"},
		{map[string]string{"servers": "x"}, `option servers="x"`},
		{map[string]string{"latency": "0s"}, "latency=0s"},
		{map[string]string{"latency": "5"}, `option latency="5"`},
		{map[string]string{"dist": "uniform"}, `dist="uniform"`},
		{map[string]string{"sigma": "1"}, "sigma applies only to dist=lognormal"},
		{map[string]string{"dist": "lognormal", "sigma": "0"}, "sigma=0"},
		{map[string]string{"batch": "0"}, "batch=0"},
		{map[string]string{"seed": "-1"}, `seed="-1": want a seed of 0 or more`},
		{map[string]string{"stall": "1ms"}, "set both or neither"},
		{map[string]string{"stall_every": "10"}, "set both or neither"},
		{map[string]string{"servrs": "2"}, `unknown option "servrs"`},
	}
	for _, tc := range bad {
		_, err := New(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "sim: ") {
			t.Errorf("New(%v) = %v; want an error containing %q", tc.opts, err, tc.want)
		}
	}
	if _, err := New(map[string]string{"servrs": "2"}); !errors.Is(err, backend.ErrUnknownOption) {
		t.Errorf("New(servrs=2) = %v; want ErrUnknownOption", err)
	}
	// Several problems are reported together.
	_, err = New(map[string]string{"servers": "0", "batch": "0"})
	if err == nil || !strings.Contains(err.Error(), "servers=0") || !strings.Contains(err.Error(), "batch=0") {
		t.Errorf("New(servers=0 batch=0) = %v; want both problems", err)
	}
}

// BenchmarkIssueQuery measures one sample through the simulated device,
// issue to completion, with a device fast enough not to be the bottleneck.
func BenchmarkIssueQuery(b *testing.B) {
	be := newSim(b, map[string]string{"servers": "16", "batch": "64", "latency": "10us"})
	var c backendtest.Counter
	backendtest.StartWith(b, be, &c)
	q := []inference.Sample{{}}
	b.ReportAllocs()
	n := uint64(0)
	for b.Loop() {
		q[0].ID = n
		be.IssueQuery(q)
		n++
	}
	if err := c.Wait(n, time.Minute); err != nil {
		b.Fatal(err)
	}
}
