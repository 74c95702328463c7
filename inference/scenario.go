package inference

import (
	"fmt"
	"strings"
)

// Scenario is one of LoadGen's four test scenarios.
type Scenario int

// The scenarios, in LoadGen's enum order.
const (
	SingleStream Scenario = iota
	MultiStream
	Server
	Offline
)

// Scenarios lists every scenario in a stable order.
var Scenarios = []Scenario{Offline, Server, SingleStream, MultiStream}

// String returns LoadGen's spelling, as written in the logs.
func (s Scenario) String() string {
	switch s {
	case SingleStream:
		return "SingleStream"
	case MultiStream:
		return "MultiStream"
	case Server:
		return "Server"
	case Offline:
		return "Offline"
	}
	return fmt.Sprintf("Scenario(%d)", int(s))
}

// Flag returns the command-line spelling: offline, server, single-stream,
// multi-stream.
func (s Scenario) Flag() string {
	switch s {
	case SingleStream:
		return "single-stream"
	case MultiStream:
		return "multi-stream"
	}
	return strings.ToLower(s.String())
}

// ParseScenario accepts the command-line spelling or LoadGen's, in any case.
func ParseScenario(v string) (Scenario, error) {
	key := strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(v))
	for _, s := range Scenarios {
		if key == strings.ToLower(s.String()) {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown scenario %q (want offline, server, single-stream or multi-stream)", v)
}

// MarshalText writes LoadGen's spelling.
func (s Scenario) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText accepts what ParseScenario accepts.
func (s *Scenario) UnmarshalText(b []byte) error {
	v, err := ParseScenario(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Mode is LoadGen's test mode. gpuperf runs performance modes only: accuracy
// needs the real data set, which the backends do not ship.
type Mode int

// Modes, numbered as LoadGen's config key `mode` numbers them.
const (
	SubmissionRun Mode = iota
	AccuracyOnly
	PerformanceOnly
	FindPeakPerformance
)

func (m Mode) String() string {
	switch m {
	case SubmissionRun:
		return "SubmissionRun"
	case AccuracyOnly:
		return "AccuracyOnly"
	case PerformanceOnly:
		return "PerformanceOnly"
	case FindPeakPerformance:
		return "FindPeakPerformance"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// MarshalText writes LoadGen's spelling.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText accepts LoadGen's spelling.
func (m *Mode) UnmarshalText(b []byte) error {
	for _, v := range []Mode{SubmissionRun, AccuracyOnly, PerformanceOnly, FindPeakPerformance} {
		if strings.EqualFold(string(b), v.String()) {
			*m = v
			return nil
		}
	}
	return fmt.Errorf("unknown mode %q", b)
}
