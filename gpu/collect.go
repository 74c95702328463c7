package gpu

import (
	"os"
	"runtime"
	"time"

	"github.com/gpuperf/gpuperf/gpu/host"
)

// Fingerprint is the host fingerprint: Describe's fingerprint_json and
// `gpuperf describe --json`. A fairness check compares two of them.
type Fingerprint struct {
	Schema string `json:"schema"`
	// The first fields are the agent's original fingerprint, kept flat.
	Hostname string `json:"hostname"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	CPUs     int    `json:"cpus"`
	Kernel   string `json:"kernel,omitempty"`
	Version  string `json:"gpuperf_version"`

	CollectedAt    time.Time           `json:"collected_at"`
	Host           host.Info           `json:"host"`
	NVML           NVMLInfo            `json:"nvml"`
	GPUs           []DeviceInfo        `json:"gpus"`
	Virtualization host.Virtualization `json:"virtualization"`
	// Serving holds, per backend name, what a backend in front of a
	// serving stack says about it (server version, model configuration).
	Serving map[string]map[string]string `json:"serving,omitempty"`
}

// Collect builds the fingerprint from NVML and the host below o's root.
func Collect(n *NVML, o host.Options, version string) Fingerprint {
	hostname, _ := os.Hostname()
	in := host.Collect(o)
	fp := Fingerprint{
		Schema: FingerprintSchema, Hostname: hostname, OS: runtime.GOOS, Arch: runtime.GOARCH,
		CPUs: runtime.NumCPU(), Kernel: in.Kernel, Version: version,
		CollectedAt: time.Now().UTC().Truncate(time.Second),
		Host:        in, NVML: n.Info(), GPUs: n.Devices(),
	}
	sig := host.Read(o)
	sig.NVMLUnavailable = n.Unavailable()
	for _, g := range fp.GPUs {
		s := host.GPUSignal{Mode: g.Virtualization, HostVGPUMode: g.HostVGPUMode}
		if g.Virtualization == "vgpu" {
			s.VGPUType = g.Name
		}
		if g.VGPULicense != nil && g.VGPULicense.Supported {
			lic := g.VGPULicense.Licensed
			s.Licensed = &lic
		}
		sig.NVML = append(sig.NVML, s)
	}
	fp.Virtualization = host.Virtualization{Signals: sig, Verdict: host.Derive(sig)}
	return fp
}
