package agent

import (
	"encoding/json"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/internal/testpaths"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// FuzzParseConfig parses arbitrary agent configurations: an error naming
// the file, or a configuration that validates, never a panic.
func FuzzParseConfig(f *testing.F) {
	b, err := os.ReadFile(filepath.Join(testpaths.ModuleRoot(f), "configs", "agent.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("backends:\n  - {name: a, kind: sim, options: {servers: \"4\"}}\nlimits: {max_run_memory: 25%, max_run_duration: 2h}\n"))
	f.Add([]byte("backends:\n  - {name: a, kind: cpu}\nlimits: {max_run_memory: 18446744073709551615GiB}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("agent.yaml", data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseConfig accepted a configuration Validate refuses: %v", err)
		}
	})
}

// FuzzRunRequest sends the agent's request check arbitrary settings and
// data-set counts, as a hostile coordinator might: every request is
// refused with InvalidArgument or fits the agent's limits.
func FuzzRunRequest(f *testing.F) {
	s, _, _ := inference.Settings("resnet50", inference.Offline, inference.ProfileQuick)
	good, _ := json.Marshal(s)
	f.Add(good, []byte(nil), false, 0.0)
	f.Add([]byte(`{"scenario":"SingleStream","mode":"PerformanceOnly","min_duration_ms":1000,"min_query_count":18446744073709551615,"single_stream_expected_latency_ns":1,"single_stream_target_latency_percentile":0.9,"drain_timeout_ms":1}`), []byte(nil), false, 0.0)
	f.Add(good, []byte(`{"total_sample_count":4294967297,"performance_sample_count":4294967296}`), false, math.NaN())
	f.Add([]byte(`{"scenario":"Server","mode":"FindPeakPerformance","server_target_qps":1e300}`), []byte(nil), true, math.Inf(1))
	srv, err := NewServer(Config{Backends: []BackendConfig{{Name: "null", Kind: "null"}}, Limits: Limits{MaxRunMemory: "64MiB", MaxRunDuration: "1h"}},
		"fuzz", slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, settings, qsl []byte, findPeak bool, precision float64) {
		req := &gpuperfv1.RunRequest{RunId: "fuzz", Backend: "null", Model: "resnet50", Profile: "quick",
			SettingsJson: settings, QslJson: qsl, FindPeak: findPeak, PeakPrecision: precision}
		p, err := srv.plan(req)
		if err != nil {
			return
		}
		fp := inference.EstimateFootprint(p.cfg.Settings, p.cfg.QSL)
		if fp.Bytes > srv.limits.memory || fp.DetailBytes > srv.maxDetail {
			t.Fatalf("accepted a run of %d bytes (detail %d) past the limits", fp.Bytes, fp.DetailBytes)
		}
		if runDuration(p.cfg.Settings) > srv.limits.duration {
			t.Fatalf("accepted a run of %s past max_run_duration", runDuration(p.cfg.Settings))
		}
	})
}
