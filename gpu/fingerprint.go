package gpu

// FingerprintSchema versions Fingerprint's JSON.
const FingerprintSchema = "gpuperf.fingerprint/v1"

// NVMLInfo says whether NVML answered, and the driver it found.
type NVMLInfo struct {
	Available bool `json:"available"`
	// Unavailable is why there is no NVML data ("NVML library not found").
	Unavailable       string `json:"unavailable,omitempty"`
	DriverVersion     string `json:"driver_version,omitempty"`
	NVMLVersion       string `json:"nvml_version,omitempty"`
	CUDADriverVersion string `json:"cuda_driver_version,omitempty"` // "12.4"
	DeviceCount       int    `json:"device_count"`
}

// DeviceInfo is one GPU in the host fingerprint: what a fairness check
// compares and what shows that two runs used the same physical GPU.
// String fields are empty and numbers zero where NVML could not tell; the
// reasons are in Unavailable.
type DeviceInfo struct {
	Index int `json:"index"`
	// Minor is the /dev/nvidiaN number; -1 where unknown.
	Minor        int    `json:"minor_number"`
	Name         string `json:"name"`
	UUID         string `json:"uuid"`
	Serial       string `json:"serial,omitempty"`
	PCIBusID     string `json:"pci_bus_id,omitempty"`
	PCIDeviceID  string `json:"pci_device_id,omitempty"` // "0x233010DE"
	Architecture string `json:"architecture,omitempty"`
	ComputeCap   string `json:"compute_capability,omitempty"`
	VBIOS        string `json:"vbios_version,omitempty"`
	MemoryMiB    uint64 `json:"memory_total_mib,omitempty"`
	// PowerLimitW is the enforced limit; default and max follow.
	PowerLimitW        float64 `json:"power_limit_w,omitempty"`
	PowerDefaultLimitW float64 `json:"power_default_limit_w,omitempty"`
	ECCMode            string  `json:"ecc_mode,omitempty"` // enabled, disabled
	MIGMode            string  `json:"mig_mode,omitempty"` // enabled, disabled
	MaxSMClockMHz      uint32  `json:"max_sm_clock_mhz,omitempty"`
	MaxMemClockMHz     uint32  `json:"max_mem_clock_mhz,omitempty"`
	// PCIe links: the device's own maximum, the maximum the system allows
	// (a VM's virtual root port can cap it) and the link now (it trains down
	// at idle).
	PCIeMaxGen       int  `json:"pcie_max_gen,omitempty"`
	PCIeMaxWidth     int  `json:"pcie_max_width,omitempty"`
	PCIeSystemGen    int  `json:"pcie_system_max_gen,omitempty"`
	PCIeCurrentGen   int  `json:"pcie_current_gen,omitempty"`
	PCIeCurrentWidth int  `json:"pcie_current_width,omitempty"`
	NUMANode         *int `json:"numa_node,omitempty"`
	// CPUAffinity lists the CPUs NVML calls ideal for this GPU.
	CPUAffinity string `json:"cpu_affinity,omitempty"`
	// Virtualization is NVML's view: none, passthrough, vgpu, host_vgpu,
	// host_vsga.
	Virtualization string `json:"virtualization_mode,omitempty"`
	HostVGPUMode   string `json:"host_vgpu_mode,omitempty"` // non_sriov, sriov
	// VGPULicense is a guest's license state; nil outside vGPU guests.
	VGPULicense *License `json:"vgpu_license,omitempty"`
	// Capabilities is the probe's matrix for this device.
	Capabilities Capabilities `json:"capabilities,omitempty"`
	// Unavailable names fields NVML could not fill, with the reason.
	Unavailable map[string]string `json:"unavailable,omitempty"`
}

// License is a vGPU guest's license: an unlicensed vGPU is throttled, so a
// benchmark on it measures the throttle.
type License struct {
	Supported bool   `json:"supported"`
	Licensed  bool   `json:"licensed"`
	State     string `json:"state"` // licensed, unlicensed, unlicensed_restricted, ...
	Product   string `json:"product,omitempty"`
	Expiry    string `json:"expiry,omitempty"`
}
