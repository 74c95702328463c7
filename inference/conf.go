package inference

import (
	"bufio"
	_ "embed"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

//go:embed mlperf.conf
var builtinConf string

// confEntry is one `model.scenario.key = value` line.
type confEntry struct {
	model, scenario, key string
	value                float64
	raw                  string // the value's text, for integers beyond float64
	line                 int
}

// Conf is a parsed LoadGen config file (mlperf.conf or user.conf).
type Conf struct {
	name    string
	entries map[string]confEntry // by model.scenario.key
}

// ParseConf reads LoadGen's config format: one `model.scenario.key = value`
// per line, `#` comments, numeric values. name labels errors.
func ParseConf(name, text string) (*Conf, error) {
	c := &Conf{name: name, entries: map[string]confEntry{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		lhs, rhs, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want model.scenario.key = value, got %q", name, n, line)
		}
		lhs = strings.TrimSpace(lhs)
		// Model keys may contain dots (wan-2.2-t2v-a14b), so split from the right.
		k := strings.LastIndexByte(lhs, '.')
		if k < 0 {
			return nil, fmt.Errorf("%s:%d: want model.scenario.key, got %q", name, n, lhs)
		}
		s := strings.LastIndexByte(lhs[:k], '.')
		if s < 0 {
			return nil, fmt.Errorf("%s:%d: want model.scenario.key, got %q", name, n, lhs)
		}
		e := confEntry{model: lhs[:s], scenario: lhs[s+1 : k], key: lhs[k+1:], line: n}
		if e.scenario != "*" {
			if _, err := ParseScenario(e.scenario); err != nil || strings.Contains(e.scenario, "-") {
				return nil, fmt.Errorf("%s:%d: unknown scenario %q (want SingleStream, MultiStream, Server, Offline or *)", name, n, e.scenario)
			}
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rhs), 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: value %q is not a number", name, n, lhs, strings.TrimSpace(rhs))
		}
		e.value, e.raw = v, strings.TrimSpace(rhs)
		c.entries[e.model+"."+e.scenario+"."+e.key] = e
	}
	return c, sc.Err()
}

// lookup finds key with LoadGen's precedence: model.scenario > *.scenario >
// model.* > *.*.
func (c *Conf) lookup(model string, sc Scenario, key string) (float64, bool) {
	for _, k := range []string{
		model + "." + sc.String() + "." + key,
		"*." + sc.String() + "." + key,
		model + ".*." + key,
		"*.*." + key,
	} {
		if e, ok := c.entries[k]; ok {
			return e.value, true
		}
	}
	return 0, false
}

// models lists the model keys the file names explicitly.
func (c *Conf) models() []string {
	seen := map[string]bool{}
	for _, e := range c.entries {
		if e.model != "*" {
			seen[e.model] = true
		}
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// seedKeys are read only from the built-in mlperf.conf, as in LoadGen, so a
// user.conf cannot change them.
var seedKeys = map[string]bool{
	"qsl_rng_seed": true, "sample_index_rng_seed": true, "schedule_rng_seed": true,
	"accuracy_log_probability": true,
}

// Apply sets the fields of s that the file holds for model and s.Scenario,
// with LoadGen's units: latencies in ms, percentiles in percent. Official
// controls whether the seed keys are honoured (only for mlperf.conf).
func (c *Conf) Apply(s *TestSettings, model string, official bool) {
	sc := s.Scenario
	get := func(key string) (float64, bool) {
		if seedKeys[key] && !official {
			return 0, false
		}
		return c.lookup(model, sc, key)
	}
	u64 := func(key string, dst *uint64) {
		if v, ok := get(key); ok {
			*dst = uint64(v)
		}
	}
	flag := func(key string, dst *bool) {
		if v, ok := get(key); ok {
			*dst = v != 0
		}
	}
	if official {
		// Seeds do not survive a float64 round trip, so read them exactly.
		for key, dst := range map[string]*uint64{
			"qsl_rng_seed": &s.QSLRNGSeed, "sample_index_rng_seed": &s.SampleIndexRNGSeed, "schedule_rng_seed": &s.ScheduleRNGSeed,
		} {
			if v, ok := c.exactUint(model, sc, key); ok {
				*dst = v
			}
		}
		if v, ok := get("accuracy_log_probability"); ok {
			s.AccuracyLogProbability = v * 0.01
		}
	}
	if v, ok := get("target_latency_percentile"); ok {
		switch sc {
		case SingleStream:
			s.SingleStreamTargetLatencyPercentile = v * 0.01
		case MultiStream:
			s.MultiStreamTargetLatencyPercentile = v * 0.01
		case Server:
			s.ServerTargetLatencyPercentile = v * 0.01
		}
	}
	if v, ok := get("target_latency"); ok {
		switch sc {
		case SingleStream:
			s.SingleStreamExpectedLatencyNs = v * 1e6
		case MultiStream:
			s.MultiStreamExpectedLatencyNs = v * 1e6
		case Server:
			// LoadGen parses the Server bound as integer ms.
			s.ServerTargetLatencyNs = uint64(math.Trunc(v)) * 1e6
		}
	}
	// Token bounds are looked up under Server whatever the scenario.
	if v, ok := c.lookup(model, Server, "ttft_latency"); ok {
		s.ServerTTFTLatencyNs = uint64(v * 1e6)
	}
	if v, ok := c.lookup(model, Server, "tpot_latency"); ok {
		s.ServerTPOTLatencyNs = uint64(v * 1e6)
	}
	if v, ok := get("target_qps"); ok {
		switch sc {
		case Server:
			s.ServerTargetQPS = v
		case Offline:
			s.OfflineExpectedQPS = v
		}
	}
	if sc == MultiStream {
		u64("samples_per_query", &s.MultiStreamSamplesPerQuery)
	}
	if sc == Server {
		flag("coalesce_queries", &s.ServerCoalesceQueries)
		u64("max_async_queries", &s.ServerMaxAsyncQueries)
	}
	u64("min_duration", &s.MinDurationMs)
	u64("max_duration", &s.MaxDurationMs)
	u64("min_query_count", &s.MinQueryCount)
	u64("max_query_count", &s.MaxQueryCount)
	u64("performance_sample_count_override", &s.PerformanceSampleCountOverride)
	u64("accuracy_sample_count_override", &s.AccuracySampleCountOverride)
	flag("sample_concatenate_permutation", &s.SampleConcatenatePermutation)
	flag("use_token_latencies", &s.UseTokenLatencies)
	flag("infer_token_latencies", &s.InferTokenLatencies)
	u64("token_latency_scaling_factor", &s.TokenLatencyScalingFactor)
	flag("performance_issue_unique", &s.PerformanceIssueUnique)
	flag("performance_issue_same", &s.PerformanceIssueSame)
	u64("performance_issue_same_index", &s.PerformanceIssueSameIndex)
	flag("print_timestamps", &s.PrintTimestamps)
	u64("accuracy_log_rng_seed", &s.AccuracyLogRNGSeed)
	u64("accuracy_log_sampling_target", &s.AccuracyLogSamplingTarget)
	if v, ok := get("mode"); ok {
		s.Mode = Mode(int(v))
	}
}

// exactUint re-reads an integer key from its text, since 64-bit seeds do
// not survive a float64 round trip.
func (c *Conf) exactUint(model string, sc Scenario, key string) (uint64, bool) {
	for _, k := range []string{model + "." + sc.String() + "." + key, "*." + sc.String() + "." + key, model + ".*." + key, "*.*." + key} {
		if e, ok := c.entries[k]; ok {
			v, err := strconv.ParseUint(e.raw, 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// MLPerfConf returns the built-in mlperf.conf.
func MLPerfConf() *Conf {
	c, err := ParseConf("mlperf.conf", builtinConf)
	if err != nil {
		panic(err) // the embedded file is tested
	}
	return c
}
