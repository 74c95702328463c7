package report

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/results"
)

// copyFile copies src to dir/name.
func copyFile(t *testing.T, src, dir, name string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFoldersLatency reads the latency lines of gpuperf's MultiStream
// summary fixture and of an LLM summary with first-token and
// time-per-output-token lines; the wanted values are copied from the
// files.
func TestFoldersLatency(t *testing.T) {
	root := t.TempDir()
	copyFile(t, filepath.Join("..", "mlperflog", "testdata", "multi_stream.summary.txt"), filepath.Join(root, "h", "run_1"), "mlperf_log_summary.txt")
	copyFile(t, filepath.Join("..", "mlperflog", "testdata", "server_tokens.summary.txt"), filepath.Join(root, "h", "run_2"), "mlperf_log_summary.txt")
	side := results.Side{Role: results.RoleBaseline, Path: root, Format: results.FormatGpuperf}

	ds, err := Folders{}.Latency(side, results.Repetition{Dir: "h/run_1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []LatencyPoint{{0, 9400126}, {0.5, 9850337}, {0.9, 10100212}, {0.95, 10200049}, {0.97, 10300871}, {0.99, 10600004}, {0.999, 11500222}, {1, 11800412}}
	if len(ds) != 1 || ds[0].Name != "latency" || ds[0].File != filepath.Join("h/run_1", "mlperf_log_summary.txt") {
		t.Fatalf("distributions %+v, want one latency distribution from h/run_1", ds)
	}
	if got := ds[0].Points; len(got) != len(want) {
		t.Fatalf("points %v, want %v", got, want)
	} else {
		for i := range want {
			if math.Abs(got[i].P-want[i].P) > 1e-12 || got[i].Ns != want[i].Ns {
				t.Errorf("point %d: %v, want %v", i, got[i], want[i])
			}
		}
	}

	ds, err = Folders{}.Latency(side, results.Repetition{Dir: "h/run_2"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
		if d.Points[0].P != 0 || d.Points[len(d.Points)-1].P != 1 || len(d.Points) != 8 {
			t.Errorf("%s: points %v, want min, 6 percentiles, max", d.Name, d.Points)
		}
	}
	if strings.Join(names, ",") != "latency,first token latency,time per output token" {
		t.Errorf("LLM summary distributions %v", names)
	}

	// Relocated: the side's recorded path is gone, Folders names the new
	// place.
	moved := results.Side{Role: results.RoleCandidate, Path: "/nonexistent/tree", Format: results.FormatGpuperf}
	if _, err := (Folders{Candidate: root}).Latency(moved, results.Repetition{Dir: "h/run_1"}); err != nil {
		t.Errorf("relocated: %v", err)
	}
	if _, err := (Folders{}).Latency(moved, results.Repetition{Dir: "h/run_1"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/tree/h/run_1/mlperf_log_summary.txt") {
		t.Errorf("missing summary: %v, want the path named", err)
	}
	if _, err := (Folders{}).Latency(side, results.Repetition{}); err == nil || !strings.Contains(err.Error(), "no folder") {
		t.Errorf("run without a folder: %v", err)
	}
	// A truncated summary names its line.
	trunc := filepath.Join(root, "h", "run_3")
	b, _ := os.ReadFile(filepath.Join(root, "h", "run_1", "mlperf_log_summary.txt"))
	if err := os.MkdirAll(trunc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(trunc, "mlperf_log_summary.txt"), []byte(strings.Replace(string(b), "Result is : VALID", "Result is : MAYBE", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (Folders{}).Latency(side, results.Repetition{Dir: "h/run_3"}); err == nil || !strings.Contains(err.Error(), "mlperf_log_summary.txt:8:") {
		t.Errorf("malformed summary: %v, want file:line", err)
	}
}

func TestFoldersTelemetry(t *testing.T) {
	root := t.TempDir()
	side := results.Side{Role: results.RoleBaseline, Path: root, Format: results.FormatGpuperf}
	write := func(rel, name, content string) {
		t.Helper()
		dir := filepath.Join(root, rel)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A run with telemetry.csv, two devices.
	write("ok", TelemetryFile, string(syntheticTelemetryCSV(2, 10, true)))
	tel, err := Folders{}.Telemetry(side, results.Repetition{Dir: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, s := range tel.Series {
		got[s.Metric+"/"+s.Device] = len(s.V)
	}
	// Each metric written once per device and tick; the host's steal once
	// per tick though every row repeats it.
	for _, k := range []string{"sm_clock_mhz/GPU 0", "sm_clock_mhz/GPU 1", "power_w/GPU 1", "host_steal_pct/host", "host_iowait_pct/host"} {
		if got[k] != 10 {
			t.Errorf("%s: %d values, want 10 (all: %v)", k, got[k], got)
		}
	}
	if _, ok := got["pcie_rx_kbps/GPU 0"]; ok {
		t.Error("an unread metric (empty cells) became a series")
	}
	if tel.File != filepath.Join("ok", TelemetryFile) {
		t.Errorf("file %q", tel.File)
	}

	// Host columns only, NVML unavailable: the host series, and why there
	// is no GPU series.
	hostOnly := strings.Join(gpu.CSVHeader(), ",") + "\n"
	for k := range 3 {
		hostOnly += fmt.Sprintf("%d%s,0.5,0.1\n", k*100000000, strings.Repeat(",", len(gpu.CSVHeader())-3))
	}
	write("hostonly", TelemetryFile, hostOnly)
	write("hostonly", "result.json", `{"telemetry": {"nvml": {"available": false, "unavailable": "NVML library not found"}}}`)
	tel, err = Folders{}.Telemetry(side, results.Repetition{Dir: "hostonly"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tel.Series) != 2 || tel.Series[0].Device != "host" || len(tel.Series[0].V) != 3 || tel.NoGPU != "NVML unavailable: NVML library not found" {
		t.Errorf("host-only telemetry: %+v", tel)
	}

	// No telemetry.csv: result.json says why.
	write("nonvml", "result.json", `{"telemetry": {"nvml": {"available": false, "unavailable": "NVML library not found"}}}`)
	if _, err := (Folders{}).Telemetry(side, results.Repetition{Dir: "nonvml"}); err == nil || !strings.Contains(err.Error(), "NVML unavailable: NVML library not found") {
		t.Errorf("no NVML: %v", err)
	}
	write("off", "result.json", `{"schema": "gpuperf.result/v1"}`)
	if _, err := (Folders{}).Telemetry(side, results.Repetition{Dir: "off"}); err == nil || !strings.Contains(err.Error(), "no telemetry.csv in off") {
		t.Errorf("sampler off: %v", err)
	}
	// A header only.
	write("empty", TelemetryFile, strings.Join(gpu.CSVHeader(), ",")+"\n")
	if _, err := (Folders{}).Telemetry(side, results.Repetition{Dir: "empty"}); err == nil || !strings.Contains(err.Error(), "has no samples") {
		t.Errorf("header only: %v", err)
	}
	// Published results have none.
	pub := results.Side{Role: results.RoleCandidate, Path: root, Format: results.FormatMLPerf}
	if _, err := (Folders{}).Telemetry(pub, results.Repetition{Dir: "ok"}); err == nil || !strings.Contains(err.Error(), "published MLPerf results carry no telemetry") {
		t.Errorf("published: %v", err)
	}
}

func TestParseTelemetryBad(t *testing.T) {
	h := strings.Join(gpu.CSVHeader(), ",")
	n := len(gpu.CSVHeader())
	row := func(cells map[int]string) string {
		r := make([]string, n)
		for i, v := range cells {
			r[i] = v
		}
		return strings.Join(r, ",")
	}
	for _, tc := range []struct{ name, csv, want string }{
		{"empty", "", "no header"},
		{"no time column", "a,b\n1,2\n", "no time_ns column"},
		{"bad time", h + "\n" + row(map[int]string{0: "soon", 1: "0"}) + "\n", "line 2: time_ns \"soon\""},
		{"bad value", h + "\n" + row(map[int]string{0: "0", 1: "0", 3: "fast"}) + "\n", "line 2: sm_clock_mhz \"fast\""},
		{"short row", h + "\n0,0\n", "wrong number of fields"},
	} {
		_, err := ParseTelemetry(strings.NewReader(tc.csv))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestDecimate: at most about n points, the extremes kept, flat stretches
// reduced to their ends.
func TestDecimate(t *testing.T) {
	var ts, vs []float64
	for i := range 1000 {
		ts = append(ts, float64(i))
		v := 10.0
		if i == 377 {
			v = -5 // a dip a mean would hide
		}
		if i == 612 {
			v = 40
		}
		vs = append(vs, v)
	}
	xys := decimate(ts, vs, 100)
	if len(xys) > 100 {
		t.Fatalf("%d points, want at most 100", len(xys))
	}
	var sawDip, sawSpike bool
	for i, p := range xys {
		sawDip = sawDip || (p.X == 377 && p.Y == -5)
		sawSpike = sawSpike || (p.X == 612 && p.Y == 40)
		if i > 0 && p.X <= xys[i-1].X {
			t.Fatalf("points out of time order at %d: %v", i, xys)
		}
	}
	if !sawDip || !sawSpike {
		t.Errorf("the dip (%v) or the spike (%v) was lost: %v", sawDip, sawSpike, xys)
	}
	// Flat: first and last only.
	flat := decimate([]float64{0, 1, 2, 3, 4}, []float64{7, 7, 7, 7, 7}, 100)
	if len(flat) != 2 || flat[0].X != 0 || flat[1].X != 4 {
		t.Errorf("flat series: %v, want its two ends", flat)
	}
}

// TestMedianRun: the lower median of the counted runs by value.
func TestMedianRun(t *testing.T) {
	sv := reps("h", "Offline", []float64{30, 10, 50, 20})
	r, ok := medianRun(sv)
	if !ok || r.Repetition != 4 { // sorted 10 (2), 20 (4), 30 (1), 50 (3)
		t.Errorf("median run %d, want repetition 4 (value 20)", r.Repetition)
	}
	sv.Runs[3].Counted = false
	if r, _ := medianRun(sv); r.Repetition != 1 { // 10, 30, 50
		t.Errorf("median of the counted runs %d, want 1 (value 30)", r.Repetition)
	}
	if _, ok := medianRun(results.SideValues{}); ok {
		t.Error("a side without runs has a median run")
	}
}
