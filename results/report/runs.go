package report

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gpuperf/gpuperf/results"
	"github.com/gpuperf/gpuperf/results/mlperflog"
)

// RunReader reads what the HTML charts need from one run's folder, beyond
// the Comparison: its latency distributions and its telemetry. An error
// says why the data is unavailable; the chart prints it.
type RunReader interface {
	Latency(side results.Side, rep results.Repetition) ([]Distribution, error)
	Telemetry(side results.Side, rep results.Repetition) (*Telemetry, error)
}

// Distribution is a latency distribution as LoadGen reports it: its
// minimum, nearest-rank percentiles and maximum.
type Distribution struct {
	// Name is "latency" (per sample; per query for MultiStream), "first
	// token latency" or "time per output token".
	Name string
	// Points ascend in P; P is a fraction, 0 for the minimum, 1 for the
	// maximum.
	Points []LatencyPoint
	// File names where the distribution was read, relative to the side.
	File string
	// BoundNs is the run's latency bound (Server's target latency,
	// summary's "target_latency (ns)"), 0 when it has none.
	BoundNs float64
}

// LatencyPoint is one percentile.
type LatencyPoint struct {
	P  float64
	Ns float64
}

// Telemetry is one run's telemetry.csv as series.
type Telemetry struct {
	File   string
	Series []Series
	// NoGPU says why there are host series only, when result.json says
	// (NVML unavailable, say); empty otherwise.
	NoGPU string
}

// Series is one metric of one device (or of the host) over the run's
// timed window.
type Series struct {
	// Metric is telemetry.csv's column (sm_clock_mhz, host_steal_pct).
	Metric string
	// Device is "GPU 0", ..., or "host".
	Device string
	// T is seconds since the window's start; V the values.
	T, V []float64
}

// Folders reads runs from the sides' folders on disk: a run's files are
// in <root>/<Repetition.Dir>, where root is the side's Path unless
// Baseline or Candidate names where that side's folder is now (a stored
// report read from another working directory, or a tree that moved).
type Folders struct {
	Baseline, Candidate string
}

var _ RunReader = Folders{}

func (f Folders) dir(side results.Side, rep results.Repetition) (string, error) {
	root := side.Path
	switch {
	case side.Role == results.RoleBaseline && f.Baseline != "":
		root = f.Baseline
	case side.Role == results.RoleCandidate && f.Candidate != "":
		root = f.Candidate
	}
	if rep.Dir == "" {
		return "", errors.New("the run has no folder (it did not finish)")
	}
	// The folder comes from a stored comparison: it must stay inside the
	// side's folder, whoever wrote the file.
	if !filepath.IsLocal(rep.Dir) {
		return "", fmt.Errorf("run folder %q is not a folder inside %s", rep.Dir, root)
	}
	return filepath.Join(root, rep.Dir), nil
}

// Latency reads the distributions from the run's mlperf_log_summary.txt,
// which gpuperf and MLPerf runs alike keep.
func (f Folders) Latency(side results.Side, rep results.Repetition) ([]Distribution, error) {
	dir, err := f.dir(side, rep)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, mlperflog.SummaryFile)
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	sum, err := mlperflog.ReadSummary(file)
	if err != nil {
		var le *mlperflog.LineError
		if errors.As(err, &le) && le.Line > 0 {
			return nil, fmt.Errorf("%s:%d: %s", path, le.Line, le.Msg)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ds := summaryDistributions(sum)
	if len(ds) == 0 {
		return nil, fmt.Errorf("%s reports no latency percentiles", path)
	}
	rel := filepath.Join(rep.Dir, mlperflog.SummaryFile)
	for i := range ds {
		ds[i].File = rel
	}
	return ds, nil
}

// percentileLabel matches LoadGen's "50.00 percentile latency (ns)" lines
// and their first-token and time-per-output-token kin.
var percentileLabel = regexp.MustCompile(`^(\d+(?:\.\d+)?) percentile (latency|first token latency|time to output token) \(ns\)$`)

// summaryDistributions collects the summary's latency lines. LoadGen
// prints "Min latency (ns)", "Max latency (ns)" and the percentiles; for
// tokens "Min First Token latency (ns)" and "Min Time to Output Token
// (ns)" likewise.
func summaryDistributions(s *mlperflog.Summary) []Distribution {
	kinds := []struct {
		name, key string
		min, max  []string
	}{
		{"latency", "latency", []string{"Min latency (ns)"}, []string{"Max latency (ns)"}},
		{"first token latency", "first token latency", []string{"Min First Token latency (ns)"}, []string{"Max First Token latency (ns)"}},
		// LoadGen has printed both "Time to" and "Time per".
		{"time per output token", "time to output token",
			[]string{"Min Time to Output Token (ns)", "Min Time per Output Token (ns)"}, []string{"Max Time to Output Token (ns)", "Max Time per Output Token (ns)"}},
	}
	byKind := map[string][]LatencyPoint{}
	for label, f := range s.Fields {
		m := percentileLabel.FindStringSubmatch(label)
		if m == nil {
			continue
		}
		p, err1 := strconv.ParseFloat(m[1], 64)
		v, err2 := strconv.ParseFloat(f.Value, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		byKind[m[2]] = append(byKind[m[2]], LatencyPoint{P: p / 100, Ns: v})
	}
	var out []Distribution
	for _, k := range kinds {
		pts := byKind[k.key]
		if len(pts) == 0 {
			continue
		}
		for _, label := range k.min {
			if v, ok := fieldFloat(s, label); ok {
				pts = append(pts, LatencyPoint{P: 0, Ns: v})
				break
			}
		}
		for _, label := range k.max {
			if v, ok := fieldFloat(s, label); ok {
				pts = append(pts, LatencyPoint{P: 1, Ns: v})
				break
			}
		}
		slices.SortFunc(pts, func(a, b LatencyPoint) int {
			switch {
			case a.P < b.P:
				return -1
			case a.P > b.P:
				return 1
			}
			return 0
		})
		d := Distribution{Name: k.name, Points: pts}
		if v, ok := fieldFloat(s, "target_latency (ns)"); ok && v > 0 && k.name == "latency" {
			d.BoundNs = v
		}
		out = append(out, d)
	}
	return out
}

func fieldFloat(s *mlperflog.Summary, label string) (float64, bool) {
	f, ok := s.Fields[label]
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(f.Value, 64)
	return v, err == nil
}

// TelemetryFile is the agent's per-tick telemetry of a run (gpu/csv.go).
const TelemetryFile = "telemetry.csv"

// Telemetry reads the run's telemetry.csv. When there is none, the error
// says why: published MLPerf results carry none; a gpuperf run's
// result.json may say NVML was unavailable.
func (f Folders) Telemetry(side results.Side, rep results.Repetition) (*Telemetry, error) {
	if side.Format == results.FormatMLPerf {
		return nil, errors.New("published MLPerf results carry no telemetry")
	}
	dir, err := f.dir(side, rep)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, TelemetryFile)
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if why := nvmlUnavailable(dir); why != "" {
			return nil, fmt.Errorf("%s (no %s in %s)", why, TelemetryFile, rep.Dir)
		}
		return nil, fmt.Errorf("no %s in %s (the agent did not sample telemetry)", TelemetryFile, rep.Dir)
	}
	if err != nil {
		return nil, err
	}
	defer file.Close()
	t, err := ParseTelemetry(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.File = filepath.Join(rep.Dir, TelemetryFile)
	if deviceCount(t) == 0 {
		t.NoGPU = nvmlUnavailable(dir)
	}
	if len(t.Series) == 0 {
		if why := nvmlUnavailable(dir); why != "" {
			return nil, fmt.Errorf("%s (%s has no samples)", why, t.File)
		}
		return nil, fmt.Errorf("%s has no samples", t.File)
	}
	return t, nil
}

// nvmlUnavailable is the reason result.json gives for having no GPU
// telemetry, if it gives one.
func nvmlUnavailable(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, mlperflog.ResultFile))
	if err != nil {
		return ""
	}
	var r struct {
		Telemetry *struct {
			NVML struct {
				Available   bool   `json:"available"`
				Unavailable string `json:"unavailable"`
			} `json:"nvml"`
		} `json:"telemetry"`
	}
	if json.Unmarshal(b, &r) != nil || r.Telemetry == nil || r.Telemetry.NVML.Available {
		return ""
	}
	if r.Telemetry.NVML.Unavailable != "" {
		return "NVML unavailable: " + r.Telemetry.NVML.Unavailable
	}
	return "NVML unavailable"
}

// hostColumns are telemetry.csv's host columns, repeated on each device's
// row of a tick.
var hostColumns = []string{"host_steal_pct", "host_iowait_pct"}

// skipColumns are not series.
var skipColumns = []string{"time_ns", "gpu", "uuid", "util_source", "clock_event_reasons", "energy_mj"}

// ParseTelemetry reads telemetry.csv as gpu.Sampler.WriteCSV writes it: a
// header naming time_ns, gpu, uuid, the metrics, util_source and the host
// columns, then a row per tick and device. Columns are found by name, so
// a file from a gpuperf with more metrics still reads; an empty cell is
// unavailable and skipped, never 0.
func ParseTelemetry(r io.Reader) (*Telemetry, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("empty file, no header")
	}
	if err != nil {
		return nil, err
	}
	header = slices.Clone(header)
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	tcol, ok := col["time_ns"]
	if !ok {
		return nil, errors.New("line 1: no time_ns column; not a gpuperf telemetry.csv")
	}
	gcol, hasGPU := col["gpu"]
	type key struct{ metric, device string }
	series := map[key]*Series{}
	var order []key
	lastHostT := map[string]float64{}
	add := func(k key, t, v float64) {
		s := series[k]
		if s == nil {
			s = &Series{Metric: k.metric, Device: k.device}
			series[k] = s
			order = append(order, k)
		}
		s.T = append(s.T, t)
		s.V = append(s.V, v)
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		ns, err := strconv.ParseInt(rec[tcol], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: time_ns %q is not a number", line, rec[tcol])
		}
		t := float64(ns) / 1e9
		device := ""
		if hasGPU && rec[gcol] != "" {
			device = "GPU " + rec[gcol]
		}
		for i, name := range header {
			if i >= len(rec) || rec[i] == "" || slices.Contains(skipColumns, name) {
				continue
			}
			v, err := strconv.ParseFloat(rec[i], 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s %q is not a number", line, name, rec[i])
			}
			if slices.Contains(hostColumns, name) {
				// Once per tick, though every device's row repeats it.
				if last, ok := lastHostT[name]; ok && last == t {
					continue
				}
				lastHostT[name] = t
				add(key{name, "host"}, t, v)
				continue
			}
			if device == "" {
				continue
			}
			add(key{name, device}, t, v)
		}
	}
	tel := &Telemetry{}
	for _, k := range order {
		tel.Series = append(tel.Series, *series[k])
	}
	slices.SortStableFunc(tel.Series, func(a, b Series) int {
		if c := strings.Compare(a.Metric, b.Metric); c != 0 {
			return c
		}
		return compareDevices(a.Device, b.Device)
	})
	return tel, nil
}

// compareDevices orders "GPU 2" before "GPU 10".
func compareDevices(a, b string) int {
	na, ea := strconv.Atoi(strings.TrimPrefix(a, "GPU "))
	nb, eb := strconv.Atoi(strings.TrimPrefix(b, "GPU "))
	if ea == nil && eb == nil {
		return na - nb
	}
	return strings.Compare(a, b)
}
