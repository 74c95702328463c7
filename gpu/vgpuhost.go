package gpu

import (
	"errors"
	"sync"
	"time"
)

// VGPUHostSchema versions VGPUHostSummary's JSON.
const VGPUHostSchema = "gpuperf.vgpu-host/v1"

// ErrNotVGPUHost means no device runs in vGPU host mode: the host-side
// sampler belongs on the hypervisor, not in a guest or on bare metal.
var ErrNotVGPUHost = errors.New("no GPU in vGPU host mode")

// VGPUHostSummary is what a vGPU hypervisor host saw during a candidate's
// run: each vGPU's share of the physical engines and the scheduler's
// configuration at the window's edges.
type VGPUHostSummary struct {
	Schema   string           `json:"schema"`
	WindowNs int64            `json:"window_ns"`
	Ticks    int              `json:"ticks"`
	Devices  []VGPUHostDevice `json:"devices"`
}

// VGPUHostDevice is one physical GPU on the host.
type VGPUHostDevice struct {
	Index int    `json:"index"`
	UUID  string `json:"uuid"`
	// SchedulerStart and SchedulerEnd are the vGPU scheduler's state at the
	// window's edges; nil where NVML could not tell.
	SchedulerStart *VGPUScheduler `json:"scheduler_start,omitempty"`
	SchedulerEnd   *VGPUScheduler `json:"scheduler_end,omitempty"`
	// Instances are the vGPUs active on the device, with their
	// utilization over the window (percent of the physical engine).
	Instances   []VGPUInstance `json:"instances"`
	Unavailable string         `json:"unavailable,omitempty"`
}

// VGPUScheduler is the vGPU scheduler's configuration.
type VGPUScheduler struct {
	Policy string `json:"policy"` // best_effort, equal_share, fixed_share
	// ARRMode is the adaptive round-robin mode (v1 API): default, disabled,
	// enabled.
	ARRMode string `json:"arr_mode,omitempty"`
	// AvgFactor and TimesliceUs are the v2 API's parameters.
	AvgFactor   uint32 `json:"avg_factor,omitempty"`
	TimesliceUs uint32 `json:"timeslice_us,omitempty"`
}

// VGPUInstance is one vGPU and its utilization samples' statistics.
type VGPUInstance struct {
	ID   uint32 `json:"id"`
	UUID string `json:"uuid,omitempty"`
	VMID string `json:"vm_id,omitempty"`
	Type string `json:"type,omitempty"`
	SM   *Stats `json:"sm_util_pct,omitempty"`
	Mem  *Stats `json:"mem_util_pct,omitempty"`
	Enc  *Stats `json:"enc_util_pct,omitempty"`
	Dec  *Stats `json:"dec_util_pct,omitempty"`
}

// vgpuHostDevice is the NVML side of one host GPU.
type vgpuHostDevice interface {
	info() DeviceInfo
	// instances lists the active vGPUs.
	vgpus() []VGPUInstance
	scheduler() *VGPUScheduler
	// vgpuSamples returns utilization samples newer than *last (NVML's
	// clock), advancing it: per instance id, SM, memory, encoder, decoder.
	vgpuSamples(last *uint64) (map[uint32][4][]float64, error)
}

// VGPUHostSampler samples, on a vGPU hypervisor host, every vGPU's
// utilization (GetVgpuUtilization) and the scheduler state inside a
// window, as Sampler does in the guest: an agent on the host runs it
// during a candidate's runs.
type VGPUHostSampler struct {
	devs []vgpuHostDevice
	wt   *windowTicker

	mu  sync.Mutex // protects everything below
	win *vgpuWindow
}

// newVGPUHostSampler returns an idle sampler of devs.
func newVGPUHostSampler(devs []vgpuHostDevice, interval time.Duration, clock func() int64) *VGPUHostSampler {
	s := &VGPUHostSampler{devs: devs}
	s.wt = &windowTicker{interval: interval, clock: clock, open: s.open, end: s.end,
		tick: func(int64, int) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.tick()
		}}
	return s
}

type vgpuWindow struct {
	start, end int64
	ended      bool
	ticks      int
	last       []uint64
	samples    []map[uint32][4][]float64
	sched0     []*VGPUScheduler
	sched1     []*VGPUScheduler
	errs       []string
}

// Window starts or ends the sampling window, like Sampler.Window.
func (s *VGPUHostSampler) Window(start bool, at int64) { s.wt.window(start, at) }

// Close ends a window left open.
func (s *VGPUHostSampler) Close() { s.wt.close() }

// open starts a window at instant at: the scheduler's state, and the
// samples already buffered skipped.
func (s *VGPUHostSampler) open(at int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &vgpuWindow{start: at, last: make([]uint64, len(s.devs)), samples: make([]map[uint32][4][]float64, len(s.devs)),
		sched0: make([]*VGPUScheduler, len(s.devs)), sched1: make([]*VGPUScheduler, len(s.devs)), errs: make([]string, len(s.devs))}
	for i, d := range s.devs {
		w.samples[i] = map[uint32][4][]float64{}
		w.sched0[i] = d.scheduler()
		// Skip what the buffer held before the window.
		_, _ = d.vgpuSamples(&w.last[i])
	}
	s.win = w
}

// end takes the last samples and the scheduler's state at instant at.
func (s *VGPUHostSampler) end(at int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick()
	s.win.end, s.win.ended = at, true
	for i, d := range s.devs {
		s.win.sched1[i] = d.scheduler()
	}
}

// tick collects every device's new samples. Called with mu held.
func (s *VGPUHostSampler) tick() {
	w := s.win
	w.ticks++
	for i, d := range s.devs {
		got, err := d.vgpuSamples(&w.last[i])
		if err != nil {
			w.errs[i] = err.Error()
			continue
		}
		for id, v := range got {
			cur := w.samples[i][id]
			for k := range cur {
				cur[k] = append(cur[k], v[k]...)
			}
			w.samples[i][id] = cur
		}
	}
}

// Summary describes the last window; nil before one ended.
func (s *VGPUHostSampler) Summary() *VGPUHostSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.win
	if w == nil || !w.ended {
		return nil
	}
	sum := &VGPUHostSummary{Schema: VGPUHostSchema, WindowNs: w.end - w.start, Ticks: w.ticks}
	for i, d := range s.devs {
		in := d.info()
		hd := VGPUHostDevice{Index: in.Index, UUID: in.UUID, SchedulerStart: w.sched0[i], SchedulerEnd: w.sched1[i], Unavailable: w.errs[i]}
		for _, v := range d.vgpus() {
			if got, ok := w.samples[i][v.ID]; ok {
				v.SM, v.Mem, v.Enc, v.Dec = statsOrNil(got[0]), statsOrNil(got[1]), statsOrNil(got[2]), statsOrNil(got[3])
			}
			hd.Instances = append(hd.Instances, v)
		}
		sum.Devices = append(sum.Devices, hd)
	}
	return sum
}

func statsOrNil(v []float64) *Stats {
	if len(v) == 0 {
		return nil
	}
	return stats(append([]float64(nil), v...))
}
