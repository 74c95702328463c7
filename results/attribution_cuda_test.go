package results

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/gpu"
)

func probeSide(t *testing.T, facts map[string]string) Side {
	t.Helper()
	b, err := json.Marshal(gpu.Fingerprint{Schema: gpu.FingerprintSchema, Serving: map[string]map[string]string{"gpu": facts}})
	if err != nil {
		t.Fatal(err)
	}
	return Side{Hosts: []HostInfo{{Name: "h", Fingerprint: b}}}
}

func TestProbeFindings(t *testing.T) {
	base := map[string]string{"launch_latency_p50_us": "4.0", "launch_latency_p99_us": "6", "h2d_pinned_gbps": "50",
		"d2h_pinned_gbps": "50", "h2d_pageable_gbps": "20", "d2h_pageable_gbps": "18", "gemm_fp16_tflops": "300", "gemm_fp32_tflops": "20"}
	cand := map[string]string{"launch_latency_p50_us": "9.0", "launch_latency_p99_us": "7", "h2d_pinned_gbps": "25",
		"d2h_pinned_gbps": "49", "h2d_pageable_gbps": "20", "d2h_pageable_gbps": "18", "gemm_fp16_tflops": "290", "gemm_fp32_tflops": "21"}
	c := &Comparison{Baseline: probeSide(t, base), Candidate: probeSide(t, cand)}
	got := map[string]scored{}
	for _, s := range probeFindings(c) {
		got[s.f.Metric] = s
	}
	// p50 +125%, H2D pinned −50%, fp16 −3.3%, fp32 +5% (better): findings.
	// p99 +1 µs (under 5 µs), D2H −2%, pageable unchanged: none.
	for _, m := range []string{"launch_latency_p99_us", "d2h_pinned_gbps", "h2d_pageable_gbps", "d2h_pageable_gbps"} {
		if s, ok := got[m]; ok {
			t.Errorf("%s: finding %q; want none (within its floors)", m, s.f.Text)
		}
	}
	lat, ok := got["launch_latency_p50_us"]
	if !ok || lat.f.Kind != FindingLaunchLatency || lat.score != 0.625 || !strings.Contains(lat.f.Text, "9 µs against the baseline's 4 µs (+125.0%, worse)") {
		t.Errorf("launch latency: %+v score %v", lat.f, lat.score)
	}
	cp, ok := got["h2d_pinned_gbps"]
	if !ok || cp.f.Kind != FindingCopyBandwidth || cp.score != 0.25 || !strings.Contains(cp.f.Text, "IOMMU") {
		t.Errorf("copy bandwidth: %+v score %v", cp.f, cp.score)
	}
	fp16, ok := got["gemm_fp16_tflops"]
	if !ok || fp16.f.Kind != FindingCompute || fp16.score <= 0.03 || fp16.score > 0.034 {
		t.Errorf("compute: %+v score %v", fp16.f, fp16.score)
	}
	if fp32 := got["gemm_fp32_tflops"]; fp32.score != 0 || !strings.Contains(fp32.f.Text, "does not explain a loss") {
		t.Errorf("a faster candidate: %+v score %v; want score 0", fp32.f, fp32.score)
	}
	// One side without a probe: nothing.
	c.Candidate = probeSide(t, map[string]string{"model": "x"})
	if f := probeFindings(c); len(f) != 0 {
		t.Errorf("one side probed: %v; want none", f)
	}
}
