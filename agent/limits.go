package agent

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/internal/sysmem"
)

// Limits bound what one RunRequest may make the agent do. The agent holds
// every request to them itself: it does not trust its coordinator.
type Limits struct {
	// MaxRunMemory is the most memory one run may need, as the load
	// generator estimates it from the settings before allocating: a share
	// of the memory this process may use ("50%", the default) or a size
	// ("8GiB", "512MiB", "2GB", or bytes).
	MaxRunMemory string `mapstructure:"max_run_memory"`
	// MaxRunDuration bounds one RunRequest from start to result, warm-up,
	// peak search and drain included (a Go duration, default 24h). A run
	// whose settings need longer is refused; one that overruns is stopped.
	MaxRunDuration string `mapstructure:"max_run_duration"`
}

// Defaults of Limits.
const (
	DefaultMaxRunMemory   = "50%"
	DefaultMaxRunDuration = 24 * time.Hour
)

// minRunMemory is the least max_run_memory may be: the warm-up's fixed
// arrays and a small run.
const minRunMemory = 48 << 20

// limits are Limits resolved against this host.
type limits struct {
	memory uint64
	// memoryName says where memory comes from, for errors:
	// "max_run_memory 50% of 23.4 GiB".
	memoryName string
	duration   time.Duration
}

// resolve turns l into numbers; hostMemory returns the memory this process
// may use (sysmem.Total), read only when a share needs it.
func (l Limits) resolve(hostMemory func() (uint64, string, error)) (limits, error) {
	out, errs := l.problems(hostMemory)
	return out, errors.Join(errs...)
}

// problems is resolve with every problem apart, each naming its field.
func (l Limits) problems(hostMemory func() (uint64, string, error)) (limits, []error) {
	var out limits
	var errs []error
	mem := l.MaxRunMemory
	if mem == "" {
		mem = DefaultMaxRunMemory
	}
	if pct, ok := strings.CutSuffix(strings.TrimSpace(mem), "%"); ok {
		p, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		switch {
		case err != nil || !(p > 0 && p <= 100):
			errs = append(errs, fmt.Errorf("max_run_memory: %q is not a share between 0%% and 100%%", mem))
		default:
			total, from, err := hostMemory()
			if err != nil {
				errs = append(errs, fmt.Errorf("max_run_memory %s: the host's memory: %w (give a size instead, such as 8GiB)", mem, err))
				break
			}
			out.memory = uint64(float64(total) * p / 100)
			out.memoryName = fmt.Sprintf("max_run_memory %s of %s (%s)", mem, inference.FormatBytes(total), from)
		}
	} else {
		n, err := ParseSize(mem)
		if err != nil {
			errs = append(errs, fmt.Errorf("max_run_memory: %w", err))
		}
		out.memory, out.memoryName = n, "max_run_memory "+mem
	}
	if len(errs) == 0 && out.memory < minRunMemory {
		errs = append(errs, fmt.Errorf("max_run_memory: %s is below the least a run needs, %s", inference.FormatBytes(out.memory), inference.FormatBytes(minRunMemory)))
	}
	out.duration = DefaultMaxRunDuration
	if l.MaxRunDuration != "" {
		d, err := time.ParseDuration(l.MaxRunDuration)
		if err != nil || d < time.Second {
			errs = append(errs, fmt.Errorf("max_run_duration: %q is not a duration of a second or more (such as 24h)", l.MaxRunDuration))
		}
		out.duration = d
	}
	return out, errs
}

// ParseSize reads a size in bytes: a whole number, optionally followed by
// B, KB/MB/GB/TB (powers of 1000) or KiB/MiB/GiB/TiB (powers of 1024).
func ParseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a size (such as 8GiB, 512MiB or 1073741824)", s)
	}
	mult := map[string]uint64{
		"": 1, "B": 1,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)", s, unit)
	}
	if n > math.MaxUint64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// runDuration is the least time a request's settings need: the warm-up,
// the minimum duration and the drain.
func runDuration(s inference.TestSettings) time.Duration {
	ms := s.WarmupMs + s.MinDurationMs + s.DrainTimeoutMs // each at most 30 days
	return time.Duration(ms) * time.Millisecond
}

// checkLimits refuses settings that would take the agent past its limits,
// naming the settings and the limit. maxDetail is the most the detail log
// may be, so the result fits in one message.
func (l limits) check(s inference.TestSettings, qsl inference.QSL, maxDetail uint64) error {
	f := inference.EstimateFootprint(s, qsl)
	if err := f.CheckMemory(l.memory, l.memoryName); err != nil {
		return err
	}
	if err := f.CheckDetail(maxDetail, "the result must fit in --max-msg-bytes"); err != nil {
		return err
	}
	if d := runDuration(s); l.duration > 0 && d > l.duration {
		return fmt.Errorf("warmup_ms %d + min_duration_ms %d + drain_timeout_ms %d: the run needs at least %s, above the limit of %s (max_run_duration)",
			s.WarmupMs, s.MinDurationMs, s.DrainTimeoutMs, d, l.duration)
	}
	return nil
}

// hostMemory is sysmem.Total.
func hostMemory() (uint64, string, error) { return sysmem.Total() }
