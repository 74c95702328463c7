package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"unicode"
)

// WithLabels gives the agent labels that Describe reports: what a plan's
// discovery selectors match on besides the fingerprint (pool=vks, a
// Kubernetes node's name or labels passed down by the chart).
func WithLabels(labels map[string]string) Option {
	return func(s *Server) { s.labels = maps.Clone(labels) }
}

// ParseLabels reads KEY=VALUE pairs, as --label gives them, into labels,
// naming the flag in errors. A key given twice is an error, since which one
// was meant is a guess.
func ParseLabels(labels map[string]string, pairs []string, flag string) error {
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("%s %q: want KEY=VALUE", flag, kv)
		}
		if err := addLabel(labels, strings.TrimSpace(k), v); err != nil {
			return fmt.Errorf("%s %q: %w", flag, kv, err)
		}
	}
	return nil
}

// ReadLabelFile adds the labels in path to labels. The format is the
// Kubernetes downward API's labels and annotations file, one KEY="VALUE"
// a line with the value quoted as in Go; an unquoted KEY=VALUE line, blank
// lines and # comments are accepted too, for files written by hand.
func ReadLabelFile(labels map[string]string, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--label-file: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("--label-file %s:%d: want KEY=\"VALUE\", got %q", path, n, line)
		}
		if strings.HasPrefix(v, `"`) {
			if v, err = strconv.Unquote(v); err != nil {
				return fmt.Errorf("--label-file %s:%d: the value of %s is not a quoted string", path, n, k)
			}
		}
		if err := addLabel(labels, strings.TrimSpace(k), v); err != nil {
			return fmt.Errorf("--label-file %s:%d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("--label-file %s: %w", path, err)
	}
	return nil
}

func addLabel(labels map[string]string, k, v string) error {
	switch {
	case k == "":
		return fmt.Errorf("empty key")
	case strings.ContainsFunc(k, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }):
		return fmt.Errorf("key %q holds white space or control characters", k)
	case strings.ContainsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' || r == 0 }):
		return fmt.Errorf("the value of %s holds a line break", k)
	}
	if old, dup := labels[k]; dup && old != v {
		return fmt.Errorf("label %s is already %q", k, old)
	}
	labels[k] = v
	return nil
}
