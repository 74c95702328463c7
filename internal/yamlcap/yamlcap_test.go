package yamlcap

import (
	"strings"
	"testing"
)

func TestDepth(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want int
	}{
		{"flat", "a: 1\nb: 2\n", 1},
		{"mapping", "a:\n  b:\n    c: 1\n", 3},
		{"back out", "a:\n  b: 1\nc:\n  d: 1\n", 2},
		{"sequence of mappings", "agents:\n  - name: a\n    role: b\n  - name: c\n", 3},
		{"nested dashes", "a:\n  - - - x\n", 5},
		{"flow", "a: [[1, 2], {b: [3]}]\n", 4},
		{"flow across lines", "a: [\n  [1,\n   2],\n]\n", 3},
		{"brackets in quotes", "a: \"[[[[\"\nb: '{{{{'\nc: it''s [x\n", 2},
		{"brackets in a comment", "a: 1 # [[[[[[\n", 1},
		{"block scalar", "a: |\n  x\n      y\n          z\nb: 1\n", 1},
		{"folded block scalar", "a: >-\n  x\n    y\n", 1},
		{"comment lines", "a:\n        # deep comment\n  b: 1\n", 2},
	} {
		if got, _ := Depth([]byte(tc.yaml)); got != tc.want {
			t.Errorf("%s: Depth = %d; want %d", tc.name, got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	var deep strings.Builder
	deep.WriteString("version: v1\n")
	for i := range 1000 {
		deep.WriteString(strings.Repeat(" ", i) + "a:\n")
	}
	err := Check([]byte(deep.String()), MaxBytes, MaxDepth)
	if err == nil || !strings.Contains(err.Error(), "line 66: nested 65 levels deep") {
		t.Errorf("1000 levels: %v; want an error at line 66", err)
	}
	flow := "a: " + strings.Repeat("[", 100) + strings.Repeat("]", 100)
	if err := Check([]byte(flow), MaxBytes, MaxDepth); err == nil {
		t.Error("100 flow levels: no error")
	}
	dashes := strings.Repeat("- ", 100) + "x"
	if err := Check([]byte("a:\n  "+dashes), MaxBytes, MaxDepth); err == nil {
		t.Error("100 dashes: no error")
	}
	if err := Check(make([]byte, MaxBytes+1), MaxBytes, MaxDepth); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("a file past the size: %v", err)
	}
	if err := Check([]byte("a:\n  b:\n    - c: [1, {d: 2}]\n"), MaxBytes, MaxDepth); err != nil {
		t.Errorf("a plan-shaped file: %v", err)
	}
}
