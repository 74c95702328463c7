//go:build !(linux && cgo)

package gpu

// NewVGPUHostSampler needs NVML: without it there is no vGPU host.
func (n *NVML) NewVGPUHostSampler(SamplerConfig) (*VGPUHostSampler, error) {
	return nil, ErrNotVGPUHost
}
