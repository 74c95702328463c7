package cuda

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// ProbeOptions says what Probe measures and how long.
type ProbeOptions struct {
	Device int
	// MaxSMClockMHz is the device's maximum SM clock from NVML, for the
	// peak; 0 reads the driver's CU_DEVICE_ATTRIBUTE_CLOCK_RATE instead.
	MaxSMClockMHz int
	Launches      int // empty-kernel launches timed (2000)
	CopyBytes     int // bytes per copy (64 MiB)
	Copies        int // copies timed per direction and kind (5)
	GEMMSize      int // M = N = K of the GEMMs (4096)
	GEMMs         int // GEMMs timed per type (5)
}

func (o ProbeOptions) withDefaults() ProbeOptions {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Launches, 2000)
	def(&o.CopyBytes, 64<<20)
	def(&o.Copies, 5)
	def(&o.GEMMSize, 4096)
	def(&o.GEMMs, 5)
	return o
}

// ProbeResult is what a device showed the probe: the first numbers to
// look at when a VM loses performance, each on what virtualization
// touches: launch latency (the kernel-launch path through the hypervisor),
// copies (the IOMMU and PCIe), and tensor-core compute.
type ProbeResult struct {
	Device            string  `json:"device"`
	ComputeCapability string  `json:"compute_capability"`
	PCIBusID          string  `json:"pci_bus_id"` // as NVML writes it: 00000000:3B:00.0
	SMs               int     `json:"sms"`
	CUDAVersion       string  `json:"cuda_version"`
	ClockMHz          int     `json:"clock_mhz"`
	ClockSource       string  `json:"clock_source"` // nvml or cuda
	LaunchP50Us       float64 `json:"launch_latency_p50_us"`
	LaunchP99Us       float64 `json:"launch_latency_p99_us"`
	H2DPinnedGBps     float64 `json:"h2d_pinned_gbps"`
	D2HPinnedGBps     float64 `json:"d2h_pinned_gbps"`
	H2DPageableGBps   float64 `json:"h2d_pageable_gbps"`
	D2HPageableGBps   float64 `json:"d2h_pageable_gbps"`
	GEMMFP16TFLOPS    float64 `json:"gemm_fp16_tflops"`
	GEMMFP32TFLOPS    float64 `json:"gemm_fp32_tflops"`
	// Peaks are SMs × clock × the architecture's dense rate per SM
	// (fp16 with fp32 accumulation on the tensor cores; fp32 FMA); 0 for
	// an architecture the table does not know.
	PeakFP16TFLOPS float64 `json:"peak_fp16_tflops,omitempty"`
	PeakFP32TFLOPS float64 `json:"peak_fp32_tflops,omitempty"`
	GEMMSize       int     `json:"gemm_size"`
}

// SetClock sets the SM clock the peaks are computed at, and where it
// was read (nvml: the maximum SM clock; cuda: the driver's clock rate).
func (r *ProbeResult) SetClock(mhz int, source string) {
	r.ClockMHz, r.ClockSource = mhz, source
	r.PeakFP16TFLOPS, r.PeakFP32TFLOPS = 0, 0
	if rate, ok := peakPerSM[r.ComputeCapability]; ok {
		base := float64(r.SMs) * float64(mhz) * 1e6 / 1e12
		r.PeakFP16TFLOPS, r.PeakFP32TFLOPS = base*rate[0], base*rate[1]
	}
}

// Fact keys of ProbeResult.Facts, which the attribution reads.
const (
	FactLaunchP50   = "launch_latency_p50_us"
	FactLaunchP99   = "launch_latency_p99_us"
	FactH2DPinned   = "h2d_pinned_gbps"
	FactD2HPinned   = "d2h_pinned_gbps"
	FactH2DPageable = "h2d_pageable_gbps"
	FactD2HPageable = "d2h_pageable_gbps"
	FactGEMMFP16    = "gemm_fp16_tflops"
	FactGEMMFP32    = "gemm_fp32_tflops"
)

// Facts is the result as the host fingerprint's strings.
func (r *ProbeResult) Facts() map[string]string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
	m := map[string]string{
		"device": r.Device, "compute_capability": r.ComputeCapability, "sms": strconv.Itoa(r.SMs), "pci_bus_id": r.PCIBusID,
		"cuda_version": r.CUDAVersion, "clock_mhz": strconv.Itoa(r.ClockMHz), "clock_source": r.ClockSource,
		FactLaunchP50: f(r.LaunchP50Us), FactLaunchP99: f(r.LaunchP99Us),
		FactH2DPinned: f(r.H2DPinnedGBps), FactD2HPinned: f(r.D2HPinnedGBps),
		FactH2DPageable: f(r.H2DPageableGBps), FactD2HPageable: f(r.D2HPageableGBps),
		FactGEMMFP16: f(r.GEMMFP16TFLOPS), FactGEMMFP32: f(r.GEMMFP32TFLOPS),
		"gemm_size": strconv.Itoa(r.GEMMSize),
	}
	if r.PeakFP16TFLOPS > 0 {
		m["peak_fp16_tflops"] = f(r.PeakFP16TFLOPS)
		m["gemm_fp16_pct_of_peak"] = f(100 * r.GEMMFP16TFLOPS / r.PeakFP16TFLOPS)
	}
	if r.PeakFP32TFLOPS > 0 {
		m["peak_fp32_tflops"] = f(r.PeakFP32TFLOPS)
		m["gemm_fp32_pct_of_peak"] = f(100 * r.GEMMFP32TFLOPS / r.PeakFP32TFLOPS)
	}
	return m
}

// peakPerSM is the dense rate per SM per clock in FLOP, a multiply-add
// counting two: fp16 with fp32 accumulation on the tensor cores, and fp32
// on the CUDA cores, by compute capability (data-centre parts).
var peakPerSM = map[string][2]float64{
	"7.0": {1024, 128}, "7.2": {1024, 128}, "7.5": {1024, 128},
	"8.0": {2048, 128}, "8.6": {1024, 256}, "8.9": {1024, 256},
	"9.0": {4096, 256}, "10.0": {8192, 256},
}

// Probe measures the device: empty-kernel launch latency (launch to
// completion, one at a time), host↔device copy bandwidth from pinned and
// pageable memory, and the fp16 and fp32 GEMM kernels' throughput on
// square matrices, against the device's peak. It frees what it allocates.
func Probe(ctx context.Context, drv Driver, o ProbeOptions) (res *ProbeResult, err error) {
	o = o.withDefaults()
	cfg := DefaultConfig()
	cfg.Device = o.Device
	dev, err := openDevice(drv, cfg, nil)
	if err != nil {
		return nil, fmt.Errorf("cuda: probe: %w", err)
	}
	defer func() { err = errors.Join(err, dev.close()) }()
	p := &prober{drv: drv, dev: dev, o: o}
	res, err = p.run(ctx)
	if err != nil {
		return nil, fmt.Errorf("cuda: probe: %w", err)
	}
	return res, nil
}

type prober struct {
	drv    Driver
	dev    *device
	o      ProbeOptions
	stream Stream
}

func (p *prober) run(ctx context.Context) (*ProbeResult, error) {
	r := &ProbeResult{GEMMSize: p.o.GEMMSize}
	drv, d := p.drv, p.dev.dev
	var err error
	if r.Device, err = drv.DeviceName(d); err != nil {
		return nil, err
	}
	attr := func(a Attribute) int {
		v, e := drv.DeviceAttribute(d, a)
		err = errors.Join(err, e)
		return v
	}
	r.ComputeCapability = fmt.Sprintf("%d.%d", attr(AttrCCMajor), attr(AttrCCMinor))
	r.SMs = attr(AttrSMCount)
	r.PCIBusID = fmt.Sprintf("%08X:%02X:%02X.0", attr(AttrPCIDomainID), attr(AttrPCIBusID), attr(AttrPCIDeviceID))
	clockKHz := attr(AttrClockRateKHz)
	if err != nil {
		return nil, err
	}
	v, err := drv.DriverVersion()
	if err != nil {
		return nil, err
	}
	r.CUDAVersion = cudaVersion(v)
	r.SetClock(clockKHz/1000, "cuda")
	if p.o.MaxSMClockMHz > 0 {
		r.SetClock(p.o.MaxSMClockMHz, "nvml")
	}

	if p.stream, err = drv.StreamCreate(); err != nil {
		return nil, err
	}
	defer func() { _ = drv.StreamDestroy(p.stream) }()
	for _, step := range []func(context.Context, *ProbeResult) error{p.launches, p.copies, p.gemms} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := step(ctx, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// launches times empty kernels, launch to completion, after a warm-up.
func (p *prober) launches(ctx context.Context, r *ProbeResult) error {
	l := emptyLaunch()
	f := p.dev.fns[l.fn]
	lat := make([]float64, 0, p.o.Launches)
	for i := range p.o.Launches + 100 {
		if i%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		t := time.Now()
		if err := p.drv.LaunchKernel(f, l.grid, l.block, l.smem, p.stream, l.args); err != nil {
			return fmt.Errorf("%s: %w", l.fn, err)
		}
		if err := p.drv.StreamSynchronize(p.stream); err != nil {
			return err
		}
		if i >= 100 {
			lat = append(lat, float64(time.Since(t).Nanoseconds())/1e3)
		}
	}
	slices.Sort(lat)
	r.LaunchP50Us, r.LaunchP99Us = quantile(lat, 0.5), quantile(lat, 0.99)
	return nil
}

// quantile is the q-quantile of sorted v, nearest rank.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	i := int(q*float64(len(v))+0.5) - 1
	return v[min(max(i, 0), len(v)-1)]
}

// copies times copies both ways, from pinned memory (asynchronous, then
// a synchronise) and from pageable Go memory (synchronous), each the
// median of its repetitions after one untimed.
func (p *prober) copies(_ context.Context, r *ProbeResult) error {
	n := p.o.CopyBytes
	dbuf, err := p.dev.alloc(n)
	if err != nil {
		return err
	}
	pinned, err := p.dev.hostAlloc(n)
	if err != nil {
		return err
	}
	pageable := make([]byte, n)
	for i := range pageable {
		pageable[i] = byte(i)
	}
	copy(pinned, pageable)
	sync := func(err error) error {
		if err != nil {
			return err
		}
		return p.drv.StreamSynchronize(p.stream)
	}
	for _, c := range []struct {
		dst *float64
		fn  func() error
	}{
		{&r.H2DPinnedGBps, func() error { return sync(p.drv.MemcpyHtoDAsync(dbuf, pinned, p.stream)) }},
		{&r.D2HPinnedGBps, func() error { return sync(p.drv.MemcpyDtoHAsync(pinned, dbuf, p.stream)) }},
		{&r.H2DPageableGBps, func() error { return p.drv.MemcpyHtoD(dbuf, pageable) }},
		{&r.D2HPageableGBps, func() error { return p.drv.MemcpyDtoH(pageable, dbuf) }},
	} {
		gbps := make([]float64, 0, p.o.Copies)
		for i := range p.o.Copies + 1 {
			t := time.Now()
			if err := c.fn(); err != nil {
				return err
			}
			if i > 0 {
				gbps = append(gbps, float64(n)/time.Since(t).Seconds()/1e9)
			}
		}
		slices.Sort(gbps)
		*c.dst = quantile(gbps, 0.5)
	}
	return nil
}

// gemms times the encoder's GEMM kernels on size³ products of random
// values (zeros would let the clocks run higher than real data does),
// by events on the stream: the median of the repetitions after one
// untimed.
func (p *prober) gemms(ctx context.Context, r *ProbeResult) error {
	n := p.o.GEMMSize
	start, err := p.drv.EventCreate(true)
	if err != nil {
		return err
	}
	defer func() { _ = p.drv.EventDestroy(start) }()
	end, err := p.drv.EventCreate(true)
	if err != nil {
		return err
	}
	defer func() { _ = p.drv.EventDestroy(end) }()
	vals := make([]float32, n*n)
	state := uint64(0x5eed)
	for i := range vals {
		state += 0x9e3779b97f4a7c15
		vals[i] = float32(splitmix(state)>>40)/(1<<23) - 1
	}
	bias, err := p.dev.put(FP32, make([]float32, n))
	if err != nil {
		return err
	}
	for _, g := range []struct {
		dt  DType
		dst *float64
	}{{FP16, &r.GEMMFP16TFLOPS}, {FP32, &r.GEMMFP32TFLOPS}} {
		if err := ctx.Err(); err != nil {
			return err
		}
		a, err := p.dev.put(g.dt, vals)
		if err != nil {
			return err
		}
		b, err := p.dev.put(g.dt, vals)
		if err != nil {
			return err
		}
		c, err := p.dev.alloc(n * n * g.dt.size())
		if err != nil {
			return err
		}
		l := gemmLaunch(g.dt, uint64(c), uint64(a), uint64(b), uint64(bias), 0, n, n, n, 0)
		f := p.dev.fns[l.fn]
		tflops := make([]float64, 0, p.o.GEMMs)
		for i := range p.o.GEMMs + 1 {
			err := errors.Join(p.drv.EventRecord(start, p.stream),
				p.drv.LaunchKernel(f, l.grid, l.block, l.smem, p.stream, l.args),
				p.drv.EventRecord(end, p.stream), p.drv.EventSynchronize(end))
			if err != nil {
				return fmt.Errorf("%s: %w", l.fn, err)
			}
			ms, err := p.drv.EventElapsedTime(start, end)
			if err != nil {
				return err
			}
			if i > 0 && ms > 0 {
				tflops = append(tflops, 2*float64(n)*float64(n)*float64(n)/(float64(ms)/1e3)/1e12)
			}
		}
		slices.Sort(tflops)
		*g.dst = quantile(tflops, 0.5)
	}
	return nil
}

// probes caches each driver's probe per device: Describe is asked for on
// every fingerprint, and the probe takes the GPU for a second or two.
var probes = struct {
	sync.Mutex
	m map[probeKey]*ProbeResult
}{m: map[probeKey]*ProbeResult{}}

type probeKey struct {
	drv    Driver
	device int
}

// Describe probes the backend's device (once per process) and returns
// its facts, which the agent records in the host fingerprint.
func (b *Backend) Describe(ctx context.Context) (map[string]string, error) {
	k := probeKey{b.drv, b.cfg.Device}
	probes.Lock()
	defer probes.Unlock()
	r, ok := probes.m[k]
	if !ok {
		var err error
		if r, err = Probe(ctx, b.drv, ProbeOptions{Device: b.cfg.Device}); err != nil {
			return nil, err
		}
		probes.m[k] = r
	}
	return r.Facts(), nil
}
