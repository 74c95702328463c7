package sysmem

import (
	"os"
	"path/filepath"
	"testing"
)

func write(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTotalUnder(t *testing.T) {
	const meminfo = "MemTotal:       24576000 kB\nMemFree:         1000 kB\n"
	for _, tc := range []struct {
		name   string
		cgroup map[string]string
		want   uint64
		from   string
	}{
		{"bare host", nil, 24576000 * 1024, "MemTotal"},
		{"cgroup v2 without a limit", map[string]string{"sys/fs/cgroup/memory.max": "max\n"}, 24576000 * 1024, "MemTotal"},
		{"cgroup v2 limit", map[string]string{"sys/fs/cgroup/memory.max": "4294967296\n"}, 4 << 30, "/sys/fs/cgroup/memory.max"},
		{"cgroup v1 without a limit", map[string]string{"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, 24576000 * 1024, "MemTotal"},
		{"cgroup v1 limit", map[string]string{"sys/fs/cgroup/memory/memory.limit_in_bytes": "2147483648\n"}, 2 << 30, "/sys/fs/cgroup/memory/memory.limit_in_bytes"},
		{"cgroup above the host", map[string]string{"sys/fs/cgroup/memory.max": "1099511627776\n"}, 24576000 * 1024, "MemTotal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			write(t, root, "proc/meminfo", meminfo)
			for f, c := range tc.cgroup {
				write(t, root, f, c)
			}
			got, from, err := TotalUnder(root)
			if err != nil || got != tc.want || from != tc.from {
				t.Fatalf("TotalUnder = %d, %q, %v; want %d, %q", got, from, err, tc.want, tc.from)
			}
		})
	}
	root := t.TempDir()
	write(t, root, "proc/meminfo", "MemFree: 10 kB\n")
	if _, _, err := TotalUnder(root); err == nil {
		t.Fatal("no MemTotal line: no error")
	}
}

func TestTotalOnThisHost(t *testing.T) {
	n, from, err := Total()
	if err != nil {
		t.Skipf("no /proc/meminfo here: %v", err)
	}
	if n < 64<<20 || from == "" {
		t.Fatalf("Total() = %d from %q", n, from)
	}
}
