package backend_test

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference/backend"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    map[string]string
		wantErr string // substring; empty means success
	}{
		{name: "empty", in: nil, want: map[string]string{}},
		{name: "pairs", in: []string{"latency=2ms", "servers=4"}, want: map[string]string{"latency": "2ms", "servers": "4"}},
		{name: "value with equals", in: []string{"a=b=c"}, want: map[string]string{"a": "b=c"}},
		{name: "empty value", in: []string{"a="}, want: map[string]string{"a": ""}},
		{name: "no equals", in: []string{"latency=1ms", "servers"}, wantErr: `option "servers": want KEY=VALUE`},
		{name: "empty key", in: []string{"=3"}, wantErr: `option "=3": empty key`},
		{name: "duplicate", in: []string{"a=1", "a=2"}, wantErr: `option "a=2": a given twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := backend.ParseOptions(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseOptions(%q) = %v; want error containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || !maps.Equal(got, tc.want) {
				t.Fatalf("ParseOptions(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCheckKnown(t *testing.T) {
	opts := map[string]string{"latency": "1ms", "zeta": "1", "alpha": "2"}
	err := backend.CheckKnown(opts, "servers", "latency")
	if !errors.Is(err, backend.ErrUnknownOption) {
		t.Fatalf("CheckKnown() = %v; want ErrUnknownOption", err)
	}
	if want := `unknown option "alpha", "zeta" (known: latency, servers)`; err.Error() != want {
		t.Errorf("CheckKnown() = %q; want %q", err, want)
	}
	if err := backend.CheckKnown(map[string]string{"x": "1"}); err == nil || !strings.Contains(err.Error(), "known: none") {
		t.Errorf("CheckKnown(no known) = %v; want known: none", err)
	}
	if err := backend.CheckKnown(map[string]string{"latency": "1"}, "latency"); err != nil {
		t.Errorf("CheckKnown(known) = %v; want nil", err)
	}
}

func TestTypedOptions(t *testing.T) {
	opts := map[string]string{"d": "1.5ms", "i": "42", "f": "0.25", "s": "x", "b": "true", "bad": "nope", "nan": "NaN"}
	if got, err := backend.Duration(opts, "d", time.Second); err != nil || got != 1500*time.Microsecond {
		t.Errorf("Duration(d) = %v, %v; want 1.5ms", got, err)
	}
	if got, err := backend.Duration(opts, "missing", time.Second); err != nil || got != time.Second {
		t.Errorf("Duration(missing) = %v, %v; want the default 1s", got, err)
	}
	if got, err := backend.Int(opts, "i", 1); err != nil || got != 42 {
		t.Errorf("Int(i) = %v, %v; want 42", got, err)
	}
	if got, err := backend.Int(opts, "missing", 7); err != nil || got != 7 {
		t.Errorf("Int(missing) = %v, %v; want 7", got, err)
	}
	if got, err := backend.Float(opts, "f", 1); err != nil || got != 0.25 {
		t.Errorf("Float(f) = %v, %v; want 0.25", got, err)
	}
	if got, err := backend.Float(opts, "missing", 0.5); err != nil || got != 0.5 {
		t.Errorf("Float(missing) = %v, %v; want 0.5", got, err)
	}
	if got, err := backend.Bool(opts, "b", false); err != nil || !got {
		t.Errorf("Bool(b) = %v, %v; want true", got, err)
	}
	if got, err := backend.Bool(opts, "missing", true); err != nil || !got {
		t.Errorf("Bool(missing) = %v, %v; want the default true", got, err)
	}
	if got := backend.String(opts, "s", "def"); got != "x" {
		t.Errorf("String(s) = %q; want x", got)
	}
	if got := backend.String(opts, "missing", "def"); got != "def" {
		t.Errorf("String(missing) = %q; want def", got)
	}
	for name, call := range map[string]func() error{
		"Duration": func() error { _, err := backend.Duration(opts, "bad", 0); return err },
		"Int":      func() error { _, err := backend.Int(opts, "bad", 0); return err },
		"Float":    func() error { _, err := backend.Float(opts, "bad", 0); return err },
		"Bool":     func() error { _, err := backend.Bool(opts, "bad", false); return err },
	} {
		err := call()
		if err == nil || !strings.HasPrefix(err.Error(), `option bad="nope": `) {
			t.Errorf("%s(bad) = %v; want an error naming the option", name, err)
		}
		if errors.Unwrap(err) == nil {
			t.Errorf("%s(bad) = %v; want a wrapped parse error", name, err)
		}
	}
	if _, err := backend.Float(opts, "nan", 0); err == nil {
		t.Error("Float(NaN) = nil error; want one")
	}
}
