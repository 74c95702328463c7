package host

import "github.com/klauspost/cpuid/v2"

// CPUID holds the processor's hypervisor signals: the "hypervisor present"
// bit (leaf 1, ECX bit 31) and the vendor signature of leaf 0x40000000.
type CPUID struct {
	Hypervisor bool   `json:"hypervisor_bit"`
	Signature  string `json:"hypervisor_signature,omitempty"` // "KVMKVMKVM", "VMwareVMware", ...
	Brand      string `json:"brand,omitempty"`
}

// ReadCPUID reads this processor's CPUID hypervisor leaves.
func ReadCPUID() CPUID {
	c := cpuid.CPU
	return CPUID{
		Hypervisor: c.VM(),
		Signature:  c.HypervisorVendorString,
		Brand:      c.BrandName,
	}
}

// hypervisorBySignature names the hypervisor of a CPUID leaf 0x40000000
// signature (trailing NULs and spaces trimmed).
var hypervisorBySignature = map[string]string{
	"KVMKVMKVM":    "KVM",
	"Linux KVM Hv": "KVM", // KVM with Hyper-V enlightenments
	"TCGTCGTCGTCG": "QEMU (TCG)",
	"VMwareVMware": "VMware",
	"Microsoft Hv": "Hyper-V",
	"XenVMMXenVMM": "Xen",
	"bhyve bhyve":  "bhyve",
	"VBoxVBoxVBox": "VirtualBox",
	"ACRNACRNACRN": "ACRN",
	"lrpepyh  vr":  "Parallels",
	"QNXQVMBSQG":   "QNX",
	"SRESRESRESRE": "SRE",
	"HAXMHAXMHAXM": "HAXM",
	"EVMMEVMMEVMM": "Intel KGT",
}
