package backend_test

import (
	"errors"
	"maps"
	"strconv"
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

func TestReader(t *testing.T) {
	opts := map[string]string{"d": "1.5ms", "i": "42", "f": "0.25", "s": "x", "b": "true", "seed": "7"}
	d, i, f, str, b, seed := time.Second, 1, 1.0, "def", false, uint64(3)
	md, mi, mf, ms, mb, mseed := time.Second, 7, 0.5, "def", true, uint64(3)
	r := backend.NewReader(opts)
	r.Duration("d", &d)
	r.Int("i", &i)
	r.Float("f", &f)
	r.String("s", &str)
	r.Bool("b", &b)
	r.Seed("seed", &seed)
	r.Duration("missing", &md)
	r.Int("missing", &mi)
	r.Float("missing", &mf)
	r.String("missing", &ms)
	r.Bool("missing", &mb)
	r.Seed("missing", &mseed)
	if err := r.Err(); err != nil {
		t.Fatalf("Err() = %v", err)
	}
	if d != 1500*time.Microsecond || i != 42 || f != 0.25 || str != "x" || !b || seed != 7 {
		t.Errorf("set: %v %v %v %q %v %v", d, i, f, str, b, seed)
	}
	if md != time.Second || mi != 7 || mf != 0.5 || ms != "def" || !mb || mseed != 3 {
		t.Errorf("defaults changed: %v %v %v %q %v %v", md, mi, mf, ms, mb, mseed)
	}
	if !r.Has("d") || r.Has("missing") {
		t.Error("Has: wrong")
	}
}

func TestReaderCollectsEveryProblem(t *testing.T) {
	opts := map[string]string{"bad": "nope", "nan": "NaN", "neg": "-1"}
	d, i, f, b, nan, seed := time.Second, 1, 1.0, true, 2.0, uint64(5)
	r := backend.NewReader(opts)
	r.Duration("bad", &d)
	r.Int("bad", &i)
	r.Float("bad", &f)
	r.Bool("bad", &b)
	r.Float("nan", &nan)
	r.Seed("neg", &seed)
	r.Fail(nil)
	err := r.Err()
	if err == nil {
		t.Fatal("Err() = nil")
	}
	for _, want := range []string{
		`option bad="nope": want a duration such as 2ms: `, `option bad="nope": want an integer: `,
		`option bad="nope": want a number: `, `option bad="nope": want true or false: `,
		`option nan="NaN": want a finite number`, `option neg="-1": want a seed of 0 or more`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Err() = %v; want it to contain %q", err, want)
		}
	}
	if got := len(strings.Split(err.Error(), "\n")); got != 6 {
		t.Errorf("Err() has %d lines; want 6:\n%v", got, err)
	}
	if d != time.Second || i != 1 || f != 1 || !b || nan != 2 || seed != 5 {
		t.Errorf("a bad value changed its field: %v %v %v %v %v %v", d, i, f, b, nan, seed)
	}
	var numErr *strconv.NumError
	if !errors.As(err, &numErr) {
		t.Errorf("Err() = %v; want the parse errors wrapped", err)
	}
}
