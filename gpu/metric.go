package gpu

// Metric is one per-tick telemetry series of a device.
type Metric int

// The sampled metrics. Energy is the driver's cumulative counter; the
// summary turns it into the energy used over the window. The Prof* metrics
// are DCGM's profiling metrics (DCGM_FI_PROF_*) computed by NVML's GPM
// (Hopper and newer) between two of its samples: a reading holds the value
// since the previous GPM sample, and the summary reports the value over
// the whole window from samples at its edges.
const (
	SMClock Metric = iota
	MemClock
	GPUUtil
	MemUtil
	Power
	Energy
	Temperature
	MemUsed
	PCIeTX
	PCIeRX
	PCIeLinkGen
	PCIeLinkWidth
	ClockEvents
	ProfGRActive     // GPM_METRIC_GRAPHICS_UTIL
	ProfSMActive     // GPM_METRIC_SM_UTIL
	ProfSMOccupancy  // GPM_METRIC_SM_OCCUPANCY
	ProfTensorActive // GPM_METRIC_ANY_TENSOR_UTIL
	ProfDRAMActive   // GPM_METRIC_DRAM_BW_UTIL
	ProfFP64Active   // GPM_METRIC_FP64_UTIL
	ProfFP32Active   // GPM_METRIC_FP32_UTIL
	ProfFP16Active   // GPM_METRIC_FP16_UTIL
	ProfPCIeTX       // GPM_METRIC_PCIE_TX_PER_SEC
	ProfPCIeRX       // GPM_METRIC_PCIE_RX_PER_SEC
	NumMetrics
)

// metricInfo names a metric in JSON, CSV and Prometheus.
type metricInfo struct {
	name string // JSON and CSV name, unit last
	unit string
	// dcgm is dcgm-exporter's field name, where its value means the same
	// thing (in the unit ToDCGM converts to); empty otherwise.
	dcgm string
	help string
}

var metrics = [NumMetrics]metricInfo{
	SMClock:     {"sm_clock_mhz", "MHz", "DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz)."},
	MemClock:    {"mem_clock_mhz", "MHz", "DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz)."},
	GPUUtil:     {"gpu_util_pct", "%", "DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)."},
	MemUtil:     {"mem_util_pct", "%", "DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %)."},
	Power:       {"power_w", "W", "DCGM_FI_DEV_POWER_USAGE", "Power draw (in W)."},
	Energy:      {"energy_mj", "mJ", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "Total energy consumption since boot (in mJ)."},
	Temperature: {"gpu_temp_c", "C", "DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C)."},
	MemUsed:     {"fb_used_mib", "MiB", "DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."},
	// dcgm-exporter's old PCIe names carry the same NVML value (KB/s over
	// 20 ms); it declared them counters, they are rates.
	PCIeTX:        {"pcie_tx_kbps", "KB/s", "DCGM_FI_DEV_PCIE_TX_THROUGHPUT", "PCIe transmit throughput (in KB/s)."},
	PCIeRX:        {"pcie_rx_kbps", "KB/s", "DCGM_FI_DEV_PCIE_RX_THROUGHPUT", "PCIe receive throughput (in KB/s)."},
	PCIeLinkGen:   {"pcie_link_gen", "", "", "Current PCIe link generation."},
	PCIeLinkWidth: {"pcie_link_width", "lanes", "", "Current PCIe link width (lanes)."},
	ClockEvents:   {"clock_event_reasons", "bitmask", "", "Clock event (throttle) reasons, NVML bitmask."},
	// dcgm-exporter reports the profiling metrics as ratios (0-1) and PCIe
	// in bytes/s; GPM gives percent and MiB/s.
	ProfGRActive:     {"prof_gr_engine_active_pct", "%", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "Ratio of time the graphics engine is active."},
	ProfSMActive:     {"prof_sm_active_pct", "%", "DCGM_FI_PROF_SM_ACTIVE", "The ratio of cycles an SM has at least 1 warp assigned."},
	ProfSMOccupancy:  {"prof_sm_occupancy_pct", "%", "DCGM_FI_PROF_SM_OCCUPANCY", "The ratio of number of warps resident on an SM."},
	ProfTensorActive: {"prof_pipe_tensor_active_pct", "%", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "Ratio of cycles any tensor pipe is active."},
	ProfDRAMActive:   {"prof_dram_active_pct", "%", "DCGM_FI_PROF_DRAM_ACTIVE", "Ratio of cycles the device memory interface is active sending or receiving data."},
	ProfFP64Active:   {"prof_pipe_fp64_active_pct", "%", "DCGM_FI_PROF_PIPE_FP64_ACTIVE", "Ratio of cycles the fp64 pipes are active."},
	ProfFP32Active:   {"prof_pipe_fp32_active_pct", "%", "DCGM_FI_PROF_PIPE_FP32_ACTIVE", "Ratio of cycles the fp32 pipes are active."},
	ProfFP16Active:   {"prof_pipe_fp16_active_pct", "%", "DCGM_FI_PROF_PIPE_FP16_ACTIVE", "Ratio of cycles the fp16 pipes are active."},
	ProfPCIeTX:       {"prof_pcie_tx_mibps", "MiB/s", "DCGM_FI_PROF_PCIE_TX_BYTES", "The rate of data transmitted over the PCIe bus - including both protocol headers and data payloads - in bytes per second."},
	ProfPCIeRX:       {"prof_pcie_rx_mibps", "MiB/s", "DCGM_FI_PROF_PCIE_RX_BYTES", "The rate of data received over the PCIe bus - including both protocol headers and data payloads - in bytes per second."},
}

// Name is the metric's JSON and CSV name.
func (m Metric) Name() string { return metrics[m].name }

// Unit is the metric's unit.
func (m Metric) Unit() string { return metrics[m].unit }

// DCGM is dcgm-exporter's name for the metric, or "" where it has none with
// the same meaning; ToDCGM converts a value to its unit.
func (m Metric) DCGM() string { return metrics[m].dcgm }

// ToDCGM converts a value of the metric to dcgm-exporter's unit: its
// profiling metrics are ratios (we keep percent, as for the other
// utilizations) and PCIe bytes/s (GPM gives MiB/s).
func (m Metric) ToDCGM(v float64) float64 {
	switch {
	case !m.Profiling():
		return v
	case metrics[m].unit == "MiB/s":
		return v * (1 << 20)
	}
	return v / 100
}

// Help is a one-line description of the metric as dcgm-exporter reports
// it.
func (m Metric) Help() string { return metrics[m].help }

// Profiling reports whether m is one of DCGM's profiling metrics, which
// NVML computes from GPM samples (Hopper and newer).
func (m Metric) Profiling() bool { return m >= ProfGRActive && m <= ProfPCIeRX }

// Reading is one device's values at one tick. A metric whose bit is clear
// in Valid was not read: unavailable, not 0.
type Reading struct {
	Valid uint32
	Value [NumMetrics]float64
	// Reasons is the clock-event bitmask (Value[ClockEvents] as an integer).
	Reasons uint64
	// EnergyMJ is the raw energy counter, which float64 cannot hold exactly.
	EnergyMJ uint64
	// UtilFromSamples says GPU/memory utilization came from NVML's sample
	// buffer (GetSamples) rather than the instantaneous rate.
	UtilFromSamples bool
}

// Has reports whether m was read.
func (r *Reading) Has(m Metric) bool { return r.Valid&(1<<m) != 0 }

// Set records m's value.
func (r *Reading) Set(m Metric, v float64) {
	r.Valid |= 1 << m
	r.Value[m] = v
}

// Get returns m's value and whether it was read.
func (r *Reading) Get(m Metric) (float64, bool) { return r.Value[m], r.Has(m) }

// ClockEventReason is one bit of NVML's clock event (throttle) reasons.
type ClockEventReason struct {
	Bit  uint64
	Name string
}

// ClockEventReasons lists NVML's reason bits (nvml.h
// nvmlClocksEventReason*/nvmlClocksThrottleReason*) with stable names.
var ClockEventReasons = []ClockEventReason{
	{0x1, "gpu_idle"},
	{0x2, "applications_clocks_setting"},
	{0x4, "sw_power_cap"},
	{0x8, "hw_slowdown"},
	{0x10, "sync_boost"},
	{0x20, "sw_thermal_slowdown"},
	{0x40, "hw_thermal_slowdown"},
	{0x80, "hw_power_brake_slowdown"},
	{0x100, "display_clock_setting"},
	{0x200, "board_limit"},
	{0x400, "reliability"},
}

// reasonIdle is the bit that only says nothing is running.
const reasonIdle = 0x1
