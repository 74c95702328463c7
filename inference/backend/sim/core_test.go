package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
)

const ms = int64(time.Millisecond)

// arrival is a query in a synthetic workload: n samples at instant at.
type arrival struct {
	at int64
	n  int
}

// outcome is what the virtual model did with one sample.
type outcome struct {
	id    uint64
	done  int64 // completion instant
	batch int   // size of the batch it was served in
}

// simulate runs the model over a whole workload in virtual time, numbering
// samples from 0 in arrival order, and returns the completions in the order
// they were reported.
func simulate(t *testing.T, c Config, work []arrival) []outcome {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	k := newCore(c)
	var q queue
	id := uint64(0)
	var buf []inference.Sample
	for _, a := range work {
		buf = buf[:0]
		for range a.n {
			buf = append(buf, inference.Sample{ID: id})
			id++
		}
		q.push(a.at, buf)
	}
	k.advance(math.MaxInt64, &q)
	if q.len() != 0 || len(k.events) != 0 {
		t.Fatalf("model left %d queued and %d in service", q.len(), len(k.events))
	}
	var out []outcome
	start := 0
	for i, end := range k.outEnd {
		for _, r := range k.out[start:end] {
			out = append(out, outcome{id: r.ID, done: k.outAt[i], batch: end - start})
		}
		start = end
	}
	if len(out) != int(id) {
		t.Fatalf("%d completions; want %d", len(out), id)
	}
	return out
}

func fixed(servers, batch int, latency time.Duration) Config {
	c := DefaultConfig()
	c.Servers, c.Batch, c.Latency = servers, batch, latency
	return c
}

func TestCoreOfflineBurst(t *testing.T) {
	tests := []struct {
		name           string
		servers, batch int
	}{
		{"c=1", 1, 1},
		{"c=4", 4, 1},
		{"c=2,b=2", 2, 2},
		{"c=3,b=8", 3, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const n = 960
			out := simulate(t, fixed(tc.servers, tc.batch, 2*time.Millisecond), []arrival{{at: 0, n: n}})
			per := tc.servers * tc.batch
			for i, o := range out {
				if o.id != uint64(i) {
					t.Fatalf("completion %d is ID %d; want FIFO order", i, o.id)
				}
				if want := int64(i/per+1) * 2 * ms; o.done != want {
					t.Fatalf("ID %d done at %d; want %d", o.id, o.done, want)
				}
				if o.batch != tc.batch {
					t.Fatalf("ID %d served in a batch of %d; want %d", o.id, o.batch, tc.batch)
				}
			}
			// Throughput is exactly c·b/D: Capacity's figure.
			got := float64(n) / (float64(out[n-1].done) / 1e9)
			if want := fixed(tc.servers, tc.batch, 2*time.Millisecond).Capacity(); math.Abs(got-want) > 1e-9*want {
				t.Errorf("throughput %v/s; want %v/s", got, want)
			}
		})
	}
}

// TestCoreBatchRule checks that a free server takes what has arrived, up to
// batch, without waiting for a batch to fill.
func TestCoreBatchRule(t *testing.T) {
	out := simulate(t, fixed(1, 4, 4*time.Millisecond), []arrival{
		{at: 0, n: 1},      // starts alone at 0
		{at: 1 * ms, n: 3}, // waits; all three start together at 4 ms
		{at: 5 * ms, n: 2}, // arrives in service; starts at 8 ms
		{at: 6 * ms, n: 4}, // two of these join it (batch 4)
		{at: 30 * ms, n: 1},
	})
	want := []outcome{
		{0, 4 * ms, 1},
		{1, 8 * ms, 3}, {2, 8 * ms, 3}, {3, 8 * ms, 3},
		{4, 12 * ms, 4}, {5, 12 * ms, 4}, {6, 12 * ms, 4}, {7, 12 * ms, 4},
		{8, 16 * ms, 2}, {9, 16 * ms, 2},
		{10, 34 * ms, 1},
	}
	if !slices.Equal(out, want) {
		t.Fatalf("outcomes =\n%v\nwant\n%v", out, want)
	}
}

// TestCoreMultiServerFIFO checks FIFO across servers: a sample goes to a
// free server at once, and waits only when all are busy.
func TestCoreMultiServerFIFO(t *testing.T) {
	out := simulate(t, fixed(2, 1, 10*time.Millisecond), []arrival{
		{at: 0, n: 1},      // server 0: 0–10
		{at: 3 * ms, n: 1}, // server 1: 3–13
		{at: 4 * ms, n: 1}, // waits for server 0: 10–20
		{at: 5 * ms, n: 1}, // waits for server 1: 13–23
	})
	want := []outcome{{0, 10 * ms, 1}, {1, 13 * ms, 1}, {2, 20 * ms, 1}, {3, 23 * ms, 1}}
	if !slices.Equal(out, want) {
		t.Fatalf("outcomes = %v; want %v", out, want)
	}
}

func TestCoreStall(t *testing.T) {
	t.Run("burst", func(t *testing.T) {
		c := fixed(2, 1, time.Millisecond)
		c.Stall, c.StallEvery = 5*time.Millisecond, 10
		out := simulate(t, c, []arrival{{at: 0, n: 40}})
		for i, o := range out {
			// Pairs complete every 1 ms; each 10 completions add 5 ms.
			want := int64(i/2+1)*ms + int64(i/10)*5*ms
			if o.done != want {
				t.Fatalf("ID %d done at %v; want %v", o.id, time.Duration(o.done), time.Duration(want))
			}
		}
	})
	t.Run("pauses service in progress", func(t *testing.T) {
		c := fixed(2, 1, 4*time.Millisecond)
		c.Stall, c.StallEvery = 10*time.Millisecond, 1
		out := simulate(t, c, []arrival{
			{at: 0, n: 1},      // 0–4; its completion stalls the device 4–14
			{at: 2 * ms, n: 1}, // 2–4, paused, 14–16; stalls it 16–26
			{at: 5 * ms, n: 1}, // arrives in a stall: 14–16, paused, 26–28
		})
		want := []outcome{{0, 4 * ms, 1}, {1, 16 * ms, 1}, {2, 28 * ms, 1}}
		if !slices.Equal(out, want) {
			t.Fatalf("outcomes = %v; want %v", out, want)
		}
	})
}

// poisson returns n single-sample arrivals at rate perSec, seeded.
func poisson(n int, perSec float64, seed uint64) []arrival {
	rng := rand.New(rand.NewPCG(seed, 7))
	work := make([]arrival, n)
	t := 0.0
	for i := range work {
		t += rng.ExpFloat64() / perSec * 1e9
		work[i] = arrival{at: int64(t), n: 1}
	}
	return work
}

// TestCoreQueueingTheory checks mean queueing waits against M/D/1, M/M/1
// and M/M/2 with Poisson arrivals at 50% utilisation.
func TestCoreQueueingTheory(t *testing.T) {
	const (
		n   = 200_000
		rho = 0.5
		d   = time.Millisecond
	)
	tests := []struct {
		name    string
		servers int
		dist    Dist
		want    time.Duration // mean wait
		tol     float64
	}{
		{"M/D/1", 1, Fixed, time.Duration(rho * float64(d) / (2 * (1 - rho))), 0.03},
		{"M/M/1", 1, Exponential, time.Duration(rho * float64(d) / (1 - rho)), 0.05},
		// Erlang C with c = 2, offered load a = 1: P(wait) = 1/3 and
		// W = P(wait)/(cμ − λ) = D/3.
		{"M/M/2", 2, Exponential, d / 3, 0.05},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := fixed(tc.servers, 1, d)
			c.Dist = tc.dist
			work := poisson(n, rho*float64(tc.servers)/d.Seconds(), 3)
			out := simulate(t, c, work)
			// Wait = completion − arrival − service; sum the service
			// times by replaying the same seeded draws.
			svc := newServiceTimes(c)
			var sojourn, service float64
			for _, o := range out {
				sojourn += float64(o.done - work[o.id].at)
			}
			for range n {
				service += float64(svc.next())
			}
			got := time.Duration((sojourn - service) / n)
			if math.Abs(float64(got-tc.want)) > tc.tol*float64(tc.want) {
				t.Errorf("mean wait = %v; want %v ± %.0f%%", got, tc.want, 100*tc.tol)
			}
			t.Logf("mean wait %v (theory %v)", got, tc.want)
		})
	}
}

func TestServiceTimes(t *testing.T) {
	for _, dist := range []Dist{Fixed, Exponential, Lognormal} {
		t.Run(string(dist), func(t *testing.T) {
			c := DefaultConfig()
			c.Dist, c.Latency, c.Sigma = dist, 2*time.Millisecond, 0.8
			a, b := newServiceTimes(c), newServiceTimes(c)
			c.Seed = 2
			other := newServiceTimes(c)
			const n = 400_000
			var sum, logSum, logSq float64
			differs := false
			for range n {
				x := a.next()
				if y := b.next(); x != y {
					t.Fatalf("same seed: draws %d and %d differ", x, y)
				}
				if other.next() != x {
					differs = true
				}
				sum += float64(x)
				l := math.Log(float64(x))
				logSum += l
				logSq += l * l
			}
			if dist != Fixed && !differs {
				t.Error("seeds 1 and 2 gave the same draws")
			}
			if mean := sum / n; math.Abs(mean-2e6) > 0.01*2e6 {
				t.Errorf("mean service time = %v; want 2ms ± 1%%", time.Duration(mean))
			}
			if dist == Lognormal {
				m := logSum / n
				if sd := math.Sqrt(logSq/n - m*m); math.Abs(sd-0.8) > 0.01 {
					t.Errorf("sd of log service time = %v; want sigma 0.8", sd)
				}
			}
		})
	}
}

func TestCoreDeterministic(t *testing.T) {
	c := fixed(3, 2, time.Millisecond)
	c.Dist = Lognormal
	work := poisson(5000, 4000, 9)
	a, b := simulate(t, c, work), simulate(t, c, work)
	if !slices.Equal(a, b) {
		t.Fatal("two runs of the same workload and seed differ")
	}
}

func TestCoreSteadyStateAllocs(t *testing.T) {
	k := newCore(fixed(4, 2, time.Millisecond))
	var q queue
	s := []inference.Sample{{ID: 1}, {ID: 2}, {ID: 3}}
	now := int64(0)
	step := func() {
		q.push(now, s)
		now += ms
		k.advance(now, &q)
		k.clearOut()
	}
	for range 100 {
		step()
	}
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Errorf("model allocates %v times per step; want 0", a)
	}
}
