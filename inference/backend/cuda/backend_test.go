//go:build cgo

package cuda_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
	"github.com/gpuperf/gpuperf/inference/backend/cuda"
	"github.com/gpuperf/gpuperf/inference/backend/cuda/cudatest"
	"github.com/gpuperf/gpuperf/inference/backend/cuda/kernels/hostsim"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

// hostExec runs the fake driver's kernels with the host-compiled kernels
// on C memory: the whole forward pass, computed.
type hostExec struct{}

func (hostExec) Alloc(n int) (uint64, []byte, func(), bool) {
	m := hostsim.Alloc(n)
	if m == nil {
		return 0, nil, nil, false
	}
	return m.Addr(), m.Bytes(), m.Free, true
}

func (hostExec) Launch(name string, grid [3]int, block, shared int, args []uint64) error {
	return hostsim.Launch(name, grid, block, shared, args)
}

// tiny is an encoder small enough to run on the host harness, in odd
// sizes: 2 layers of width 48 (3 heads of 16), MLP 80, 11 tokens.
func tiny(dt cuda.DType, graphs bool) cuda.Config {
	c := cuda.DefaultConfig()
	c.Layers, c.Hidden, c.Heads, c.FFN, c.Seq, c.Vocab = 2, 48, 3, 80, 11, 97
	c.Batch, c.Streams, c.DType, c.Graphs = 3, 2, dt, graphs
	return c
}

func noLeaks(t *testing.T, f *cudatest.Fake) {
	t.Helper()
	if live := f.Live(); len(live) > 0 {
		t.Errorf("not freed: %v", live)
	}
}

// run issues n samples, one per query, and waits for them all.
func run(t *testing.T, b inference.Backend, n int) []backendtest.Record {
	t.Helper()
	f := new(backendtest.Fake)
	if err := b.(backend.Starter).StartWith(context.Background(), f); err != nil {
		t.Fatalf("StartWith() = %v", err)
	}
	for i := range n {
		b.IssueQuery([]inference.Sample{{ID: uint64(i), Index: uint32(i * 7)}})
	}
	if err := f.Wait(n, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(); err != nil {
		t.Fatalf("Stop() = %v", err)
	}
	return f.Records()
}

// TestEndToEndOnHostKernels runs the backend on the fake driver with the
// host-compiled kernels: the first batch's check passes (the device's
// logits equal the Go reference within the bound), every sample completes
// once, graphs replay the same work, and everything is freed.
func TestEndToEndOnHostKernels(t *testing.T) {
	for _, dt := range []cuda.DType{cuda.FP32, cuda.FP16} {
		for _, graphs := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/graphs=%t", dt, graphs), func(t *testing.T) {
				f := cudatest.New(1, hostExec{})
				b, err := cuda.NewWithDriver(tiny(dt, graphs), f)
				if err != nil {
					t.Fatal(err)
				}
				const n = 5
				recs := run(t, b, n)
				seen := map[uint64]bool{}
				for _, r := range recs {
					if r.Err != nil || seen[r.ID] || r.Batch > 3 {
						t.Fatalf("bad completion %+v", r)
					}
					seen[r.ID] = true
				}
				facts := b.Annotations()
				if !strings.Contains(facts["check"], "first batch: relative error") {
					t.Errorf("facts = %v; want the check's result", facts)
				}
				t.Log(facts["check"])
				calls := f.Calls()
				kernelsPerPass := 1 + 7*2 + 1
				if graphs {
					if calls["cuGraphLaunch"] < 2 || calls["cuGraphInstantiateWithFlags"] == 0 {
						t.Errorf("graphs on: calls %v; want graph launches", calls)
					}
					// Each launch was captured once per slot and batch size.
					if k := calls["cuLaunchKernel"]; k != kernelsPerPass*calls["cuStreamBeginCapture"] {
						t.Errorf("graphs on: %d kernel launches for %d captures; want %d per capture", k, calls["cuStreamBeginCapture"], kernelsPerPass)
					}
				} else {
					if calls["cuGraphLaunch"] != 0 || calls["cuStreamBeginCapture"] != 0 {
						t.Errorf("graphs off: calls %v; want no graphs", calls)
					}
					if k, batches := calls["cuLaunchKernel"], calls["cuEventRecord"]; k != kernelsPerPass*batches {
						t.Errorf("graphs off: %d kernel launches for %d batches; want %d each", k, batches, kernelsPerPass)
					}
				}
				noLeaks(t, f)
			})
		}
	}
}

// wrongExec skips every layer norm: the output is wrong.
type wrongExec struct{ hostExec }

func (w wrongExec) Launch(name string, grid [3]int, block, shared int, args []uint64) error {
	if strings.HasPrefix(name, "layernorm") {
		return nil
	}
	return w.hostExec.Launch(name, grid, block, shared, args)
}

func TestCheckRefusesWrongNumbers(t *testing.T) {
	f := cudatest.New(1, wrongExec{})
	b, err := cuda.NewWithDriver(tiny(cuda.FP16, false), f)
	if err != nil {
		t.Fatal(err)
	}
	err = b.StartWith(context.Background(), new(backendtest.Fake))
	if err == nil || !strings.Contains(err.Error(), "the GPU computed wrong numbers") {
		t.Fatalf("StartWith() = %v; want the check to fail", err)
	}
	noLeaks(t, f)

	// check=false serves the wrong numbers without looking.
	c := tiny(cuda.FP16, false)
	c.Check = false
	b, err = cuda.NewWithDriver(c, cudatest.New(1, wrongExec{}))
	if err != nil {
		t.Fatal(err)
	}
	run(t, b, 3)
}

// codeFor is the CUresult a failing call returns in the tests.
func codeFor(call string) int {
	switch call {
	case "cuMemAlloc", "cuMemHostAlloc":
		return cuda.ResultOutOfMemory
	case "cuLaunchKernel", "cuEventSynchronize", "cuGraphLaunch":
		return cuda.ResultLaunchFailed
	}
	return cuda.ResultUnknown
}

// frees are the calls that release something: when one fails, that one
// thing stays allocated, and the error still reaches Stop.
var frees = map[string]string{
	"cuMemFree": "device memory", "cuMemFreeHost": "pinned memory", "cuModuleUnload": "modules",
	"cuStreamDestroy": "streams", "cuEventDestroy": "events", "cuGraphDestroy": "graphs",
	"cuGraphExecDestroy": "graph execs", "cuDevicePrimaryCtxRelease": "primary context retains",
}

// TestErrorsAtEveryCallSite fails each driver call the backend makes, at
// its first and at its last occurrence in a clean run, with graphs on and
// off. Each failure must end the run with that call's error (from New,
// Start, a sample, or Stop), and everything allocated must be freed. The
// kernels do nothing here (control flow is what is tested), so the check
// is off; TestCheckFailuresFree covers its calls.
func TestErrorsAtEveryCallSite(t *testing.T) {
	for _, graphs := range []bool{false, true} {
		cfg := tiny(cuda.FP32, graphs)
		// One stream and one query: the same batches, and so the same
		// calls, in every run.
		cfg.Layers, cfg.Batch, cfg.Check, cfg.Streams = 1, 2, false, 1
		clean := cudatest.New(1, nil)
		const n = 6
		if err := runFailing(t, cfg, clean, n); err != nil {
			t.Fatalf("clean run: %v", err)
		}
		counts := clean.Calls()
		for _, call := range slices.Sorted(maps.Keys(counts)) {
			for _, nth := range slices.Compact([]int{1, counts[call]}) {
				t.Run(fmt.Sprintf("graphs=%t/%s#%d", graphs, call, nth), func(t *testing.T) {
					f := cudatest.New(1, nil)
					f.FailOn(call, nth, codeFor(call))
					err := runFailing(t, cfg, f, n)
					if err == nil || !strings.Contains(err.Error(), call) {
						t.Fatalf("the run's error = %v; want %s's", err, call)
					}
					if codeFor(call) == cuda.ResultOutOfMemory && !strings.Contains(err.Error(), "CUDA_ERROR_OUT_OF_MEMORY") {
						t.Errorf("error %v does not name the CUresult", err)
					}
					live := f.Live()
					if kind, ok := frees[call]; ok && live[kind] == 1 {
						delete(live, kind) // the one thing whose free failed
					}
					if len(live) > 0 {
						t.Errorf("not freed: %v (error: %v)", live, err)
					}
				})
			}
		}
	}
}

// runFailing runs n samples on a backend over f and returns the first
// error it met: New's, Start's, a sample's or Stop's.
func runFailing(t *testing.T, cfg cuda.Config, f *cudatest.Fake, n int) error {
	b, err := cuda.NewWithDriver(cfg, f)
	if err != nil {
		return err
	}
	rec := new(backendtest.Fake)
	if err := b.StartWith(context.Background(), rec); err != nil {
		return err
	}
	q := make([]inference.Sample, n)
	for i := range q {
		q[i] = inference.Sample{ID: uint64(i), Index: uint32(i)}
	}
	b.IssueQuery(q)
	werr := rec.Wait(n, 30*time.Second)
	serr := b.Stop()
	if werr != nil {
		t.Fatalf("%v (Stop: %v)", werr, serr)
	}
	var first error
	for _, r := range rec.Records() {
		if r.Err != nil {
			first = r.Err
			break
		}
	}
	if first != nil && serr == nil {
		t.Errorf("a sample failed with %v but Stop() = nil", first)
	}
	return errors.Join(first, serr)
}

// TestCheckFailuresFree fails each call of the first batch's check, with
// the kernels computed, graphs on and off.
func TestCheckFailuresFree(t *testing.T) {
	for _, graphs := range []bool{false, true} {
		for _, call := range []string{"cuMemcpyHtoDAsync", "cuLaunchKernel", "cuMemcpyDtoHAsync", "cuEventRecord", "cuEventSynchronize", "cuGraphLaunch", "cuStreamEndCapture"} {
			if !graphs && (call == "cuGraphLaunch" || call == "cuStreamEndCapture") {
				continue
			}
			t.Run(fmt.Sprintf("graphs=%t/%s", graphs, call), func(t *testing.T) {
				f := cudatest.New(1, hostExec{})
				f.FailOn(call, 1, codeFor(call))
				b, err := cuda.NewWithDriver(tiny(cuda.FP32, graphs), f)
				if err != nil {
					t.Fatal(err)
				}
				err = b.StartWith(context.Background(), new(backendtest.Fake))
				if err == nil || !strings.Contains(err.Error(), "first batch") || !strings.Contains(err.Error(), call) {
					t.Fatalf("StartWith() = %v; want the first batch to fail in %s", err, call)
				}
				noLeaks(t, f)
			})
		}
	}
}

func TestJITFailureShowsTheLog(t *testing.T) {
	f := cudatest.New(1, nil)
	f.FailJIT("ptxas fatal   : Unresolved extern function 'expf'")
	b, err := cuda.NewWithDriver(tiny(cuda.FP16, false), f)
	if err != nil {
		t.Fatal(err)
	}
	err = b.StartWith(context.Background(), new(backendtest.Fake))
	for _, want := range []string{"JIT-compile kernels/", "CUDA_ERROR_INVALID_PTX", "JIT log: ptxas fatal   : Unresolved extern function 'expf'"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("StartWith() = %v; want %q in it", err, want)
		}
	}
	noLeaks(t, f)
}

func TestNoSuchDevice(t *testing.T) {
	c := tiny(cuda.FP16, false)
	c.Device = 1
	_, err := cuda.NewWithDriver(c, cudatest.New(1, nil))
	if !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), "device=1: this machine has 1 CUDA device(s)") {
		t.Errorf("NewWithDriver(device=1) = %v; want unavailable, naming the option", err)
	}
}

func TestProbeOnFake(t *testing.T) {
	f := cudatest.New(1, nil)
	r, err := cuda.Probe(context.Background(), f, cuda.ProbeOptions{Launches: 50, CopyBytes: 1 << 20, Copies: 2, GEMMSize: 64, GEMMs: 2, MaxSMClockMHz: 1830})
	if err != nil {
		t.Fatal(err)
	}
	noLeaks(t, f)
	// 132 SMs × 1830 MHz × 4096 (sm_90 fp16) and × 256 (fp32).
	if r.ClockSource != "nvml" || r.ComputeCapability != "9.0" || fmt.Sprintf("%.1f/%.2f", r.PeakFP16TFLOPS, r.PeakFP32TFLOPS) != "989.4/61.84" {
		t.Errorf("probe = %+v; want sm_90, 132 SMs at 1830 MHz from NVML: 989.4 and 61.84 TFLOP/s", r)
	}
	// The fake says each GEMM took 1 ms: 2·64³ FLOP in 1 ms.
	if want := 2 * 64 * 64 * 64 / 1e-3 / 1e12; r.GEMMFP16TFLOPS != want {
		t.Errorf("GEMM fp16 = %g TFLOP/s; want %g", r.GEMMFP16TFLOPS, want)
	}
	if r.LaunchP50Us <= 0 || r.LaunchP99Us < r.LaunchP50Us || r.H2DPinnedGBps <= 0 || r.D2HPageableGBps <= 0 {
		t.Errorf("probe = %+v; want positive latencies and bandwidths", r)
	}
	facts := r.Facts()
	for _, k := range []string{cuda.FactLaunchP50, cuda.FactLaunchP99, cuda.FactH2DPinned, cuda.FactD2HPinned, cuda.FactH2DPageable,
		cuda.FactD2HPageable, cuda.FactGEMMFP16, cuda.FactGEMMFP32, "peak_fp16_tflops", "gemm_fp16_pct_of_peak", "cuda_version"} {
		if facts[k] == "" {
			t.Errorf("facts lack %s: %v", k, facts)
		}
	}
	if facts["cuda_version"] != "12.4" {
		t.Errorf("cuda_version = %q; want 12.4 (from 12040)", facts["cuda_version"])
	}

	// A failure anywhere in the probe frees what it had made.
	for _, call := range []string{"cuMemAlloc", "cuMemHostAlloc", "cuLaunchKernel", "cuEventElapsedTime", "cuStreamCreate"} {
		f := cudatest.New(1, nil)
		f.FailOn(call, 1, codeFor(call))
		if _, err := cuda.Probe(context.Background(), f, cuda.ProbeOptions{Launches: 5, CopyBytes: 1 << 10, Copies: 1, GEMMSize: 16, GEMMs: 1}); err == nil || !strings.Contains(err.Error(), call) {
			t.Errorf("probe with %s failing = %v", call, err)
		}
		noLeaks(t, f)
	}
}
