package backend

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrUnknownOption is wrapped by CheckKnown's error.
var ErrUnknownOption = errors.New("unknown option")

// ParseOptions turns KEY=VALUE strings into a map. A key may not be empty
// or given twice; the value may be empty. The error names the bad entry.
func ParseOptions(kv []string) (map[string]string, error) {
	opts := make(map[string]string, len(kv))
	for _, e := range kv {
		k, v, ok := strings.Cut(e, "=")
		if !ok {
			return nil, fmt.Errorf("option %q: want KEY=VALUE", e)
		}
		if k == "" {
			return nil, fmt.Errorf("option %q: empty key", e)
		}
		if _, dup := opts[k]; dup {
			return nil, fmt.Errorf("option %q: %s given twice", e, k)
		}
		opts[k] = v
	}
	return opts, nil
}

// CheckKnown returns an error wrapping ErrUnknownOption that lists every key
// of opts not among known, or nil when there is none.
func CheckKnown(opts map[string]string, known ...string) error {
	var unknown []string
	for k := range opts {
		if !slices.Contains(known, k) {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	want := "none"
	if len(known) > 0 {
		want = strings.Join(slices.Sorted(slices.Values(known)), ", ")
	}
	return fmt.Errorf("%w %s (known: %s)", ErrUnknownOption, strings.Join(unknown, ", "), want)
}

// String returns option key, or def when it is not set.
func String(opts map[string]string, key, def string) string {
	if v, ok := opts[key]; ok {
		return v
	}
	return def
}

// Duration returns option key as a Go duration ("2ms", "1.5s"), or def when
// it is not set.
func Duration(opts map[string]string, key string, def time.Duration) (time.Duration, error) {
	v, ok := opts[key]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("option %s=%q: want a duration such as 2ms: %w", key, v, err)
	}
	return d, nil
}

// Int returns option key as a decimal integer, or def when it is not set.
func Int(opts map[string]string, key string, def int) (int, error) {
	v, ok := opts[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("option %s=%q: want an integer: %w", key, v, err)
	}
	return n, nil
}

// Bool returns option key as true or false (or any other form
// strconv.ParseBool reads: 1, 0, t, f), or def when it is not set.
func Bool(opts map[string]string, key string, def bool) (bool, error) {
	v, ok := opts[key]
	if !ok {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("option %s=%q: want true or false: %w", key, v, err)
	}
	return b, nil
}

// Float returns option key as a floating-point number, or def when it is
// not set.
func Float(opts map[string]string, key string, def float64) (float64, error) {
	v, ok := opts[key]
	if !ok {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("option %s=%q: want a number: %w", key, v, err)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("option %s=%q: want a finite number", key, v)
	}
	return f, nil
}
