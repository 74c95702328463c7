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

// Reader reads a backend's options into the fields of its Config. A field
// keeps its value (the default) when its option is not set. Every problem
// is collected, so one error names every bad option; Err returns them.
type Reader struct {
	opts map[string]string
	errs []error
}

// NewReader reads opts.
func NewReader(opts map[string]string) *Reader { return &Reader{opts: opts} }

// Has reports whether option key is set.
func (r *Reader) Has(key string) bool {
	_, ok := r.opts[key]
	return ok
}

// Fail adds err to the problems found, unless it is nil.
func (r *Reader) Fail(err error) {
	if err != nil {
		r.errs = append(r.errs, err)
	}
}

// Err returns every problem found, joined, or nil.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// get returns option key's value parsed by parse, and whether it was set
// and parsed; a parse error names the option and what it wants.
func get[T any](r *Reader, key, want string, parse func(string) (T, error)) (T, bool) {
	var zero T
	v, ok := r.opts[key]
	if !ok {
		return zero, false
	}
	x, err := parse(v)
	if err != nil {
		r.Fail(fmt.Errorf("option %s=%q: want %s: %w", key, v, want, err))
		return zero, false
	}
	return x, true
}

// String sets *dst to option key.
func (r *Reader) String(key string, dst *string) {
	if v, ok := r.opts[key]; ok {
		*dst = v
	}
}

// Duration sets *dst to option key, a Go duration ("2ms", "1.5s").
func (r *Reader) Duration(key string, dst *time.Duration) {
	if d, ok := get(r, key, "a duration such as 2ms", time.ParseDuration); ok {
		*dst = d
	}
}

// Int sets *dst to option key, a decimal integer.
func (r *Reader) Int(key string, dst *int) {
	if n, ok := get(r, key, "an integer", strconv.Atoi); ok {
		*dst = n
	}
}

// Seed sets *dst to option key, a decimal integer of 0 or more.
func (r *Reader) Seed(key string, dst *uint64) {
	if n, ok := get(r, key, "a seed of 0 or more", func(v string) (uint64, error) { return strconv.ParseUint(v, 10, 64) }); ok {
		*dst = n
	}
}

// Bool sets *dst to option key: true or false (or any other form
// strconv.ParseBool reads: 1, 0, t, f).
func (r *Reader) Bool(key string, dst *bool) {
	if b, ok := get(r, key, "true or false", strconv.ParseBool); ok {
		*dst = b
	}
}

// Float sets *dst to option key, a finite number.
func (r *Reader) Float(key string, dst *float64) {
	f, ok := get(r, key, "a number", func(v string) (float64, error) { return strconv.ParseFloat(v, 64) })
	if ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
		r.Fail(fmt.Errorf("option %s=%q: want a finite number", key, r.opts[key]))
		return
	}
	if ok {
		*dst = f
	}
}
