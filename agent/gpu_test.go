//go:build linux && cgo

package agent

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"google.golang.org/grpc/codes"

	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/gpu/gputest"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// mockServer is an agent on a go-nvml mock DGX H100 of n GPUs.
func mockServer(t *testing.T, cfg Config, rig *gputest.Rig) *Server {
	t.Helper()
	n := gpu.OpenLibrary(rig.Server, gpu.Options{})
	t.Cleanup(func() { n.Close() })
	srv, err := NewServer(cfg, "test-version", slog.New(slog.NewTextHandler(t.Output(), nil)), WithNVML(n))
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestDescribeFingerprintMock(t *testing.T) {
	rig := gputest.NewRig(t, 2)
	srv := mockServer(t, DefaultConfig(), rig)
	c := gpuperfv1.NewAgentClient(dial(t, startAgent(t, srv, ListenOptions{})))
	d, err := c.Describe(context.Background(), &gpuperfv1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var fp gpu.Fingerprint
	if err := json.Unmarshal(d.FingerprintJson, &fp); err != nil {
		t.Fatal(err)
	}
	if fp.Schema != gpu.FingerprintSchema || fp.Version != "test-version" || !fp.NVML.Available || fp.NVML.DriverVersion != "550.54.15" ||
		len(fp.GPUs) != 2 || fp.GPUs[1].Name != "NVIDIA H100 80GB HBM3" || fp.GPUs[1].Serial == "" {
		t.Errorf("fingerprint = %s", d.FingerprintJson)
	}
	if v := fp.Virtualization; len(v.Signals.NVML) != 2 || v.Signals.NVML[0].Mode != "none" || v.Verdict.Kind == "" {
		t.Errorf("virtualization = %+v", v)
	}
}

func TestRunRecordsTelemetry(t *testing.T) {
	rig := gputest.NewRig(t, 1)
	cfg := DefaultConfig()
	cfg.GPU.TelemetryInterval = "20ms"
	srv := mockServer(t, cfg, rig)
	c := gpuperfv1.NewAgentClient(dial(t, startAgent(t, srv, ListenOptions{})))
	_, res, err := runToEnd(t, c, streamSim(t, "tel-1", 300*time.Millisecond))
	if err != nil || res == nil {
		t.Fatalf("run: %v", err)
	}
	var out struct {
		Telemetry gpu.Summary   `json:"telemetry"`
		GPUState  gpu.Preflight `json:"gpu_state"`
		Duration  int64         `json:"duration_ns"`
	}
	if err := json.Unmarshal(res.ResultJson, &out); err != nil {
		t.Fatal(err)
	}
	tel := out.Telemetry
	if tel.Schema != gpu.TelemetrySchema || len(tel.Devices) != 1 || tel.Ticks < 3 || tel.WindowNs < out.Duration || tel.IntervalNs != int64(20*time.Millisecond) {
		t.Fatalf("telemetry: schema %q devices %d ticks %d window %d (run %d)", tel.Schema, len(tel.Devices), tel.Ticks, tel.WindowNs, out.Duration)
	}
	if sm := tel.Devices[0].Metrics["sm_clock_mhz"]; sm.Stats == nil || sm.Stats.Mean != 1980 {
		t.Errorf("sm clock = %+v", sm)
	}
	if e := tel.Devices[0].Energy; e.Source != "counter" || e.JoulesPerSample != 0 {
		// The fake counter stands still: 0 J, so 0 J per sample.
		t.Errorf("energy = %+v", e)
	}
	if len(out.GPUState.Devices) != 1 || out.GPUState.Devices[0].PersistenceMode == nil || !*out.GPUState.Devices[0].PersistenceMode {
		t.Errorf("gpu_state = %+v", out.GPUState)
	}
	rows, err := csv.NewReader(strings.NewReader(string(res.TelemetryCsv))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+tel.Ticks || rows[0][0] != "time_ns" || rows[1][2] != tel.Devices[0].UUID || rows[1][0] != "0" {
		t.Errorf("telemetry.csv: %d rows for %d ticks; first %q", len(rows), tel.Ticks, rows[:min(2, len(rows))])
	}
}

func TestUnlicensedVGPURefused(t *testing.T) {
	rig := gputest.NewRig(t, 1)
	g := rig.GPUs[0]
	g.Virt = nvml.GPU_VIRTUALIZATION_MODE_VGPU
	lic := &nvml.GridLicensableFeatures{IsGridLicenseSupported: 1, LicensableFeaturesCount: 1}
	lic.GridLicensableFeatures[0] = nvml.GridLicensableFeature{FeatureState: nvml.GRID_LICENSE_STATE_UNLICENSED, FeatureEnabled: 1}
	g.License = lic
	c := gpuperfv1.NewAgentClient(dial(t, startAgent(t, mockServer(t, DefaultConfig(), rig), ListenOptions{})))
	_, _, err := runToEnd(t, c, streamSim(t, "vgpu-1", 50*time.Millisecond))
	wantCode(t, err, codes.FailedPrecondition, "vGPU is not licensed")

	cfg := DefaultConfig()
	cfg.GPU.AllowUnlicensedVGPU = true
	c = gpuperfv1.NewAgentClient(dial(t, startAgent(t, mockServer(t, cfg, rig), ListenOptions{})))
	_, res, err := runToEnd(t, c, streamSim(t, "vgpu-2", 50*time.Millisecond))
	if err != nil || res == nil || !strings.Contains(string(res.ResultJson), "license state unlicensed") {
		t.Errorf("overridden run: %v; result warns of the license: %v", err, res != nil && strings.Contains(string(res.ResultJson), "license"))
	}
}

func TestMetricsListen(t *testing.T) {
	rig := gputest.NewRig(t, 1)
	srv := mockServer(t, DefaultConfig(), rig)
	addrc := make(chan net.Addr, 1)
	startAgent(t, srv, ListenOptions{MetricsAddr: "127.0.0.1:0", MetricsReady: func(a net.Addr) { addrc <- a }})
	resp, err := http.Get("http://" + (<-addrc).String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`DCGM_FI_DEV_SM_CLOCK{DCGM_FI_DRIVER_VERSION="550.54.15"`, "DCGM_FI_DEV_POWER_USAGE{", "gpuperf_run_active 0", "gpuperf_nvml_available{"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}
