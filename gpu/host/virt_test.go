package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixture reads a testdata tree, with the CPUID answer its cpuid file holds
// (a processor cannot be a file).
func fixture(t *testing.T, name string, env map[string]string) Options {
	t.Helper()
	root := filepath.Join("testdata", name)
	b, err := os.ReadFile(filepath.Join(root, "cpuid"))
	if err != nil {
		t.Fatal(err)
	}
	var c CPUID
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "hypervisor":
			c.Hypervisor = v == "1"
		case "signature":
			c.Signature = v
		}
	}
	return Options{Root: root, CPUID: func() CPUID { return c }, Getenv: func(k string) string { return env[k] }}
}

func TestDeriveFixtures(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	tests := []struct {
		fixture string
		nvml    []GPUSignal
		env     map[string]string
		// want
		kind, platform, hypervisor, cloud, container string
		conflicts                                    bool
		summary                                      string
	}{
		{fixture: "baremetal", kind: BareMetal, platform: BareMetal, summary: "bare metal; no NVIDIA GPU visible"},
		{fixture: "baremetal", nvml: []GPUSignal{{Mode: "none"}, {Mode: "none"}}, kind: BareMetal, platform: BareMetal, summary: "bare metal"},
		{fixture: "baremetal", nvml: []GPUSignal{{Mode: "host_vgpu", HostVGPUMode: "sriov"}}, kind: VGPUHost, platform: VGPUHost, summary: "vGPU hypervisor host"},
		{fixture: "vmware", kind: VM, platform: VM, hypervisor: "VMware", summary: "VM on VMware; no NVIDIA GPU visible"},
		{fixture: "vmware", nvml: []GPUSignal{{Mode: "vgpu", VGPUType: "GRID A100-40C", Licensed: &yes}}, kind: VGPUVM, platform: VGPUVM, hypervisor: "VMware", summary: "VM with NVIDIA vGPU on VMware"},
		{fixture: "kvm-qemu", nvml: []GPUSignal{{Mode: "passthrough"}}, kind: PassthroughVM, platform: PassthroughVM, hypervisor: "KVM", summary: "VM with GPU passthrough on KVM"},
		{fixture: "kvm-qemu", nvml: []GPUSignal{{Mode: "vgpu", Licensed: &no}}, kind: VGPUVM, platform: VGPUVM, hypervisor: "KVM"},
		// A GPU in a VM whose driver claims no virtualization: still passthrough, flagged.
		{fixture: "kvm-qemu", nvml: []GPUSignal{{Mode: "none"}}, kind: PassthroughVM, platform: PassthroughVM, hypervisor: "KVM", conflicts: true},
		{fixture: "hyperv", nvml: []GPUSignal{{Mode: "passthrough"}}, kind: PassthroughVM, platform: PassthroughVM, hypervisor: "Hyper-V", summary: "VM with GPU passthrough on Hyper-V"},
		{fixture: "azure", nvml: []GPUSignal{{Mode: "passthrough"}}, kind: PassthroughVM, platform: PassthroughVM, hypervisor: "Hyper-V", cloud: "azure", summary: "VM with GPU passthrough on Hyper-V (AZURE)"},
		{fixture: "aws-nitro", nvml: []GPUSignal{{Mode: "passthrough"}}, kind: PassthroughVM, platform: PassthroughVM, hypervisor: "AWS Nitro", cloud: "aws", summary: "VM with GPU passthrough on AWS Nitro (AWS)"},
		{fixture: "aws-metal", nvml: []GPUSignal{{Mode: "none"}}, kind: BareMetal, platform: BareMetal, cloud: "aws", summary: "bare metal (AWS)"},
		{fixture: "gcp", nvml: []GPUSignal{{Mode: "passthrough"}}, kind: PassthroughVM, platform: PassthroughVM, hypervisor: "KVM", cloud: "gcp"},
		{fixture: "xen", kind: VM, platform: VM, hypervisor: "Xen", summary: "VM on Xen; no NVIDIA GPU visible"},
		{fixture: "xen", nvml: []GPUSignal{{Mode: "passthrough"}}, kind: PassthroughVM, platform: PassthroughVM, hypervisor: "Xen"},
		// This development machine's shape: Docker in a VM without DMI tables.
		{fixture: "container-kvm", kind: Container, platform: VM, hypervisor: "KVM", container: "docker", summary: "container (docker) in a VM on KVM; no NVIDIA GPU visible"},
		{fixture: "kubernetes-baremetal", nvml: []GPUSignal{{Mode: "none"}}, kind: Container, platform: BareMetal, container: "kubernetes", summary: "container (kubernetes) on bare metal"},
		{fixture: "baremetal", env: map[string]string{"container": "podman"}, kind: Container, platform: BareMetal, container: "podman"},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			s := Read(fixture(t, tc.fixture, tc.env))
			s.Arch = "amd64"
			s.NVML = tc.nvml
			v := Derive(s)
			if v.Kind != tc.kind || v.Platform != tc.platform || v.Hypervisor != tc.hypervisor || v.Cloud != tc.cloud || v.Container != tc.container {
				t.Errorf("Derive(%s, %+v) = kind %q platform %q hypervisor %q cloud %q container %q; want %q %q %q %q %q\nevidence: %q",
					tc.fixture, tc.nvml, v.Kind, v.Platform, v.Hypervisor, v.Cloud, v.Container,
					tc.kind, tc.platform, tc.hypervisor, tc.cloud, tc.container, v.Evidence)
			}
			if (len(v.Conflicts) > 0) != tc.conflicts {
				t.Errorf("conflicts = %q; want any: %v", v.Conflicts, tc.conflicts)
			}
			if tc.summary != "" && v.Summary != tc.summary {
				t.Errorf("summary = %q; want %q", v.Summary, tc.summary)
			}
			if len(v.Evidence) == 0 {
				t.Error("no evidence recorded")
			}
		})
	}
}

func TestReadSignals(t *testing.T) {
	t.Parallel()
	s := Read(fixture(t, "xen", nil))
	if s.SysHypervisor != "xen" || s.Xen != "domU" || !s.CPUInfoHypervisor || s.CPUID.Signature != "XenVMMXenVMM" {
		t.Errorf("xen signals: %+v", s)
	}
	s = Read(fixture(t, "azure", nil))
	if !s.DMI.Present || s.DMI.ChassisAssetTag != "7783-7084-3265-9085-8269-3286-77" || s.DMI.SysVendor != "Microsoft Corporation" {
		t.Errorf("azure DMI: %+v", s.DMI)
	}
	s = Read(fixture(t, "container-kvm", nil))
	if s.DMI.Present || len(s.ContainerMarkers) != 1 || s.ContainerMarkers[0] != "/.dockerenv" {
		t.Errorf("container signals: DMI %+v markers %q", s.DMI, s.ContainerMarkers)
	}
	s = Read(fixture(t, "kubernetes-baremetal", map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"}))
	if strings.Join(s.ContainerMarkers, ",") != "KUBERNETES_SERVICE_HOST,cgroup:kubepods" {
		t.Errorf("kubernetes markers %q", s.ContainerMarkers)
	}
}

// A GPU-passthrough VM that hides the hypervisor from the CPU (QEMU
// kvm=off) is still a VM: the firmware gives it away.
func TestHiddenHypervisor(t *testing.T) {
	t.Parallel()
	o := fixture(t, "kvm-qemu", nil)
	o.CPUID = func() CPUID { return CPUID{} }
	s := Read(o)
	s.Arch = "amd64"
	s.CPUInfoHypervisor = false
	s.NVML = []GPUSignal{{Mode: "none"}}
	if v := Derive(s); v.Platform != PassthroughVM || v.Hypervisor != "KVM" {
		t.Errorf("hidden KVM: %+v", v)
	}
}

func TestCollect(t *testing.T) {
	t.Parallel()
	in := Collect(fixture(t, "baremetal", nil))
	if in.CPUModel != "Intel(R) Xeon(R) Platinum 8480+" || in.CPUVendor != "GenuineIntel" || in.CPUsOnline != 2 ||
		in.CPUsAllowed != "0-1" || in.CPUsAllowedCount != 2 || in.MemoryMiB != 2113413120/1024 || in.NUMANodes != 2 ||
		in.Governor != "performance" || in.Kernel != "6.8.0-45-generic" || in.Distro != "Ubuntu 22.04.4 LTS" {
		t.Errorf("Collect(baremetal) = %+v", in)
	}
	in = Collect(fixture(t, "vmware", nil))
	if in.Governor != "" || in.Unavailable["cpu_governor"] == "" || in.NUMANodes != 1 {
		t.Errorf("Collect(vmware) = %+v", in)
	}
}

func TestCountList(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"0": 1, "0-3": 4, "0-3,8,10-11": 7, "": 0, "0-1\n": 2} {
		if got := countList(in); got != want {
			t.Errorf("countList(%q) = %d; want %d", in, got, want)
		}
	}
}
