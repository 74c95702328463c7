package agent

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/gpu"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// Without a GPU (this machine) Describe still answers, saying why there is
// no GPU data and what the host is.
func TestDescribeWithoutGPU(t *testing.T) {
	c, srv := startClient(t)
	defer srv.Close()
	if srv.gpu.Available() {
		t.Skip("this host has NVML")
	}
	d, err := c.Describe(context.Background(), &gpuperfv1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var fp gpu.Fingerprint
	if err := json.Unmarshal(d.FingerprintJson, &fp); err != nil {
		t.Fatal(err)
	}
	if fp.NVML.Available || fp.NVML.Unavailable == "" || len(fp.GPUs) != 0 {
		t.Errorf("nvml = %+v gpus %d", fp.NVML, len(fp.GPUs))
	}
	v := fp.Virtualization.Verdict
	if v.Kind == "" || !strings.Contains(v.Summary, "no NVIDIA GPU visible") || fp.Host.CPUsOnline < 1 {
		t.Errorf("verdict = %+v host = %+v", v, fp.Host)
	}
}

func TestGPUConfig(t *testing.T) {
	path := writeConfig(t, `
backends: [{name: cpu, kind: cpu}]
gpu: {allow_unlicensed_vgpu: true, telemetry_interval: 250ms}
metrics_listen: 127.0.0.1:9400
`)
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if iv, _ := c.GPU.interval(); !c.GPU.AllowUnlicensedVGPU || iv.Milliseconds() != 250 || c.MetricsListen != "127.0.0.1:9400" {
		t.Errorf("config = %+v", c)
	}
	for text, want := range map[string]string{
		"gpu: {telemetry_interval: 1ms}":  "gpu.telemetry_interval",
		"gpu: {telemetry_interval: fast}": "gpu.telemetry_interval",
		"gpu: {colour: red}":              "unknown field colour",
		"metrics_listen: nowhere":         "metrics_listen",
	} {
		_, err := LoadConfig(writeConfig(t, "backends: [{name: cpu, kind: cpu}]\n"+text+"\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v; want it to name %q", text, err, want)
		}
	}
	c.GPU.TelemetryInterval = "off"
	if iv, err := c.GPU.interval(); iv != 0 || err != nil {
		t.Errorf("off = %v, %v", iv, err)
	}
}
