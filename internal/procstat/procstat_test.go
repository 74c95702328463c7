package procstat

import "testing"

func TestParseCPUAndShare(t *testing.T) {
	a, err := ParseCPU([]byte("cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 50 0 25 400 5 0 2 18 0 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseCPU([]byte("cpu  200 0 100 1600 20 0 10 70 0 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Steal != 35 || a.Total() != 1000 {
		t.Fatalf("parsed %+v total %d", a, a.Total())
	}
	pct, ok := Share(a, b, func(c CPU) uint64 { return c.Steal })
	if !ok || pct != 3.5 {
		t.Fatalf("steal %v%% ok %v; want 3.5%%", pct, ok)
	}
	if _, ok := Share(b, b, func(c CPU) uint64 { return c.Steal }); ok {
		t.Fatal("a share over no ticks")
	}
	if _, err := ParseCPU([]byte("intr 1 2 3\n")); err == nil {
		t.Fatal("no cpu line parsed")
	}
	if _, err := ParseCPU([]byte("cpu  1 x 3 4\n")); err == nil {
		t.Fatal("a bad field parsed")
	}
	if _, err := ReadSelf(); err != nil {
		t.Fatal(err)
	}
}
