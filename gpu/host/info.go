package host

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Options says where to read from.
type Options struct {
	// Root is the filesystem root holding proc/, sys/ and etc/; "" is "/".
	Root string
	// CPUID returns the processor's hypervisor signals; nil reads them from
	// this CPU.
	CPUID func() CPUID
	// Getenv reads this process's environment (container markers); nil is
	// os.Getenv.
	Getenv func(string) string
}

func (o Options) root() string {
	if o.Root == "" {
		return "/"
	}
	return o.Root
}

// read returns the trimmed content of a file below the root, or "".
func (o Options) read(rel string) string {
	b, err := os.ReadFile(filepath.Join(o.root(), rel))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (o Options) exists(rel string) bool {
	_, err := os.Stat(filepath.Join(o.root(), rel))
	return err == nil
}

// Info is the host part of the fingerprint. Empty strings and zeros mean
// the host did not say; Unavailable names why where it matters.
type Info struct {
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	Kernel    string `json:"kernel,omitempty"`
	Distro    string `json:"distro,omitempty"`
	CPUModel  string `json:"cpu_model,omitempty"`
	CPUVendor string `json:"cpu_vendor,omitempty"`
	// CPUsOnline counts the online logical CPUs of the host (or VM).
	CPUsOnline int `json:"cpus_online"`
	// CPUsAllowed lists the CPUs this process may run on (cgroup cpusets
	// and affinity), e.g. "0-15".
	CPUsAllowed      string `json:"cpus_allowed,omitempty"`
	CPUsAllowedCount int    `json:"cpus_allowed_count,omitempty"`
	MemoryMiB        uint64 `json:"memory_mib,omitempty"`
	NUMANodes        int    `json:"numa_nodes,omitempty"`
	// Governor is CPU 0's cpufreq scaling governor; VMs usually have none.
	Governor string `json:"cpu_governor,omitempty"`
	// Unavailable names fields that could not be read, with the reason.
	Unavailable map[string]string `json:"unavailable,omitempty"`
}

// Collect reads the host's facts below o's root.
func Collect(o Options) Info {
	in := Info{OS: runtime.GOOS, Arch: runtime.GOARCH, Unavailable: map[string]string{}}
	in.Kernel = o.read("proc/sys/kernel/osrelease")
	in.Distro = osRelease(o.read("etc/os-release"))
	in.CPUModel, in.CPUVendor, _ = cpuinfo(o.read("proc/cpuinfo"))
	if on := o.read("sys/devices/system/cpu/online"); on != "" {
		in.CPUsOnline = countList(on)
	} else {
		in.CPUsOnline = runtime.NumCPU()
	}
	if st := o.read("proc/self/status"); st != "" {
		in.CPUsAllowed = field(st, "Cpus_allowed_list:")
		in.CPUsAllowedCount = countList(in.CPUsAllowed)
	}
	if kb, err := strconv.ParseUint(strings.TrimSuffix(field(o.read("proc/meminfo"), "MemTotal:"), " kB"), 10, 64); err == nil {
		in.MemoryMiB = kb / 1024
	}
	if ents, err := os.ReadDir(filepath.Join(o.root(), "sys/devices/system/node")); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "node") {
				if _, err := strconv.Atoi(e.Name()[4:]); err == nil {
					in.NUMANodes++
				}
			}
		}
	}
	if in.NUMANodes == 0 {
		in.Unavailable["numa_nodes"] = "no /sys/devices/system/node"
	}
	if g := o.read("sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"); g != "" {
		in.Governor = g
	} else {
		in.Unavailable["cpu_governor"] = "no cpufreq driver (usual in a VM)"
	}
	if len(in.Unavailable) == 0 {
		in.Unavailable = nil
	}
	return in
}

// osRelease returns PRETTY_NAME from an os-release file.
func osRelease(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// cpuinfo returns the first CPU's model and vendor, and whether its flags
// include "hypervisor" (CPUID leaf 1, ECX bit 31, as the kernel saw it).
func cpuinfo(s string) (model, vendor string, hypervisor bool) {
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	seenFlags := false
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "model name", "Model", "cpu model":
			if model == "" {
				model = v
			}
		case "vendor_id", "CPU implementer":
			if vendor == "" {
				vendor = v
			}
		case "flags", "Features":
			if !seenFlags {
				seenFlags = true
				hypervisor = containsWord(v, "hypervisor")
			}
		}
	}
	return model, vendor, hypervisor
}

func containsWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// field returns the value after key on the line that starts with it.
func field(s, key string) string {
	for _, l := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(l, key); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// countList counts the CPUs of a kernel list such as "0-3,8,10-11".
func countList(s string) int {
	n := 0
	for _, part := range bytes.Split([]byte(strings.TrimSpace(s)), []byte(",")) {
		if len(part) == 0 {
			continue
		}
		lo, hi, isRange := bytes.Cut(part, []byte("-"))
		a, err := strconv.Atoi(string(lo))
		if err != nil {
			continue
		}
		if !isRange {
			n++
			continue
		}
		b, err := strconv.Atoi(string(hi))
		if err != nil || b < a {
			continue
		}
		n += b - a + 1
	}
	return n
}
