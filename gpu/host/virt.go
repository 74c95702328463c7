package host

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

// DMI is the SMBIOS identity the kernel exposes in /sys/class/dmi/id (the
// world-readable fields). Present is false where there are no DMI tables:
// containers often hide them, and some VMs (Firecracker) have none.
type DMI struct {
	Present         bool   `json:"present"`
	SysVendor       string `json:"sys_vendor,omitempty"`
	ProductName     string `json:"product_name,omitempty"`
	ProductVersion  string `json:"product_version,omitempty"`
	BoardVendor     string `json:"board_vendor,omitempty"`
	BoardAssetTag   string `json:"board_asset_tag,omitempty"`
	BIOSVendor      string `json:"bios_vendor,omitempty"`
	BIOSVersion     string `json:"bios_version,omitempty"`
	ChassisVendor   string `json:"chassis_vendor,omitempty"`
	ChassisAssetTag string `json:"chassis_asset_tag,omitempty"`
}

// GPUSignal is NVML's view of one GPU, given to Verdict by the gpu package.
type GPUSignal struct {
	// Mode is NVML's virtualization mode: none, passthrough, vgpu,
	// host_vgpu or host_vsga; "" when NVML could not tell.
	Mode string `json:"mode"`
	// VGPUType is the vGPU type name in a guest (the device name).
	VGPUType string `json:"vgpu_type,omitempty"`
	// Licensed is a vGPU guest's license state; nil where it does not apply.
	Licensed *bool `json:"licensed,omitempty"`
	// HostVGPUMode is non_sriov or sriov on a vGPU host.
	HostVGPUMode string `json:"host_vgpu_mode,omitempty"`
}

// Signals is every virtualization hint read, each recorded as found.
type Signals struct {
	// Arch is the processor architecture; CPUID's hypervisor bit only
	// means something on x86.
	Arch  string `json:"arch"`
	DMI   DMI    `json:"dmi"`
	CPUID CPUID  `json:"cpuid"`
	// CPUInfoHypervisor is the "hypervisor" flag in /proc/cpuinfo.
	CPUInfoHypervisor bool `json:"cpuinfo_hypervisor_flag"`
	// SysHypervisor is /sys/hypervisor/type ("xen" on Xen).
	SysHypervisor string `json:"sys_hypervisor_type,omitempty"`
	// Xen is "domU", "dom0" or "" from /proc/xen.
	Xen string `json:"xen,omitempty"`
	// ContainerMarkers are the files, cgroup paths and variables that
	// betray a container.
	ContainerMarkers []string `json:"container_markers,omitempty"`
	// NVML is each GPU's own view; empty without NVML or GPUs.
	NVML []GPUSignal `json:"nvml,omitempty"`
	// NVMLUnavailable is why NVML gave no view.
	NVMLUnavailable string `json:"nvml_unavailable,omitempty"`
}

// Read collects every signal below o's root except NVML's.
func Read(o Options) Signals {
	s := Signals{Arch: runtime.GOARCH}
	d := "sys/class/dmi/id/"
	s.DMI = DMI{
		SysVendor: o.read(d + "sys_vendor"), ProductName: o.read(d + "product_name"),
		ProductVersion: o.read(d + "product_version"), BoardVendor: o.read(d + "board_vendor"),
		BoardAssetTag: o.read(d + "board_asset_tag"), BIOSVendor: o.read(d + "bios_vendor"),
		BIOSVersion: o.read(d + "bios_version"), ChassisVendor: o.read(d + "chassis_vendor"),
		ChassisAssetTag: o.read(d + "chassis_asset_tag"),
	}
	s.DMI.Present = s.DMI != (DMI{})
	if o.CPUID != nil {
		s.CPUID = o.CPUID()
	} else {
		s.CPUID = ReadCPUID()
	}
	_, _, s.CPUInfoHypervisor = cpuinfo(o.read("proc/cpuinfo"))
	s.SysHypervisor = o.read("sys/hypervisor/type")
	if o.exists("proc/xen") {
		s.Xen = "domU"
		if strings.Contains(o.read("proc/xen/capabilities"), "control_d") {
			s.Xen = "dom0"
		}
	}
	s.ContainerMarkers = containerMarkers(o)
	return s
}

// containerMarkers lists what shows this process runs in a container.
func containerMarkers(o Options) []string {
	var m []string
	for _, f := range []string{".dockerenv", "run/.containerenv"} {
		if o.exists(f) {
			m = append(m, "/"+f)
		}
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := getenv("container"); v != "" {
		m = append(m, "container="+v)
	}
	if getenv("KUBERNETES_SERVICE_HOST") != "" {
		m = append(m, "KUBERNETES_SERVICE_HOST")
	}
	cg := o.read("proc/1/cgroup") + "\n" + o.read("proc/self/cgroup")
	for _, k := range []string{"kubepods", "docker", "containerd", "libpod", "lxc"} {
		if strings.Contains(cg, "/"+k) {
			m = append(m, "cgroup:"+k)
		}
	}
	return m
}

// Kinds of platform a Verdict names.
const (
	BareMetal     = "bare_metal"
	VM            = "vm" // a VM without a GPU (or NVML) to say how it is attached
	PassthroughVM = "passthrough_vm"
	VGPUVM        = "vgpu_vm"
	VGPUHost      = "vgpu_host"
	Container     = "container"
)

// Verdict is the derived answer: where this process runs.
type Verdict struct {
	// Kind is the one-word answer: bare_metal, vm, passthrough_vm, vgpu_vm,
	// vgpu_host or container.
	Kind string `json:"kind"`
	// Platform is what is under a container, or Kind outside one.
	Platform string `json:"platform"`
	// Hypervisor names it: KVM, VMware, Hyper-V, Xen, AWS Nitro, bhyve, ...
	Hypervisor string `json:"hypervisor,omitempty"`
	Cloud      string `json:"cloud,omitempty"` // aws, azure, gcp, openstack
	// Container is docker, podman, kubernetes, containerd or lxc.
	Container string `json:"container,omitempty"`
	// Summary is one readable line.
	Summary string `json:"summary"`
	// Evidence lists the signals the verdict rests on; Conflicts those that
	// disagree with it.
	Evidence  []string `json:"evidence"`
	Conflicts []string `json:"conflicts,omitempty"`
}

// Virtualization is the fingerprint's record: every signal and the verdict.
type Virtualization struct {
	Signals Signals `json:"signals"`
	Verdict Verdict `json:"verdict"`
}

// Derive combines the signals into a verdict.
func Derive(s Signals) Verdict {
	var v Verdict
	ev := func(format string, args ...any) { v.Evidence = append(v.Evidence, fmt.Sprintf(format, args...)) }

	// The hypervisor, from the CPU, then firmware and Xen's own files.
	cpuVM := s.CPUID.Hypervisor || s.CPUInfoHypervisor
	sig := strings.TrimSpace(strings.TrimRight(s.CPUID.Signature, "\x00"))
	if s.CPUID.Hypervisor {
		ev("CPUID hypervisor bit set")
	} else if s.CPUInfoHypervisor {
		ev("/proc/cpuinfo hypervisor flag")
	}
	if sig != "" {
		name, ok := hypervisorBySignature[sig]
		if !ok {
			name = sig
		}
		v.Hypervisor = name
		ev("CPUID hypervisor signature %q (%s)", sig, name)
	}
	dmiVM, dmiHyp, cloud, metal := classifyDMI(s.DMI)
	if s.DMI.Present {
		ev("DMI %q / %q", s.DMI.SysVendor, s.DMI.ProductName)
	} else {
		ev("no DMI tables")
	}
	v.Cloud = cloud
	x86 := s.Arch == "amd64" || s.Arch == "386"
	if cloud == "gcp" && x86 && !cpuVM && sig == "" {
		// GCP's bare-metal shapes keep the VM's DMI names; only the CPU
		// tells them apart (cloud VMs never hide the hypervisor bit).
		metal = true
	}
	if dmiHyp != "" && (v.Hypervisor == "" || v.Hypervisor == "KVM" || v.Hypervisor == "Hyper-V" && dmiHyp == "KVM") {
		// The firmware is more specific (AWS Nitro is KVM; QEMU may fake
		// Hyper-V's signature for Windows guests).
		v.Hypervisor = dmiHyp
	}
	if s.SysHypervisor != "" {
		ev("/sys/hypervisor/type %q", s.SysHypervisor)
		if v.Hypervisor == "" && strings.EqualFold(s.SysHypervisor, "xen") {
			v.Hypervisor = "Xen"
		}
	}
	if s.Xen != "" {
		ev("/proc/xen (%s)", s.Xen)
		if v.Hypervisor == "" {
			v.Hypervisor = "Xen"
		}
	}
	inVM := cpuVM || dmiVM || s.SysHypervisor != "" || s.Xen == "domU"
	if s.Xen == "dom0" {
		// dom0 runs on Xen but owns the hardware.
		inVM = false
	}
	if metal {
		ev("DMI product %q is a bare-metal instance", s.DMI.ProductName)
		if cpuVM {
			v.Conflicts = append(v.Conflicts, "the CPU reports a hypervisor on a .metal instance")
		} else {
			inVM = false
			v.Hypervisor = ""
		}
	}
	if !inVM && v.Hypervisor != "" && s.Xen != "dom0" {
		v.Conflicts = append(v.Conflicts, fmt.Sprintf("hypervisor %s named but no hypervisor bit", v.Hypervisor))
	}

	// The GPU's own view decides how the GPU is attached.
	modes := map[string]int{}
	for _, g := range s.NVML {
		if g.Mode != "" {
			modes[g.Mode]++
		}
	}
	switch {
	case modes["vgpu"] > 0:
		v.Platform = VGPUVM
		ev("NVML: %d vGPU device(s)", modes["vgpu"])
		if !inVM {
			v.Conflicts = append(v.Conflicts, "NVML reports a vGPU but the CPU and firmware show no hypervisor")
		}
	case modes["passthrough"] > 0:
		v.Platform = PassthroughVM
		ev("NVML: %d passthrough device(s)", modes["passthrough"])
	case modes["host_vgpu"] > 0 || modes["host_vsga"] > 0:
		v.Platform = VGPUHost
		ev("NVML: vGPU host mode")
	case modes["none"] > 0:
		ev("NVML: %d device(s) with no virtualization", modes["none"])
		if inVM {
			// A GPU inside a VM is passed through whatever the driver says.
			v.Platform = PassthroughVM
			v.Conflicts = append(v.Conflicts, "NVML reports no virtualization while the CPU or firmware shows a hypervisor")
		} else {
			v.Platform = BareMetal
		}
	default:
		if s.NVMLUnavailable != "" {
			ev("NVML unavailable: %s", s.NVMLUnavailable)
		}
		if inVM {
			v.Platform = VM
		} else {
			v.Platform = BareMetal
		}
	}
	if v.Platform == BareMetal || v.Platform == VGPUHost {
		if s.Xen != "dom0" && !metal {
			v.Hypervisor = ""
		}
	}

	v.Container = containerKind(s.ContainerMarkers)
	if v.Container != "" {
		ev("container markers: %s", strings.Join(s.ContainerMarkers, ", "))
		v.Kind = Container
	} else {
		v.Kind = v.Platform
	}
	v.Summary = summary(v, len(s.NVML))
	return v
}

// classifyDMI reads the firmware identity: whether it names a VM, the
// hypervisor it implies, the cloud, and whether it is a cloud bare-metal
// instance (AWS ".metal").
func classifyDMI(d DMI) (vm bool, hyp, cloud string, metal bool) {
	if !d.Present {
		return false, "", "", false
	}
	has := func(s, sub string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(sub)) }
	vendor, product := d.SysVendor, d.ProductName
	switch {
	case has(vendor, "Amazon EC2"):
		cloud = "aws"
		if strings.HasSuffix(product, ".metal") || strings.Contains(product, ".metal-") {
			return false, "", cloud, true
		}
		return true, "AWS Nitro", cloud, false
	case has(d.BIOSVersion, "amazon") && has(vendor, "Xen"):
		return true, "Xen", "aws", false
	case has(vendor, "Google") || has(product, "Google Compute Engine"):
		// GCP's hypervisor is KVM-based; its bare-metal shapes keep the names.
		return true, "KVM", "gcp", false
	case has(vendor, "Microsoft Corporation") && has(product, "Virtual Machine"):
		if d.ChassisAssetTag == "7783-7084-3265-9085-8269-3286-77" {
			cloud = "azure"
		}
		return true, "Hyper-V", cloud, false
	case has(vendor, "VMware") || has(product, "VMware"):
		return true, "VMware", "", false
	case has(product, "OpenStack") || has(vendor, "OpenStack"):
		return true, "KVM", "openstack", false
	case has(vendor, "QEMU") || has(product, "KVM") || has(product, "Standard PC (") || has(d.ChassisVendor, "QEMU") || has(d.BIOSVendor, "SeaBIOS"):
		return true, "KVM", "", false
	case has(vendor, "Xen") || has(product, "HVM domU"):
		return true, "Xen", "", false
	case has(vendor, "innotek") || has(product, "VirtualBox"):
		return true, "VirtualBox", "", false
	case has(vendor, "Parallels"):
		return true, "Parallels", "", false
	case has(vendor, "Oxide") || has(product, "OxVM"):
		return true, "bhyve", "", false
	}
	return false, "", "", false
}

func containerKind(markers []string) string {
	kind := ""
	for _, m := range markers {
		switch {
		case m == "KUBERNETES_SERVICE_HOST" || m == "cgroup:kubepods":
			return "kubernetes"
		case m == "/run/.containerenv" || m == "cgroup:libpod" || m == "container=podman":
			kind = "podman"
		case (m == "/.dockerenv" || m == "cgroup:docker") && kind == "":
			kind = "docker"
		case m == "cgroup:lxc" || m == "container=lxc":
			kind = "lxc"
		case m == "cgroup:containerd" && kind == "":
			kind = "containerd"
		case strings.HasPrefix(m, "container=") && kind == "":
			kind = strings.TrimPrefix(m, "container=")
		}
	}
	return kind
}

func summary(v Verdict, gpus int) string {
	var b strings.Builder
	if v.Container != "" {
		fmt.Fprintf(&b, "container (%s) ", v.Container)
		switch v.Platform {
		case BareMetal:
			b.WriteString("on bare metal")
		default:
			b.WriteString("in a " + describe(v.Platform))
		}
	} else if v.Platform == BareMetal {
		b.WriteString("bare metal")
	} else {
		b.WriteString(describe(v.Platform))
	}
	if v.Hypervisor != "" && v.Platform != BareMetal {
		fmt.Fprintf(&b, " on %s", v.Hypervisor)
	}
	if v.Cloud != "" {
		fmt.Fprintf(&b, " (%s)", strings.ToUpper(v.Cloud))
	}
	if gpus == 0 {
		b.WriteString("; no NVIDIA GPU visible")
	}
	return b.String()
}

func describe(platform string) string {
	switch platform {
	case VM:
		return "VM"
	case PassthroughVM:
		return "VM with GPU passthrough"
	case VGPUVM:
		return "VM with NVIDIA vGPU"
	case VGPUHost:
		return "vGPU hypervisor host"
	}
	return platform
}
