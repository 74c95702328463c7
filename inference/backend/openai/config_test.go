package openai

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference/backend"
)

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig(map[string]string{OptURL: "http://127.0.0.1:8000/", OptModel: "m"})
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.URL, want.Model = "http://127.0.0.1:8000", "m"
	if c != want {
		t.Fatalf("config %+v; want %+v", c, want)
	}
	c, err = ParseConfig(map[string]string{
		OptURL: "https://llm.example:443", OptModel: "m", OptAPI: "chat", OptMaxTokens: "7", OptStream: "false",
		OptFixedLength: "false", OptInputTokens: "9", OptInputStddev: "2.5", OptSeed: "3", OptMaxInflight: "4",
		OptConnections: "2", OptRequestTimeout: "1s", OptStallTimeout: "2s", OptConnectTimeout: "3s", OptAPIKeyEnv: "KEY",
		OptMetrics: "https://llm.example:9090/metrics",
	})
	if err != nil {
		t.Fatal(err)
	}
	want = Config{
		URL: "https://llm.example:443", Model: "m", API: Chat, MaxTokens: 7, Stream: false, FixedLength: false,
		InputTokens: 9, InputStddev: 2.5, Seed: 3, MaxInflight: 4, Connections: 2,
		RequestTimeout: time.Second, StallTimeout: 2 * time.Second, ConnectTimeout: 3 * time.Second, APIKeyEnv: "KEY",
		Metrics: "https://llm.example:9090/metrics",
	}
	if c != want {
		t.Fatalf("config %+v; want %+v", c, want)
	}
}

func TestParseConfigErrors(t *testing.T) {
	base := func(kv ...string) map[string]string {
		m := map[string]string{OptURL: "http://127.0.0.1:8000", OptModel: "m"}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "<unset>" {
				delete(m, kv[i])
				continue
			}
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name string
		opts map[string]string
		want string // the message must contain it
	}{
		{"no url", base(OptURL, "<unset>"), "option url: missing"},
		{"no model", base(OptModel, "<unset>"), "option model: missing"},
		{"bad scheme", base(OptURL, "ftp://x:1"), "want http://HOST:PORT"},
		{"no host", base(OptURL, "http://"), "want http://HOST:PORT"},
		{"with /v1", base(OptURL, "http://x:1/v1"), "without /v1"},
		{"credentials in the url", base(OptURL, "http://u:secret@x:1"), "credentials in the URL"},
		{"query", base(OptURL, "http://x:1/?a=b"), "without a query"},
		{"bad api", base(OptAPI, "embeddings"), "want completions or chat"},
		{"zero max_tokens", base(OptMaxTokens, "0"), "max_tokens=0"},
		{"bad stream", base(OptStream, "maybe"), `stream="maybe"`},
		{"bad fixed_length", base(OptFixedLength, "2"), `fixed_length="2"`},
		{"zero input_tokens", base(OptInputTokens, "0"), "input_tokens=0"},
		{"negative stddev", base(OptInputStddev, "-1"), "input_stddev=-1"},
		{"negative seed", base(OptSeed, "-1"), `seed="-1": want a seed of 0 or more`},
		{"zero max_inflight", base(OptMaxInflight, "0"), "max_inflight=0"},
		{"negative connections", base(OptConnections, "-1"), "connections=-1"},
		{"zero stall timeout", base(OptStallTimeout, "0s"), "stall_timeout=0s"},
		{"bad timeout", base(OptRequestTimeout, "soon"), `request_timeout="soon"`},
		{"bad metrics", base(OptMetrics, "on"), `metrics="on": want auto, off or a URL`},
		{"credentials in the metrics url", base(OptMetrics, "http://u:secret@x:1/metrics"), "option metrics: credentials in the URL"},
		{"key value as the name", base(OptAPIKeyEnv, "sk-abc def"), "name of an environment variable"},
		{"synthetic option with a file", base(OptPrompts, "p.jsonl", OptInputTokens, "5"), "input_tokens applies only to synthetic prompts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "openai: ") {
				t.Fatalf("New(%v) = %v; want an error containing %q", tc.opts, err, tc.want)
			}
		})
	}
	if _, err := New(base("colour", "red")); !errors.Is(err, backend.ErrUnknownOption) {
		t.Errorf("unknown option: %v; want ErrUnknownOption", err)
	}
	// Every problem at once.
	_, err := New(map[string]string{OptMaxTokens: "0", OptAPI: "x"})
	for _, w := range []string{"url: missing", "model: missing", "max_tokens=0", `api="x"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("several problems: %v lacks %q", err, w)
		}
	}
}

func TestAPIKeyFromTheEnvironment(t *testing.T) {
	t.Setenv("GPUPERF_TEST_OPENAI_KEY", "")
	opts := map[string]string{OptURL: "http://127.0.0.1:1", OptModel: "m", OptAPIKeyEnv: "GPUPERF_TEST_OPENAI_KEY"}
	if _, err := New(opts); err == nil || !strings.Contains(err.Error(), "GPUPERF_TEST_OPENAI_KEY is empty or not set") {
		t.Fatalf("unset key variable: %v", err)
	}
	t.Setenv("GPUPERF_TEST_OPENAI_KEY", "sk-secret")
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(b.Config())
	if strings.Contains(string(js), "sk-secret") {
		t.Fatalf("the key leaked into the config: %s", js)
	}
}

func TestCAFile(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		notPEM:                         "option ca_file: " + notPEM + " holds no PEM certificate",
		filepath.Join(dir, "nope.pem"): "option ca_file: open " + filepath.Join(dir, "nope.pem") + ": no such file",
	} {
		_, err := New(map[string]string{OptURL: "https://127.0.0.1:1", OptModel: "m", OptCAFile: file})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ca_file %s: %v; want %q", file, err, want)
		}
	}
}

func TestMetricsURL(t *testing.T) {
	for metrics, want := range map[string]string{
		MetricsAuto:                  "http://127.0.0.1:8000/metrics",
		MetricsOff:                   "",
		"http://127.0.0.1:9000/prom": "http://127.0.0.1:9000/prom",
	} {
		c, err := ParseConfig(map[string]string{OptURL: "http://127.0.0.1:8000/", OptModel: "m", OptMetrics: metrics})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.metricsURL(); got != want {
			t.Errorf("metrics=%s: metricsURL() = %q; want %q", metrics, got, want)
		}
	}
}
