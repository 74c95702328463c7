package results

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gpuperf/gpuperf/results/mlperflog"
)

// Published MLPerf results are laid out as
//
//	<submitter>/results/<system>/<benchmark>/<Scenario>/performance/run_<k>/mlperf_log_summary.txt
//	<submitter>/systems/<system>.json
//
// or with the summary straight in the <Scenario> folder. readPublished
// reads one system, or one benchmark or scenario of it.

var (
	runDirRE = regexp.MustCompile(`^run_(\d+)$`)
	roundRE  = regexp.MustCompile(`(?:^|_)(v\d+\.\d+)$`)
)

// skipDirs are folders of a results tree that hold no performance runs.
var skipDirs = map[string]bool{"systems": true, "accuracy": true, "compliance": true, "measurements": true, "code": true, "documentation": true}

// knownScenarios are LoadGen's scenario names, as folders spell them.
var knownScenarios = map[string]bool{"Offline": true, "Server": true, "SingleStream": true, "MultiStream": true}

// maxPublishedRuns bounds the summaries one published system may have.
const maxPublishedRuns = 100_000

func readPublished(ctx context.Context, path, role string) (*Source, error) {
	var files []string
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(files) > maxPublishedRuns {
			return fmt.Errorf("more than %d %s files: not one published system", maxPublishedRuns, mlperflog.SummaryFile)
		}
		if d.IsDir() && p != path && (skipDirs[d.Name()] || strings.HasPrefix(d.Name(), "TEST")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == mlperflog.SummaryFile {
			files = append(files, p)
		}
		return nil
	})
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, &InputError{File: path, Err: err}
	}
	if len(files) == 0 {
		return nil, inputErrorf(path, 0, "no %s under this folder: not a gpuperf result tree (no run.json) nor a published MLPerf system (<system>/<benchmark>/<Scenario>/[performance/run_<k>/]%s)", mlperflog.SummaryFile, mlperflog.SummaryFile)
	}
	s := &Source{Side: Side{Role: role, Path: path, Format: FormatMLPerf}}
	var sysDir string
	for i, f := range files {
		if i%64 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		rd, dir, err := readPublishedRun(f)
		if err != nil {
			return nil, err
		}
		if sysDir == "" {
			sysDir = dir
		} else if dir != sysDir {
			return nil, inputErrorf(path, 0, "several systems under this folder (%s, %s): name one system's folder", filepath.Base(sysDir), filepath.Base(dir))
		}
		if rel, err := filepath.Rel(path, filepath.Dir(f)); err == nil && rel != "." {
			rd.Rep.Dir = rel
		}
		if rel, err := filepath.Rel(path, rd.Rep.File); err == nil && !strings.HasPrefix(rel, "..") {
			rd.Rep.File = rel
		}
		s.runs = append(s.runs, rd)
	}
	host := publishedSystem(sysDir)
	s.Side.Name = host.Name
	s.Side.Round = roundOf(sysDir)
	s.Side.Submitter = submitterOf(sysDir, host)
	s.Side.Hosts = []HostInfo{host}
	for i := range s.runs {
		s.runs[i].Rep.GPUs = host.GPUs
		s.runs[i].Rep.Host = host.Name
	}
	slices.SortStableFunc(s.runs, func(a, b runData) int { return a.Rep.Repetition - b.Rep.Repetition })
	return s, nil
}

// readPublishedRun reads one run folder's summary (and detail log, when
// there is one) and returns the run and its system folder.
func readPublishedRun(summaryPath string) (runData, string, error) {
	dir := filepath.Dir(summaryPath)
	rep := 1
	scenDir := dir
	if m := runDirRE.FindStringSubmatch(filepath.Base(dir)); m != nil && filepath.Base(filepath.Dir(dir)) == "performance" {
		rep, _ = strconv.Atoi(m[1])
		scenDir = filepath.Dir(filepath.Dir(dir))
	}
	scenario := filepath.Base(scenDir)
	benchDir := filepath.Dir(scenDir)
	sysDir := filepath.Dir(benchDir)

	b, err := readFileCapped(summaryPath, MaxLogBytes)
	if err != nil {
		return runData{}, "", &InputError{File: summaryPath, Err: err}
	}
	sum, err := mlperflog.ReadSummary(bytes.NewReader(b))
	if err != nil {
		return runData{}, "", lineError(summaryPath, err)
	}
	if !knownScenarios[scenario] {
		return runData{}, "", inputErrorf(summaryPath, sum.Scenario.Line,
			"folder %q is not a scenario: the MLPerf layout is <system>/<benchmark>/<Scenario>/[performance/run_<k>/]%s", scenario, mlperflog.SummaryFile)
	}
	if sum.Scenario.Value != scenario {
		return runData{}, "", inputErrorf(summaryPath, sum.Scenario.Line, "Scenario %s does not match its folder %s", sum.Scenario.Value, scenario)
	}
	var det *mlperflog.Detail
	detailPath := filepath.Join(dir, mlperflog.DetailFile)
	if db, err := readFileCapped(detailPath, MaxLogBytes); err == nil {
		if det, err = mlperflog.ReadDetail(bytes.NewReader(db)); err != nil {
			return runData{}, "", lineError(detailPath, err)
		}
	} else if !isNotExist(err) {
		return runData{}, "", &InputError{File: detailPath, Err: err}
	}
	rd := runData{Benchmark: filepath.Base(benchDir), Scenario: scenario}
	rd.Rep = Repetition{Repetition: rep, Status: StatusOK, File: summaryPath}
	if err := fillPublished(&rd, sum, det, summaryPath, detailPath); err != nil {
		return runData{}, "", err
	}
	return rd, sysDir, nil
}

func lineError(file string, err error) error {
	var le *mlperflog.LineError
	if errors.As(err, &le) {
		return &InputError{File: file, Line: le.Line, Err: errors.New(le.Msg)}
	}
	return &InputError{File: file, Err: err}
}

// metricSource is one way a headline can be read: a detail key (preferred,
// as the submission checker reads it) or a summary label.
type metricSource struct {
	metric Metric
	key    string   // detail key
	labels []string // summary labels, tried in order
	// estimate reads the summary's early-stopping estimate at this
	// percentile instead of a label.
	estimate string
	labelsOf []string
}

// fillPublished picks the run's official metric (reference/loadgen.md §3,
// §7.3): Offline samples/s; Server Completed samples/s since v4.1 and
// Scheduled before (whichever the summary's headline is); tokens/s for
// LLMs; SingleStream and MultiStream the early-stopping estimate (before
// early stopping existed, v1.x, the printed percentile or, for the old
// MultiStream, samples per query).
func fillPublished(rd *runData, s *mlperflog.Summary, det *mlperflog.Detail, summaryPath, detailPath string) error {
	rd.Rep.Valid = s.Valid
	rd.Rep.LoadGenErrors = s.Errors
	if det != nil {
		if v, ok := det.Values["result_validity"].(string); ok {
			rd.Rep.Valid = v == "VALID"
		}
		if n, ok := det.Float("num_errors"); ok && n >= 0 && n <= 1<<31 {
			rd.Rep.LoadGenErrors = int(n)
		}
	}
	rd.Rep.Queries = s.Processed
	if det != nil {
		if q, ok := det.Float("result_query_count"); ok && q > 0 {
			rd.Rep.Queries = uint64(q)
		}
	}
	if f, ok := s.Fields["target_qps"]; ok {
		v, err := s.Float(f)
		if err != nil {
			return lineError(summaryPath, err)
		}
		rd.Rep.TargetQPS = v
	}
	var seeds [3]uint64
	okSeeds := true
	for i, k := range []string{"qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed"} {
		v, err := strconv.ParseUint(s.Fields[k].Value, 10, 64)
		okSeeds = okSeeds && err == nil
		seeds[i] = v
	}
	rd.Seeds, rd.HasSeeds = seeds, okSeeds

	samplesPS := func(name, label string, labels ...string) metricSource {
		return metricSource{metric: Metric{Name: name, Label: label, Unit: "samples/s", HigherIsBetter: true}, key: name, labels: labels}
	}
	tokens := func(name, label string, labels ...string) metricSource {
		return metricSource{metric: Metric{Name: name, Label: label, Unit: "tokens/s", HigherIsBetter: true}, key: name, labels: labels, labelsOf: []string{LabelTokens}}
	}
	completed := samplesPS("result_completed_samples_per_sec", "Completed samples/s", "Completed samples per second")
	scheduled := samplesPS("result_scheduled_samples_per_sec", "Scheduled samples/s", "Scheduled samples per second")
	scheduled.labelsOf = []string{LabelScheduled}

	var official []metricSource
	var alts []metricSource
	switch rd.Scenario {
	case "Offline":
		official = []metricSource{
			tokens("result_tokens_per_second", "tokens/s", "Tokens per second"),
			tokens("result_inferred_tokens_per_second", "tokens/s (inferred)", "Tokens per second (inferred)"),
			samplesPS("result_samples_per_second", "samples/s", "Samples per second"),
		}
	case "Server":
		rd.Labels = append(rd.Labels, LabelChosenTarget)
		samples := []metricSource{completed, scheduled}
		// The summary's headline says the round's official metric: LoadGen
		// before 4.1 leads with Scheduled samples/s.
		if _, ok := s.Headline("Completed samples per second"); !ok {
			if _, ok := s.Headline("Scheduled samples per second"); ok {
				samples = []metricSource{scheduled, completed}
			}
		}
		official = append([]metricSource{
			tokens("result_completed_tokens_per_second", "Completed tokens/s", "Completed tokens per second"),
			tokens("result_inferred_completed_tokens_per_second", "Completed tokens/s (inferred)", "Completed tokens per second (inferred)"),
		}, samples...)
		alts = []metricSource{completed, scheduled}
	case "SingleStream":
		official = []metricSource{
			{metric: Metric{Name: "early_stopping_latency_ss", Label: "p90 early-stopping latency", Unit: "ns"}, key: "early_stopping_latency_ss", estimate: "90.0"},
			{metric: Metric{Name: "result_90.00_percentile_latency_ns", Label: "p90 latency (no early stopping before v2.0)", Unit: "ns"}, labels: []string{"90th percentile latency (ns)"}},
		}
	case "MultiStream":
		official = []metricSource{
			{metric: Metric{Name: "early_stopping_latency_ms", Label: "p99 early-stopping latency per query", Unit: "ns"}, key: "early_stopping_latency_ms", estimate: "99.0"},
			{metric: Metric{Name: "samples_per_query", Label: "samples per query (MultiStream before v2.0)", Unit: "samples/query", HigherIsBetter: true}, labels: []string{"Samples per query"}},
		}
	}
	for _, src := range official {
		v, file, line, ok, err := readMetric(src, s, det, summaryPath, detailPath)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if !(v >= 0 && v <= MaxHeadline) {
			return inputErrorf(file, line, "%s %g is outside 0..%g", src.metric.Name, v, MaxHeadline)
		}
		rd.Metric, rd.Rep.RawValue, rd.Rep.File, rd.Rep.Line, rd.ok = src.metric, v, file, line, true
		rd.Labels = append(rd.Labels, src.labelsOf...)
		break
	}
	if !rd.ok {
		var want []string
		for _, src := range official {
			want = append(want, src.labels...)
			if src.estimate != "" {
				want = append(want, "Early stopping "+src.estimate+"th percentile estimate")
			}
		}
		return inputErrorf(summaryPath, s.Validity.Line, "no %s headline: none of %q", rd.Scenario, want)
	}
	for _, src := range alts {
		if src.metric.Name == rd.Metric.Name {
			continue
		}
		if v, file, line, ok, err := readMetric(src, s, det, summaryPath, detailPath); err == nil && ok && v >= 0 && v <= MaxHeadline {
			if rd.Alt == nil {
				rd.Alt = map[string]altValue{}
			}
			rd.Alt[src.metric.Name] = altValue{Metric: src.metric, Value: v, File: file, Line: line}
		}
	}
	return nil
}

// readMetric reads one metric source: the detail key when the detail log
// has it, else the summary line.
func readMetric(src metricSource, s *mlperflog.Summary, det *mlperflog.Detail, summaryPath, detailPath string) (v float64, file string, line int, ok bool, err error) {
	if det != nil && src.key != "" {
		if _, present := det.Values[src.key]; present {
			v, isNum := det.Float(src.key)
			if !isNum {
				return 0, "", 0, false, inputErrorf(detailPath, det.Lines[src.key], "%s %v is not a number", src.key, det.Values[src.key])
			}
			return v, detailPath, det.Lines[src.key], true, nil
		}
	}
	if src.estimate != "" {
		if f, present := s.Estimates[src.estimate]; present {
			v, err := s.Float(f)
			if err != nil {
				return 0, "", 0, false, lineError(summaryPath, err)
			}
			return v, summaryPath, f.Line, true, nil
		}
	}
	for _, l := range src.labels {
		f, present := s.Fields[l]
		if !present {
			continue
		}
		v, err := s.Float(f)
		if err != nil {
			return 0, "", 0, false, lineError(summaryPath, err)
		}
		return v, summaryPath, f.Line, true, nil
	}
	return 0, "", 0, false, nil
}

// systemDesc holds the fields of systems/<system>.json gpuperf reads.
type systemDesc struct {
	Submitter           string          `json:"submitter"`
	SystemName          string          `json:"system_name"`
	AcceleratorsPerNode json.RawMessage `json:"accelerators_per_node"`
	NumberOfNodes       json.RawMessage `json:"number_of_nodes"`
	AcceleratorModel    string          `json:"accelerator_model_name"`
}

// publishedSystem reads the system's description: systems/<system>.json
// beside the results folder (<submitter>/systems/) or beside the system
// folder.
func publishedSystem(sysDir string) HostInfo {
	name := filepath.Base(sysDir)
	hi := HostInfo{Name: name, GPUs: 1, GPUsFrom: "no systems/" + name + ".json found; assumed 1"}
	parent := filepath.Dir(sysDir)
	candidates := []string{filepath.Join(parent, "systems", name+".json")}
	if filepath.Base(parent) == "results" {
		candidates = append([]string{filepath.Join(filepath.Dir(parent), "systems", name+".json")}, candidates...)
	}
	for _, p := range candidates {
		b, err := readFileCapped(p, MaxHostBytes)
		if isNotExist(err) {
			continue
		}
		if err != nil {
			hi.FingerprintFile = p
			hi.GPUsFrom = fmt.Sprintf("%s unreadable (%v); assumed 1", p, err)
			return hi
		}
		return systemInfo(hi, p, b)
	}
	return hi
}

// systemInfo fills hi from the system description b read from p.
func systemInfo(hi HostInfo, p string, b []byte) HostInfo {
	hi.FingerprintFile = p
	var d systemDesc
	if err := json.Unmarshal(b, &d); err != nil {
		hi.GPUsFrom = fmt.Sprintf("%s is not JSON (%v); assumed 1", p, err)
		return hi
	}
	hi.Fingerprint = b
	hi.SystemName = strings.TrimSpace(d.SystemName)
	hi.Accelerator = d.AcceleratorModel
	n, ok := jsonInt(d.AcceleratorsPerNode)
	if !ok || n < 1 || n > maxAccelerators {
		hi.GPUsFrom = fmt.Sprintf("%s has no accelerators_per_node from 1 to %d; assumed 1", p, maxAccelerators)
		return hi
	}
	hi.GPUs, hi.GPUsFrom = n, "systems/"+strings.TrimSuffix(filepath.Base(p), ".json")+".json accelerators_per_node"
	if nodes, ok := jsonInt(d.NumberOfNodes); ok && nodes > 1 && nodes <= maxAccelerators {
		hi.GPUs *= nodes
		hi.GPUsFrom += " × number_of_nodes"
	}
	return hi
}

// maxAccelerators bounds accelerators_per_node and number_of_nodes: the
// largest MLPerf systems have thousands.
const maxAccelerators = 1_000_000

// jsonInt reads a number that system descriptions write as 8 or "8":
// decimal digits only.
func jsonInt(raw json.RawMessage) (int, bool) {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t := strings.TrimSpace(s)
		if t == "" || strings.Trim(t, "0123456789") != "" {
			return 0, false
		}
		if n, err := strconv.Atoi(t); err == nil {
			return n, true
		}
	}
	return 0, false
}

// ParseSystem reads a published system description (systems/<name>.json)
// as compare does: the GPU count from accelerators_per_node ×
// number_of_nodes, the system name and accelerator. path names the file.
func ParseSystem(path string, data []byte) HostInfo {
	return systemInfo(HostInfo{Name: strings.TrimSuffix(filepath.Base(path), ".json"), GPUs: 1}, path, data)
}

// roundOf finds the MLPerf round in a path: a folder named v4.0 or
// inference_results_v4.0.
func roundOf(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if m := roundRE.FindStringSubmatch(filepath.Base(d)); m != nil {
			return m[1]
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// submitterOf is the description's submitter, else the folder above
// results/ (or above the system).
func submitterOf(sysDir string, hi HostInfo) string {
	var d systemDesc
	if hi.Fingerprint != nil && json.Unmarshal(hi.Fingerprint, &d) == nil && d.Submitter != "" {
		return d.Submitter
	}
	parent := filepath.Dir(sysDir)
	if filepath.Base(parent) == "results" {
		return filepath.Base(filepath.Dir(parent))
	}
	return filepath.Base(parent)
}
