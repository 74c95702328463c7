//go:build !(linux && cgo)

package gpu

import "time"

// CallCost is what one NVML call costs on this host, averaged over calls.
type CallCost struct {
	Device int           `json:"device"`
	Call   string        `json:"call"`
	Wall   time.Duration `json:"wall_ns"`
	CPU    time.Duration `json:"cpu_ns"`
	Return string        `json:"return"`
}

// CallCosts has nothing to time without NVML.
func (n *NVML) CallCosts(int) []CallCost { return nil }
