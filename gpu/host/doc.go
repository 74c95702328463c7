// Package host fingerprints the machine under the GPU: OS, kernel, CPU,
// memory, NUMA, the CPU frequency governor and the CPUs this process may
// use, and every virtualization signal it can read without NVML (DMI,
// CPUID, /sys/hypervisor, Xen, container markers). Verdict combines those
// with NVML's own view into bare metal, VM, passthrough VM, vGPU VM or
// container, naming the hypervisor.
//
// Everything is read below a root folder, so tests run on fixture trees of
// real platforms; only CPUID comes from the processor, through an option.
package host
