package results

import (
	"fmt"
	"math"
	"strconv"
)

// Finding kinds from the cuda backend's probe (gpuperf describe --probe,
// and the agent's description of a cuda backend): what virtualization
// touches, measured apart from any model.
const (
	FindingLaunchLatency = "launch-latency"
	FindingCopyBandwidth = "copy-bandwidth"
	FindingCompute       = "compute"
)

// probeRule is one probe number the attribution compares: the relative
// change it must exceed (the probe runs once per side, so a floor is the
// only guard against noise), an absolute one, and the weight of a change
// in explaining a throughput gap.
type probeRule struct {
	kind, metric, unit string
	lowerIsBetter      bool
	floorRel, floorAbs float64
	weight             float64
	what, why          string
}

var probeRules = []probeRule{
	{FindingLaunchLatency, "launch_latency_p50_us", "µs", true, 0.10, 1, 0.5,
		"empty-kernel launch latency (p50)", "every kernel launch costs that much more; small batches feel it most, and CUDA graphs (the cuda backend's graphs=true) hide most of it"},
	{FindingLaunchLatency, "launch_latency_p99_us", "µs", true, 0.25, 5, 0.3,
		"empty-kernel launch latency (p99)", "the slowest launches, what a latency percentile sees, took longer"},
	{FindingCopyBandwidth, "h2d_pinned_gbps", "GB/s", false, 0.05, 0.5, 0.5,
		"host-to-device copy bandwidth (pinned)", "every input copy takes longer: the IOMMU, or a narrower or shared PCIe path"},
	{FindingCopyBandwidth, "d2h_pinned_gbps", "GB/s", false, 0.05, 0.5, 0.5,
		"device-to-host copy bandwidth (pinned)", "every output copy takes longer: the IOMMU, or a narrower or shared PCIe path"},
	{FindingCopyBandwidth, "h2d_pageable_gbps", "GB/s", false, 0.10, 0.5, 0.2,
		"host-to-device copy bandwidth (pageable)", "copies from ordinary memory, staged by the driver, are slower: host memory bandwidth or the IOMMU"},
	{FindingCopyBandwidth, "d2h_pageable_gbps", "GB/s", false, 0.10, 0.5, 0.2,
		"device-to-host copy bandwidth (pageable)", "copies to ordinary memory, staged by the driver, are slower: host memory bandwidth or the IOMMU"},
	{FindingCompute, "gemm_fp16_tflops", "TFLOP/s", false, 0.03, 0, 1,
		"fp16 tensor-core GEMM throughput", "the GPU itself computes slower: lower clocks, a power limit, or a time-sliced vGPU"},
	{FindingCompute, "gemm_fp32_tflops", "TFLOP/s", false, 0.03, 0, 0.8,
		"fp32 GEMM throughput", "the GPU itself computes slower: lower clocks, a power limit, or a time-sliced vGPU"},
}

// probeFacts returns the first probe's numbers among the side's hosts'
// fingerprints (a backend's facts holding a launch latency), or nil.
func probeFacts(s Side) map[string]float64 {
	for _, h := range s.Hosts {
		fp, ok := hostFingerprint(h)
		if !ok {
			continue
		}
		for _, facts := range fp.Serving {
			if facts["launch_latency_p50_us"] == "" {
				continue
			}
			out := map[string]float64{}
			for _, r := range probeRules {
				if v, err := strconv.ParseFloat(facts[r.metric], 64); err == nil && v > 0 && !math.IsInf(v, 0) {
					out[r.metric] = v
				}
			}
			return out
		}
	}
	return nil
}

// probeFindings compares the sides' probe numbers: each that moved beyond
// its floors is a finding, scored by its weight times the relative change
// (at most 1).
func probeFindings(c *Comparison) []scored {
	b, k := probeFacts(c.Baseline), probeFacts(c.Candidate)
	if b == nil || k == nil {
		return nil
	}
	var out []scored
	for _, r := range probeRules {
		bv, ok1 := b[r.metric]
		kv, ok2 := k[r.metric]
		if !ok1 || !ok2 {
			continue
		}
		delta := (kv - bv) / bv
		if math.Abs(delta) <= r.floorRel || math.Abs(kv-bv) <= r.floorAbs {
			continue
		}
		worse := delta < 0
		if r.lowerIsBetter {
			worse = delta > 0
		}
		verdict := "worse"
		if !worse {
			verdict = "better"
		}
		text := fmt.Sprintf("The candidate's %s is %s %s against the baseline's %s %s (%+.1f%%, %s)", r.what,
			strconv.FormatFloat(kv, 'g', 4, 64), r.unit, strconv.FormatFloat(bv, 'g', 4, 64), r.unit, 100*delta, verdict)
		if worse {
			text += ": " + r.why + "."
		} else {
			text += "; it does not explain a loss."
		}
		pct := 100 * delta
		f := Finding{Kind: r.kind, Metric: r.metric, Unit: r.unit, Baseline: &bv, Candidate: &kv, DeltaPct: &pct, Text: text}
		score := 0.0
		if worse {
			score = min(1, r.weight*math.Abs(delta))
		}
		out = append(out, scored{f, score})
	}
	return out
}
