// Package sysmem reads how much memory this process may use: the host's
// physical memory, or the cgroup's limit when a container sets a lower one.
package sysmem

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Total returns the memory available to this process in bytes and where the
// figure comes from ("MemTotal" or the cgroup file that caps it).
func Total() (uint64, string, error) { return TotalUnder("/") }

// TotalUnder is Total reading /proc and /sys under root, for tests.
func TotalUnder(root string) (uint64, string, error) {
	total, err := memTotal(filepath.Join(root, "proc/meminfo"))
	if err != nil {
		return 0, "", err
	}
	from := "MemTotal"
	for _, f := range []string{"sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if n, ok := cgroupLimit(filepath.Join(root, f)); ok && n < total {
			total, from = n, "/"+f
		}
	}
	return total, from, nil
}

func memTotal(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil || kb == 0 {
			return 0, fmt.Errorf("%s: MemTotal %q is not a size in kB", path, strings.TrimSpace(rest))
		}
		return kb * 1024, nil
	}
	return 0, errors.New(path + ": no MemTotal line")
}

// cgroupLimit reads a cgroup memory limit; "max" (v2) or a huge number
// (v1's way of saying none) is no limit.
func cgroupLimit(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n == 0 || n >= 1<<62 {
		return 0, false
	}
	return n, true
}
