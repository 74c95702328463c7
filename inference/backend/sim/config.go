package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/gpuperf/gpuperf/inference/backend"
)

// Dist is a service-time distribution.
type Dist string

// The service-time distributions.
const (
	Fixed       Dist = "fixed"
	Exponential Dist = "exponential"
	Lognormal   Dist = "lognormal"
)

// Option names, as given to New.
const (
	OptServers    = "servers"
	OptLatency    = "latency"
	OptDist       = "dist"
	OptSigma      = "sigma"
	OptBatch      = "batch"
	OptSeed       = "seed"
	OptStall      = "stall"
	OptStallEvery = "stall_every"
	OptDevice     = "device"
)

// Config describes a simulated device; see the package documentation for
// the model.
type Config struct {
	Servers int           // parallel servers, c
	Latency time.Duration // mean service time of one batch, D
	Dist    Dist          // service-time distribution
	Sigma   float64       // lognormal shape
	Batch   int           // most samples a server takes at once, b
	Seed    uint64        // service-time RNG seed
	// Stall pauses the whole device after every StallEvery completed
	// samples. Both are zero, or neither.
	Stall      time.Duration
	StallEvery int
	// Device names a device shared by every backend of the process that
	// names it (two agents in one process, say: a measured one and its
	// noisy neighbour); empty is a device of the backend's own.
	Device string
}

// DefaultConfig returns the defaults: one server, fixed 1 ms service, no
// batching, seed 1, no stalls.
func DefaultConfig() Config {
	return Config{Servers: 1, Latency: time.Millisecond, Dist: Fixed, Sigma: 0.5, Batch: 1, Seed: 1}
}

// ParseConfig reads a Config from options, starting from DefaultConfig, and
// validates it.
func ParseConfig(opts map[string]string) (Config, error) {
	if err := backend.CheckKnown(opts, OptServers, OptLatency, OptDist, OptSigma, OptBatch, OptSeed, OptStall, OptStallEvery, OptDevice); err != nil {
		return Config{}, fmt.Errorf("sim: %w", err)
	}
	c := DefaultConfig()
	r := backend.NewReader(opts)
	r.Int(OptServers, &c.Servers)
	r.Duration(OptLatency, &c.Latency)
	dist := string(c.Dist)
	r.String(OptDist, &dist)
	c.Dist = Dist(dist)
	r.Float(OptSigma, &c.Sigma)
	if r.Has(OptSigma) && c.Dist != Lognormal {
		r.Fail(fmt.Errorf("option %s applies only to %s=%s", OptSigma, OptDist, Lognormal))
	}
	r.Int(OptBatch, &c.Batch)
	r.Seed(OptSeed, &c.Seed)
	r.Duration(OptStall, &c.Stall)
	r.Int(OptStallEvery, &c.StallEvery)
	r.String(OptDevice, &c.Device)
	if err := r.Err(); err != nil {
		return Config{}, fmt.Errorf("sim: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.Servers < 1 {
		errs = append(errs, fmt.Errorf("%s=%d: want at least 1", OptServers, c.Servers))
	}
	if c.Latency <= 0 {
		errs = append(errs, fmt.Errorf("%s=%v: want a positive duration", OptLatency, c.Latency))
	}
	switch c.Dist {
	case Fixed, Exponential:
	case Lognormal:
		if !(c.Sigma > 0) || math.IsInf(c.Sigma, 0) {
			errs = append(errs, fmt.Errorf("%s=%v: want a positive number", OptSigma, c.Sigma))
		}
	default:
		errs = append(errs, fmt.Errorf("%s=%q: want fixed, exponential or lognormal", OptDist, c.Dist))
	}
	if c.Batch < 1 {
		errs = append(errs, fmt.Errorf("%s=%d: want at least 1", OptBatch, c.Batch))
	}
	if c.Stall < 0 {
		errs = append(errs, fmt.Errorf("%s=%v: want 0 or more", OptStall, c.Stall))
	}
	if c.StallEvery < 0 {
		errs = append(errs, fmt.Errorf("%s=%d: want 0 or more", OptStallEvery, c.StallEvery))
	}
	if (c.Stall > 0) != (c.StallEvery > 0) {
		errs = append(errs, fmt.Errorf("%s and %s: set both or neither", OptStall, OptStallEvery))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	return nil
}

// Options returns c as the options New takes, every one stated: what the
// device runs with, defaults included.
func (c Config) Options() map[string]string {
	m := map[string]string{
		OptServers: strconv.Itoa(c.Servers), OptLatency: c.Latency.String(), OptDist: string(c.Dist),
		OptBatch: strconv.Itoa(c.Batch), OptSeed: strconv.FormatUint(c.Seed, 10),
	}
	if c.Dist == Lognormal {
		m[OptSigma] = strconv.FormatFloat(c.Sigma, 'g', -1, 64)
	}
	if c.StallEvery > 0 {
		m[OptStall], m[OptStallEvery] = c.Stall.String(), strconv.Itoa(c.StallEvery)
	}
	if c.Device != "" {
		m[OptDevice] = c.Device
	}
	return m
}

// options renders c as the options that give it, for messages.
func (c Config) options() string {
	s := fmt.Sprintf("%s=%d %s=%v %s=%s %s=%d %s=%d", OptServers, c.Servers, OptLatency, c.Latency, OptDist, c.Dist, OptBatch, c.Batch, OptSeed, c.Seed)
	if c.Dist == Lognormal {
		s += fmt.Sprintf(" %s=%v", OptSigma, c.Sigma)
	}
	if c.StallEvery > 0 {
		s += fmt.Sprintf(" %s=%v %s=%d", OptStall, c.Stall, OptStallEvery, c.StallEvery)
	}
	return s
}

// Capacity returns the saturation throughput in samples per second:
// Servers·Batch/Latency, less the time lost to stalls. It is the Offline
// throughput the simulated device delivers; a shared device divides it
// among its users.
func (c Config) Capacity() float64 {
	perSample := c.Latency.Seconds() / float64(c.Servers*c.Batch)
	if c.StallEvery > 0 {
		perSample += c.Stall.Seconds() / float64(c.StallEvery)
	}
	return 1 / perSample
}

// serviceTimes draws service times in nanoseconds.
type serviceTimes struct {
	rng   *rand.Rand
	dist  Dist
	mean  float64 // ns
	mu    float64 // lognormal location
	sigma float64
}

func newServiceTimes(c Config) *serviceTimes {
	mean := float64(c.Latency)
	return &serviceTimes{
		rng:   rand.New(rand.NewPCG(c.Seed, 0x5eed_5eed_5eed_5eed)),
		dist:  c.Dist,
		mean:  mean,
		mu:    math.Log(mean) - c.Sigma*c.Sigma/2,
		sigma: c.Sigma,
	}
}

func (s *serviceTimes) next() int64 {
	switch s.dist {
	case Exponential:
		return int64(math.Round(s.rng.ExpFloat64() * s.mean))
	case Lognormal:
		return int64(math.Round(math.Exp(s.mu + s.sigma*s.rng.NormFloat64())))
	}
	return int64(s.mean)
}
