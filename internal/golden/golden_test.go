package golden

import (
	"fmt"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		want, got, diff string
	}{
		{"a\nb\nc\n", "a\nb\nc\n", "(no difference)"},
		{"a\nbcd\n", "a\nbXd\n", "line 2, column 2:\nwant: \"bcd\"\ngot:  \"bXd\""},
		{"a\n", "a\nmore\n", "line 2, column 1:\nwant: \"\"\ngot:  \"more\""},
		{"abc", "ab", "line 1, column 3:\nwant: \"abc\"\ngot:  \"ab\""},
	} {
		if d := Diff([]byte(tc.want), []byte(tc.got)); d != tc.diff {
			t.Errorf("Diff(%q, %q) =\n%s\nwant\n%s", tc.want, tc.got, d, tc.diff)
		}
	}
	long := strings.Repeat("x", 1000)
	d := Diff([]byte(long+"A"+long), []byte(long+"B"+long))
	if !strings.Contains(d, "column 1001") || len(d) > 700 || !strings.Contains(d, `…"`) {
		t.Errorf("long line: %s", d)
	}
}

// TestCheck runs Check against this package's own testdata file.
func TestCheck(t *testing.T) {
	if *update {
		t.Skip("-update rewrites the file this test reads")
	}
	Check(t, "hello.txt", []byte("hello\n"))
	ft := &fakeT{TB: t}
	Check(ft, "hello.txt", []byte("hullo\n"))
	if !ft.failed || !strings.Contains(ft.msg, `want: "hello"`) {
		t.Errorf("Check with different output: failed=%v msg=%q", ft.failed, ft.msg)
	}
}

type fakeT struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
}
