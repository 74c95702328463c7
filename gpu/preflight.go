package gpu

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Preflight is the GPU state recorded before a run's warm-up.
type Preflight struct {
	NVML    NVMLInfo      `json:"nvml"`
	Devices []DeviceState `json:"devices,omitempty"`
	// Warnings are what a person should know about the run's conditions.
	Warnings []string `json:"warnings,omitempty"`
}

// DeviceState is one GPU's state before a run. Pointer fields are nil when
// unavailable; Unavailable says why.
type DeviceState struct {
	Index int    `json:"index"`
	UUID  string `json:"uuid"`
	// PersistenceMode keeps the driver loaded between clients; off, the
	// first CUDA call of a run pays the initialisation.
	PersistenceMode *bool `json:"persistence_mode,omitempty"`
	PState          *int  `json:"pstate,omitempty"` // 0 is the fastest
	TemperatureC    *int  `json:"temperature_c,omitempty"`
	// Application clocks (target, and the default) and locked clocks show
	// someone pinned the GPU's clocks.
	AppSMClockMHz        *uint32 `json:"app_sm_clock_mhz,omitempty"`
	AppMemClockMHz       *uint32 `json:"app_mem_clock_mhz,omitempty"`
	DefaultAppSMClockMHz *uint32 `json:"default_app_sm_clock_mhz,omitempty"`
	ClocksPinned         *bool   `json:"clocks_pinned,omitempty"`
	// Processes are the other processes on the GPU.
	Processes   []Process         `json:"processes,omitempty"`
	VGPULicense *License          `json:"vgpu_license,omitempty"`
	Unavailable map[string]string `json:"unavailable,omitempty"`
}

// Process is one process holding a GPU context.
type Process struct {
	PID     uint32 `json:"pid"`
	Name    string `json:"name,omitempty"`
	UsedMiB uint64 `json:"used_mib,omitempty"`
}

// ErrUnlicensed refuses a run on an unlicensed vGPU: its driver throttles
// it, so the run would measure the throttle.
var ErrUnlicensed = errors.New("vGPU is not licensed")

// Preflight records every device's state. Processes other than this one
// are named in a warning, as are disabled persistence mode and pinned
// clocks.
func (n *NVML) Preflight() Preflight {
	p := Preflight{NVML: n.info}
	self := os.Getpid()
	for _, d := range n.devs {
		st := d.state(self)
		p.Devices = append(p.Devices, st)
		if len(st.Processes) > 0 {
			var names []string
			for _, pr := range st.Processes {
				names = append(names, fmt.Sprintf("%s (pid %d, %d MiB)", orUnknown(pr.Name), pr.PID, pr.UsedMiB))
			}
			p.Warnings = append(p.Warnings, fmt.Sprintf("GPU %d runs other processes: %s", st.Index, strings.Join(names, ", ")))
		}
		if st.PersistenceMode != nil && !*st.PersistenceMode {
			p.Warnings = append(p.Warnings, fmt.Sprintf("GPU %d: persistence mode is off", st.Index))
		}
		if st.ClocksPinned != nil && *st.ClocksPinned {
			p.Warnings = append(p.Warnings, fmt.Sprintf("GPU %d: application clocks differ from the default (clocks pinned)", st.Index))
		}
		if st.PState != nil && *st.PState > 0 && len(st.Processes) > 0 {
			// Idle GPUs sit in a high P-state; busy ones should not.
			p.Warnings = append(p.Warnings, fmt.Sprintf("GPU %d is busy in P%d", st.Index, *st.PState))
		}
		if l := st.VGPULicense; l != nil && l.Supported && !l.Licensed {
			p.Warnings = append(p.Warnings, fmt.Sprintf("GPU %d: vGPU license state %s", st.Index, l.State))
		}
	}
	return p
}

// Check returns ErrUnlicensed (wrapped, naming the GPU) when a vGPU is
// unlicensed and allowUnlicensed is false.
func (p Preflight) Check(allowUnlicensed bool) error {
	if allowUnlicensed {
		return nil
	}
	var errs []error
	for _, st := range p.Devices {
		if l := st.VGPULicense; l != nil && l.Supported && !l.Licensed {
			errs = append(errs, fmt.Errorf("GPU %d (%s): %w (state %s); an unlicensed vGPU is throttled, so the run would measure the throttle (set gpu.allow_unlicensed_vgpu in the agent config to run anyway)", st.Index, st.UUID, ErrUnlicensed, l.State))
		}
	}
	return errors.Join(errs...)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
