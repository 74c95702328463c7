//go:build linux && cgo

package gpu

import (
	"fmt"
	"reflect"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// NewVGPUHostSampler returns a sampler of every GPU in vGPU host mode, or
// ErrNotVGPUHost. cfg's Interval and Clock apply.
func (n *NVML) NewVGPUHostSampler(cfg SamplerConfig) (*VGPUHostSampler, error) {
	interval, clock := cfg.Interval, cfg.Clock
	if interval <= 0 {
		interval = DefaultInterval
	}
	if clock == nil {
		origin := time.Now()
		clock = func() int64 { return int64(time.Since(origin)) }
	}
	var devs []vgpuHostDevice
	for _, d := range n.devs {
		nd, ok := d.(*nvDevice)
		if !ok || nd.inf.Virtualization != "host_vgpu" {
			continue
		}
		if !nd.syms.has("nvmlDeviceGetVgpuUtilization") || !nd.syms.has("nvmlDeviceGetActiveVgpus") {
			return nil, fmt.Errorf("GPU %d: driver lacks nvmlDeviceGetVgpuUtilization", nd.inf.Index)
		}
		devs = append(devs, (*nvHostDevice)(nd))
	}
	if len(devs) == 0 {
		return nil, ErrNotVGPUHost
	}
	return newVGPUHostSampler(devs, interval, clock), nil
}

// nvHostDevice is an nvDevice seen from the vGPU host side.
type nvHostDevice nvDevice

func (d *nvHostDevice) info() DeviceInfo { return d.inf }

// instanceID is the number NVML's samples name a vGPU by: go-nvml's
// VgpuInstance has no getter for it, but its concrete type is a uint32.
func instanceID(v nvml.VgpuInstance) (uint32, bool) {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return 0, false
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Uint32, reflect.Uint, reflect.Uint64:
		return uint32(rv.Uint()), true
	case reflect.Struct:
		// A mock carries its id in a field named ID.
		if f := rv.FieldByName("ID"); f.IsValid() && f.CanUint() {
			return uint32(f.Uint()), true
		}
	}
	return 0, false
}

func (d *nvHostDevice) vgpus() []VGPUInstance {
	list, ret := d.h.GetActiveVgpus()
	if ret != nvml.SUCCESS {
		return nil
	}
	var out []VGPUInstance
	for _, v := range list {
		id, ok := instanceID(v)
		if !ok {
			continue
		}
		in := VGPUInstance{ID: id}
		if u, ret := v.GetUUID(); ret == nvml.SUCCESS {
			in.UUID = u
		}
		if vm, _, ret := v.GetVmID(); ret == nvml.SUCCESS {
			in.VMID = vm
		}
		if t, ret := v.GetType(); ret == nvml.SUCCESS && t != nil {
			if name, ret := t.GetName(); ret == nvml.SUCCESS {
				in.Type = name
			}
		}
		out = append(out, in)
	}
	return out
}

var schedPolicies = map[uint32]string{1: "best_effort", 2: "equal_share", 3: "fixed_share"}
var arrModes = map[uint32]string{0: "default", 1: "disabled", 2: "enabled"}

// scheduler reads the scheduler state: the v2 API where the driver has it,
// else the deprecated v1.
func (d *nvHostDevice) scheduler() *VGPUScheduler {
	if d.syms.has("nvmlDeviceGetVgpuSchedulerState_v2") {
		st, ret := d.h.GetVgpuSchedulerState_v2(nvml.VgpuSchedulerStateInfo_v2{})
		if ret == nvml.SUCCESS {
			return &VGPUScheduler{Policy: schedPolicies[st.SchedulerPolicy], AvgFactor: st.AvgFactor, TimesliceUs: st.Timeslice}
		}
		return nil
	}
	if d.syms.has("nvmlDeviceGetVgpuSchedulerState") {
		st, ret := d.h.GetVgpuSchedulerState()
		if ret == nvml.SUCCESS {
			return &VGPUScheduler{Policy: schedPolicies[st.SchedulerPolicy], ARRMode: arrModes[st.ArrMode]}
		}
	}
	return nil
}

func (d *nvHostDevice) vgpuSamples(last *uint64) (map[uint32][4][]float64, error) {
	vt, samples, ret := d.h.GetVgpuUtilization(*last)
	switch ret {
	case nvml.SUCCESS:
	case nvml.ERROR_NOT_FOUND:
		return nil, nil // nothing new
	default:
		return nil, fmt.Errorf("GetVgpuUtilization: %s", returnName(ret))
	}
	out := map[uint32][4][]float64{}
	for _, s := range samples {
		if s.TimeStamp <= *last && *last != 0 {
			continue
		}
		v := out[s.VgpuInstance]
		for k, b := range [4][8]byte{s.SmUtil, s.MemUtil, s.EncUtil, s.DecUtil} {
			v[k] = append(v[k], sampleValue(vt, b))
		}
		out[s.VgpuInstance] = v
		*last = max(*last, s.TimeStamp)
	}
	return out, nil
}
