package interference

import (
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
)

// The kinds of load.
const (
	KindCPU             = "cpu"
	KindMemoryBandwidth = "memory-bandwidth"
	KindNetwork         = "network"
	KindDisk            = "disk"
	KindGPU             = "gpu"
	// KindNetworkSink receives a network load's streams on a peer agent.
	// The coordinator starts it there itself; a plan does not name it.
	KindNetworkSink = "network-sink"
)

// Kinds lists the kinds, in the order the documentation gives them.
func Kinds() []string {
	return []string{KindCPU, KindMemoryBandwidth, KindNetwork, KindDisk, KindGPU}
}

// Defaults of a Spec's zero fields.
const (
	DefaultCores     = 1
	DefaultDutyCycle = 1.0
	DefaultStreams   = 1
	DefaultBlockKB   = 64
	DefaultFileMB    = 256
	// DefaultConcurrency keeps a flat-out gpu load's backend busy through
	// a host's scheduling stalls: more samples in flight than a fast device
	// completes while the load waits to be scheduled.
	DefaultConcurrency = 256
	// minBufferMB is the smallest default memory-bandwidth buffer; the
	// default is four times the last-level cache when that is larger.
	minBufferMB = 64
)

// Limits that keep a typo from asking for more than any host has.
const (
	maxCores       = 1024
	maxBufferMB    = 64 << 10
	maxStreams     = 256
	maxBlockKB     = 64 << 10
	maxFileMB      = 64 << 10
	maxConcurrency = 1 << 16
)

// Spec is one neighbour load: its kind, how hard it runs and the cores or
// share it takes. The JSON names are the plan's.
type Spec struct {
	Kind string `json:"kind"`
	// Cores is how many threads a cpu or memory-bandwidth load keeps busy.
	Cores int `json:"cores,omitempty"`
	// DutyCycle is the share of each period a cpu load's thread is busy,
	// in (0, 1].
	DutyCycle float64 `json:"duty_cycle,omitempty"`
	// BufferMB is the memory-bandwidth load's working set, split among its
	// cores; zero is four times the last-level cache (at least 64 MiB).
	BufferMB int `json:"buffer_mb,omitempty"`
	// RateMBps caps a memory-bandwidth, network or disk load (MB/s, 10^6
	// bytes); zero runs flat out.
	RateMBps float64 `json:"rate_mbps,omitempty"`
	// Streams is how many TCP connections a network load keeps busy.
	Streams int `json:"streams,omitempty"`
	// BlockKB is the size of each disk write (each followed by fsync) and
	// of each network send.
	BlockKB int `json:"block_kb,omitempty"`
	// FileMB is how large the disk load's file grows before it is written
	// again from the start.
	FileMB int `json:"file_mb,omitempty"`
	// Backend names the backend a gpu load drives: one the neighbour's
	// agent offers (Describe lists them).
	Backend string `json:"backend,omitempty"`
	// QPS is a gpu load's Poisson arrival rate in samples/s; zero drives
	// the backend flat out with Concurrency samples in flight.
	QPS         float64 `json:"qps,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
	// Seed seeds a gpu load's arrivals.
	Seed uint64 `json:"seed,omitempty"`
	// Peer is where a network load sends its streams, host:port of a
	// network-sink on a peer agent, with the token the sink asks for;
	// empty streams over loopback.
	Peer      string `json:"peer,omitempty"`
	PeerToken string `json:"peer_token,omitempty"`
}

// WithDefaults returns s with its zero fields given their defaults for its
// kind; the fields another kind uses stay zero.
func (s Spec) WithDefaults() Spec {
	switch s.Kind {
	case KindCPU:
		s.Cores = cmpOr(s.Cores, DefaultCores)
		if s.DutyCycle == 0 {
			s.DutyCycle = DefaultDutyCycle
		}
	case KindMemoryBandwidth:
		s.Cores = cmpOr(s.Cores, DefaultCores)
		if s.BufferMB == 0 {
			s.BufferMB = defaultBufferMB()
		}
	case KindNetwork:
		s.Streams = cmpOr(s.Streams, DefaultStreams)
		s.BlockKB = cmpOr(s.BlockKB, DefaultBlockKB)
	case KindDisk:
		s.BlockKB = cmpOr(s.BlockKB, DefaultBlockKB)
		s.FileMB = cmpOr(s.FileMB, DefaultFileMB)
	case KindGPU:
		if s.QPS == 0 {
			s.Concurrency = cmpOr(s.Concurrency, DefaultConcurrency)
		}
	}
	return s
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// FieldError is one problem with a Spec: the field's JSON name and what is
// wrong with it.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Validate reports every problem with s, each a *FieldError: an unknown
// kind, a value out of range, or a field its kind does not use.
func (s Spec) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	uses := map[string][]string{
		KindCPU:             {"cores", "duty_cycle"},
		KindMemoryBandwidth: {"cores", "buffer_mb", "rate_mbps"},
		KindNetwork:         {"streams", "block_kb", "rate_mbps", "peer", "peer_token"},
		KindNetworkSink:     {},
		KindDisk:            {"block_kb", "file_mb", "rate_mbps"},
		KindGPU:             {"backend", "qps", "concurrency", "seed"},
	}
	used, ok := uses[s.Kind]
	if !ok {
		bad("kind", "must be one of %s, got %q", strings.Join(Kinds(), ", "), s.Kind)
		return errors.Join(errs...)
	}
	set := map[string]bool{
		"cores": s.Cores != 0, "duty_cycle": s.DutyCycle != 0, "buffer_mb": s.BufferMB != 0,
		"rate_mbps": s.RateMBps != 0, "streams": s.Streams != 0, "block_kb": s.BlockKB != 0,
		"file_mb": s.FileMB != 0, "backend": s.Backend != "", "qps": s.QPS != 0,
		"concurrency": s.Concurrency != 0, "seed": s.Seed != 0, "peer": s.Peer != "", "peer_token": s.PeerToken != "",
	}
	for _, f := range []string{"cores", "duty_cycle", "buffer_mb", "rate_mbps", "streams", "block_kb", "file_mb", "backend", "qps", "concurrency", "seed", "peer", "peer_token"} {
		if set[f] && !slices.Contains(used, f) {
			bad(f, "does not apply to a %s load (it takes %s)", s.Kind, strings.Join(used, ", "))
		}
	}
	intRange := func(field string, v, hi int) {
		if v < 0 || v > hi {
			bad(field, "must be between 1 and %d, got %d", hi, v)
		}
	}
	intRange("cores", s.Cores, maxCores)
	intRange("buffer_mb", s.BufferMB, maxBufferMB)
	intRange("streams", s.Streams, maxStreams)
	intRange("block_kb", s.BlockKB, maxBlockKB)
	intRange("file_mb", s.FileMB, maxFileMB)
	intRange("concurrency", s.Concurrency, maxConcurrency)
	if d := s.DutyCycle; d != 0 && !(d > 0 && d <= 1) {
		bad("duty_cycle", "must be in (0, 1], got %v", d)
	}
	if r := s.RateMBps; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		bad("rate_mbps", "must be 0 (flat out) or a positive number, got %v", r)
	}
	if q := s.QPS; q < 0 || math.IsNaN(q) || math.IsInf(q, 0) {
		bad("qps", "must be 0 (flat out) or a positive number, got %v", q)
	}
	if s.Kind == KindGPU {
		if s.Backend == "" {
			bad("backend", "a gpu load needs the name of a backend the neighbour's agent offers")
		}
		if s.QPS > 0 && s.Concurrency != 0 {
			bad("concurrency", "applies only flat out (qps 0); at a set qps arrivals are open-loop")
		}
	}
	if s.Peer != "" {
		if host, port, err := net.SplitHostPort(s.Peer); err != nil || host == "" || port == "" {
			bad("peer", "must be host:port, got %q", s.Peer)
		}
		if s.PeerToken == "" {
			bad("peer_token", "a peer's sink asks for its token")
		}
	}
	if s.Kind == KindDisk && s.BlockKB > 0 && s.FileMB > 0 && s.BlockKB > s.FileMB<<10 {
		bad("block_kb", "%d KiB is larger than file_mb (%d MiB)", s.BlockKB, s.FileMB)
	}
	return errors.Join(errs...)
}

// Describe says in a few words what the load does, defaults applied.
func (s Spec) Describe() string {
	s = s.WithDefaults()
	rate := func() string {
		if s.RateMBps > 0 {
			return fmt.Sprintf("capped at %g MB/s", s.RateMBps)
		}
		return "flat out"
	}
	switch s.Kind {
	case KindCPU:
		return fmt.Sprintf("%s busy %g%% of the time", plural(s.Cores, "core", "cores"), 100*s.DutyCycle)
	case KindMemoryBandwidth:
		return fmt.Sprintf("streaming copy over %d MiB on %s, %s", s.BufferMB, plural(s.Cores, "core", "cores"), rate())
	case KindNetwork:
		to := "over loopback"
		if s.Peer != "" {
			to = "to a peer agent at " + s.Peer
		}
		return fmt.Sprintf("%s %s, %s", plural(s.Streams, "TCP stream", "TCP streams"), to, rate())
	case KindNetworkSink:
		return "a sink for a network load's TCP streams"
	case KindDisk:
		return fmt.Sprintf("fsync'd %d KiB writes over a %d MiB file, %s", s.BlockKB, s.FileMB, rate())
	case KindGPU:
		if s.QPS > 0 {
			return fmt.Sprintf("backend %s at %g samples/s (Poisson)", s.Backend, s.QPS)
		}
		return fmt.Sprintf("backend %s flat out (%d samples in flight)", s.Backend, s.Concurrency)
	}
	return s.Kind
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
