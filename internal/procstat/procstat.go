// Package procstat reads the host-wide CPU time counters of /proc/stat and
// this process's own CPU time, so a run can say how much CPU the hypervisor
// stole while it ran and how busy the load generator itself was.
package procstat

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU is the aggregate "cpu" line of /proc/stat, in clock ticks.
type CPU struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
}

// Total is every tick counted, guest time excluded (it is already in user).
func (c CPU) Total() uint64 {
	return c.User + c.Nice + c.System + c.Idle + c.IOWait + c.IRQ + c.SoftIRQ + c.Steal
}

// ReadCPU parses the aggregate cpu line of a /proc/stat file.
func ReadCPU(path string) (CPU, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return CPU{}, fmt.Errorf("read cpu times: %w", err)
	}
	return ParseCPU(b)
}

// ParseCPU parses the aggregate cpu line of /proc/stat content.
func ParseCPU(b []byte) (CPU, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[0] != "cpu" {
			continue
		}
		var v [8]uint64
		for i := 0; i < len(v) && i+1 < len(f); i++ {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return CPU{}, fmt.Errorf("parse /proc/stat cpu field %d: %w", i+1, err)
			}
			v[i] = n
		}
		return CPU{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]}, nil
	}
	return CPU{}, fmt.Errorf("no aggregate cpu line in /proc/stat")
}

// Share returns what fraction of the ticks between a and b went to field f,
// in percent, or false when no ticks passed.
func Share(a, b CPU, f func(CPU) uint64) (float64, bool) {
	total := b.Total() - a.Total()
	if b.Total() < a.Total() || total == 0 {
		return 0, false
	}
	return 100 * float64(f(b)-f(a)) / float64(total), true
}

// Self is this process's CPU time so far.
type Self struct{ User, System time.Duration }

// Sub returns the CPU time, user and system, spent since earlier.
func (s Self) Sub(earlier Self) time.Duration {
	return (s.User - earlier.User) + (s.System - earlier.System)
}

// ReadSelf returns this process's user and system CPU time.
func ReadSelf() (Self, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return Self{}, fmt.Errorf("getrusage: %w", err)
	}
	return Self{
		User:   time.Duration(ru.Utime.Nano()),
		System: time.Duration(ru.Stime.Nano()),
	}, nil
}
