package gpu

import "fmt"

// Status is what the capability probe found for one metric of one device.
type Status string

// Probe outcomes. Only Supported metrics are sampled.
const (
	Supported     Status = "supported"
	NotSupported  Status = "not_supported"
	NoPermission  Status = "no_permission"
	SymbolMissing Status = "symbol_missing" // the installed driver lacks the function
	Failed        Status = "error"          // any other NVML error
)

// Capability is the probe's verdict on one metric: the status, the NVML
// function that answered (or would have), and the error text otherwise.
type Capability struct {
	Status Status `json:"status"`
	API    string `json:"api,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// OK reports whether the metric is sampled.
func (c Capability) OK() bool { return c.Status == Supported }

// Reason is the text a summary shows for an unavailable metric.
func (c Capability) Reason() string {
	switch c.Status {
	case Supported:
		return ""
	case NotSupported:
		if c.Detail != "" {
			return "not supported (" + c.Detail + ")"
		}
		return "not supported"
	case NoPermission:
		return "no permission"
	case SymbolMissing:
		return fmt.Sprintf("driver lacks %s", c.API)
	default:
		if c.Detail != "" {
			return "error: " + c.Detail
		}
		return "error"
	}
}

// Capability keys beyond the per-tick metrics.
const (
	CapUtilSamples = "util_samples" // GetSamples for GPU and memory utilization
	CapECC         = "ecc_errors"
	CapXID         = "xid_events"
	CapLicense     = "vgpu_license"
	CapPersistence = "persistence_mode"
	CapPState      = "performance_state"
	CapProcesses   = "processes"
	CapAppClocks   = "application_clocks"
	CapVGPUHost    = "vgpu_host_utilization"
	// CapGPM is NVML's GPM (Hopper and newer), the source of every
	// Profiling metric; each of those carries the same verdict.
	CapGPM = "gpm"
)

// Capabilities maps a metric's name (Metric.Name, or a Cap* key) to what
// the probe found.
type Capabilities map[string]Capability

// Of returns the capability of metric m.
func (c Capabilities) Of(m Metric) Capability {
	if v, ok := c[m.Name()]; ok {
		return v
	}
	return Capability{Status: Failed, Detail: "not probed"}
}
