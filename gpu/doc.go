// Package gpu is gpuperf's only door to NVML (through go-nvml): device
// discovery, a capability probe, the telemetry sampler that runs inside a
// run's measurement window, the per-run summary and its CSV series, the
// preflight that records GPU state before a run, the host side of vGPU, and
// the GPU part of the host fingerprint. On Hopper and newer the sampler also
// reads NVML's GPM, which computes DCGM's profiling metrics (SM, tensor and
// DRAM active, PCIe bytes) without DCGM.
//
// Every NVML call sits behind a successful Init and, for newer or
// deprecated functions, a LookupSymbol check: NVML kills the process when
// either is skipped. A metric a device cannot report is unavailable, with
// the reason, never 0. On a host without NVML (or a build without cgo)
// everything here works and says why there is no GPU data.
package gpu
