package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/inference/backend/cuda"
)

// probeInto runs the cuda probe on device ordinal dev and records its
// facts in fp.Serving["cuda"]; a machine it cannot probe gets the reason
// there instead, as describe does for everything it cannot read. The
// peaks use NVML's maximum SM clock of the same GPU (matched by PCI bus
// id) when NVML has it.
func probeInto(ctx context.Context, fp *gpu.Fingerprint, dev int) {
	if fp.Serving == nil {
		fp.Serving = map[string]map[string]string{}
	}
	drv, err := cuda.Open()
	if err != nil {
		fp.Serving["cuda"] = map[string]string{"error": err.Error()}
		return
	}
	r, err := cuda.Probe(ctx, drv, cuda.ProbeOptions{Device: dev})
	if err != nil {
		fp.Serving["cuda"] = map[string]string{"error": err.Error()}
		return
	}
	for _, g := range fp.GPUs {
		if strings.EqualFold(g.PCIBusID, r.PCIBusID) && g.MaxSMClockMHz > 0 {
			r.SetClock(int(g.MaxSMClockMHz), "nvml")
		}
	}
	fp.Serving["cuda"] = r.Facts()
}

// printProbe renders the probe's facts as a block a person reads first
// when a VM loses performance.
func printProbe(out io.Writer, f map[string]string) error {
	if f == nil || f["error"] != "" {
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "\nCUDA probe\t%s (sm_%s, %s SMs at %s MHz from %s, bus %s), CUDA %s\n", f["device"],
		strings.ReplaceAll(f["compute_capability"], ".", ""), f["sms"], f["clock_mhz"], f["clock_source"], f["pci_bus_id"], f["cuda_version"])
	fmt.Fprintf(w, "  launch latency\tp50 %s µs, p99 %s µs (empty kernel, launch to completion)\n", f[cuda.FactLaunchP50], f[cuda.FactLaunchP99])
	fmt.Fprintf(w, "  host to device\tpinned %s GB/s, pageable %s GB/s\n", f[cuda.FactH2DPinned], f[cuda.FactH2DPageable])
	fmt.Fprintf(w, "  device to host\tpinned %s GB/s, pageable %s GB/s\n", f[cuda.FactD2HPinned], f[cuda.FactD2HPageable])
	for _, dt := range []string{"fp16", "fp32"} {
		line := fmt.Sprintf("%s TFLOP/s (%s³ GEMM)", f["gemm_"+dt+"_tflops"], f["gemm_size"])
		if p := f["peak_"+dt+"_tflops"]; p != "" {
			line += fmt.Sprintf(", %s%% of the %s TFLOP/s peak", f["gemm_"+dt+"_pct_of_peak"], p)
		}
		fmt.Fprintf(w, "  %s compute\t%s\n", dt, line)
	}
	return w.Flush()
}
