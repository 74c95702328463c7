package agent

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.names(), ","); got != "null,sim,cpu" {
		t.Errorf("default backends %s", got)
	}
}

func TestLoadConfig(t *testing.T) {
	path := writeConfig(t, `
backends:
  - name: a100-sim
    kind: sim
    options: {servers: 4, latency: 2ms}
  - {name: "null", kind: "null"}
`)
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Backends: []BackendConfig{
		{Name: "a100-sim", Kind: "sim", Options: map[string]string{"servers": "4", "latency": "2ms"}},
		{Name: "null", Kind: "null"},
	}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("loaded %+v, want %+v", c, want)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string // every one must appear
	}{
		{"unknown field", "backends:\n  - {name: a, kind: sim, colour: red}\n", []string{"backends[0]", "colour"}},
		{"unknown top-level field", "backend:\n  - {name: a, kind: sim}\n", []string{"backend", "did you mean backends?"}},
		{"misspelt backend field", "backends:\n  - {name: a, knd: sim}\n", []string{"backends[0]: unknown field knd; did you mean kind?"}},
		{"wrong type", "backends:\n  - {name: a, kind: [sim]}\n", []string{"backends[0].kind", "string"}},
		{"unknown kind", "backends:\n  - {name: a, kind: tpu}\n", []string{"backends[0].kind", `"tpu"`}},
		{"duplicate names", "backends:\n  - {name: a, kind: sim}\n  - {name: a, kind: cpu}\n", []string{"backends[1].name", `"a"`, "backends[0]"}},
		{"empty name", "backends:\n  - {kind: sim}\n", []string{"backends[0].name"}},
		{"unknown option", "backends:\n  - {name: a, kind: sim, options: {colour: red}}\n", []string{"backends[0].options", "colour"}},
		{"bad option", "backends:\n  - {name: a, kind: sim, options: {servers: many}}\n", []string{"backends[0].options", "servers"}},
		{"no backends", "backends: []\n", []string{"backends: none configured"}},
		{"empty file", "", []string{"backends: none configured"}},
		{"every problem at once", "backends:\n  - {name: a, kind: tpu}\n  - {name: a, kind: sim}\n", []string{"backends[0].kind", "backends[1].name"}},
		{"not yaml", "backends: [\n", []string{"agent.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.text)
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.yaml")
		if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("error %v does not name %s", err, path)
		}
	})
}
