package results

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/results/mlperflog"
)

// InputError is bad input: a file or folder that cannot be read as
// results, naming the file and, where there is one, the line. gpuperf
// exits 2 on it.
type InputError struct {
	File string
	Line int
	Err  error
}

func (e *InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

func inputErrorf(file string, line int, format string, args ...any) error {
	return &InputError{File: file, Line: line, Err: fmt.Errorf(format, args...)}
}

// Source is one side's results, read from disk: a gpuperf tree (or one
// host of it) or a published MLPerf system.
type Source struct {
	Side Side
	runs []runData
	// interleaved: the runs were scheduled as ABBA pairs with the other
	// side of the same tree, so repetitions pair up.
	interleaved bool
	// sequential are the tree's sequential designs by scenario.
	sequential map[string]*SequentialRecord
	// loaded are the runs under a neighbour load (their Phase names it),
	// and loads the tree's list of loads; see isolate.
	loaded []runData
	loads  []InterferenceLoad
}

// runData is one run as read, before it is compared.
type runData struct {
	Benchmark string
	Scenario  string
	Rep       Repetition
	// Metric is the run's headline; ok is false when the run has none
	// (it failed, or its peak search was not confirmed).
	Metric Metric
	ok     bool
	Labels []string
	// Alt holds other metrics the run reports, by Metric.Name, so two
	// rounds with different official Server metrics can meet on one both
	// print.
	Alt map[string]altValue
	// FixedQPS marks a gpuperf Server run at one fixed QPS.
	FixedQPS bool
	// Seeds are the effective qsl, sample-index and schedule seeds.
	Seeds    [3]uint64
	HasSeeds bool
	// TokenSource is where an LLM backend's token counts came from
	// (backend_facts token_count_source).
	TokenSource string
	// Phase is the neighbour load the run was measured under; empty when
	// quiet.
	Phase string
	// file is the run as read, for the stages after the comparison.
	file *runFile
}

type altValue struct {
	Metric Metric
	Value  float64
	File   string
	Line   int
}

// ReadSource reads one side from path: a gpuperf result tree (the runs of
// the given role), one host folder of a tree, or a published MLPerf system
// (or one benchmark or scenario of it).
func ReadSource(path, role string) (*Source, error) {
	return ReadSourceContext(context.Background(), path, role)
}

// ReadSourceContext is ReadSource stopping with ctx's error once ctx is
// done: reading a tree of many runs takes a while.
func ReadSourceContext(ctx context.Context, path, role string) (*Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, &InputError{File: path, Err: err}
	}
	if !st.IsDir() {
		return nil, inputErrorf(path, 0, "not a folder")
	}
	if _, err := os.Stat(filepath.Join(path, "run.json")); err == nil {
		return readTreeSide(ctx, path, "", role)
	}
	parent := filepath.Dir(filepath.Clean(path))
	if _, err := os.Stat(filepath.Join(parent, "run.json")); err == nil {
		if _, err := os.Stat(filepath.Join(path, "host.json")); err == nil {
			return readTreeSide(ctx, parent, filepath.Base(filepath.Clean(path)), role)
		}
	}
	return readPublished(ctx, path, role)
}

// TreeSources reads both sides of one gpuperf tree. Their repetitions pair
// up when the plan interleaved them.
func TreeSources(t *Tree, m *Manifest) (base, cand *Source, err error) {
	return TreeSourcesContext(context.Background(), t, m)
}

// TreeSourcesContext is TreeSources stopping with ctx's error once ctx is
// done.
func TreeSourcesContext(ctx context.Context, t *Tree, m *Manifest) (base, cand *Source, err error) {
	if base, err = treeSide(ctx, t, m, "", RoleBaseline); err != nil {
		return nil, nil, err
	}
	if cand, err = treeSide(ctx, t, m, "", RoleCandidate); err != nil {
		return nil, nil, err
	}
	return base, cand, nil
}

func readTreeSide(ctx context.Context, root, host, role string) (*Source, error) {
	t, err := Open(root)
	if err != nil {
		return nil, &InputError{File: root, Err: err}
	}
	m, err := t.ReadManifest()
	if err != nil {
		return nil, &InputError{File: filepath.Join(root, "run.json"), Err: err}
	}
	s, err := treeSide(ctx, t, m, host, role)
	if err != nil {
		return nil, err
	}
	// Read on its own, a side pairs with nothing.
	s.interleaved = false
	return s, nil
}

// treeSide reads the runs of one host, or of every host with role.
func treeSide(ctx context.Context, t *Tree, m *Manifest, host, role string) (*Source, error) {
	manifestPath := filepath.Join(t.Root, "run.json")
	var hosts []Host
	for _, h := range m.Hosts {
		if (host != "" && h.Name == host) || (host == "" && h.Role == role) {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		var names []string
		for _, h := range m.Hosts {
			names = append(names, h.Name+" ("+h.Role+")")
		}
		if host != "" {
			return nil, inputErrorf(manifestPath, 0, "no host %q; the tree has %s", host, strings.Join(names, ", "))
		}
		return nil, inputErrorf(manifestPath, 0, "no %s host; the tree has %s; name one as %s", role, strings.Join(names, ", "), filepath.Join(t.Root, "HOST"))
	}
	s := &Source{
		Side: Side{Role: role, Path: t.Root, Format: FormatGpuperf, RunID: m.RunID},
		// Pairs need one host per side, run in ABBA order by one plan.
		interleaved: m.Order == "interleaved" && m.StoredBaseline == nil && len(hosts) == 1,
	}
	if role == RoleBaseline && m.StoredBaseline != nil {
		s.Side.StoredBaseline = m.StoredBaseline.Dir
	}
	s.sequential = m.Sequential
	s.loads = m.Interference
	var names []string
	gpus := map[string]int{}
	for _, h := range hosts {
		names = append(names, h.Name)
		hi := readHostInfo(t, h.Name)
		gpus[h.Name] = hi.GPUs
		s.Side.Hosts = append(s.Side.Hosts, hi)
	}
	s.Side.Name = strings.Join(names, "+")
	in := newInterner()
	for i, r := range m.Runs {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !slices.Contains(names, r.Host) {
			continue
		}
		rd, err := treeRun(t, m, r, in)
		if err != nil {
			return nil, err
		}
		rd.Rep.GPUs = gpus[r.Host]
		if r.Interference != "" {
			rd.Phase = r.Interference
			s.loaded = append(s.loaded, rd)
			continue
		}
		s.runs = append(s.runs, rd)
	}
	return s, nil
}

// treeRun reads one run of the manifest.
func treeRun(t *Tree, m *Manifest, r RunRecord, in *interner) (runData, error) {
	rd := runData{Benchmark: m.Model, Scenario: r.Scenario}
	rd.Rep = Repetition{Repetition: r.Repetition + 1, Host: r.Host, Dir: r.Dir, Status: r.Status}
	if r.Status != StatusOK {
		rd.Rep.Excluded = "run " + r.Status
		if r.Error != "" {
			rd.Rep.Excluded += ": " + r.Error
		}
		return rd, nil
	}
	res, err := t.ReadResult(r.Dir)
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			return rd, err
		}
		return rd, &InputError{File: filepath.Join(t.Root, r.Dir, mlperflog.ResultFile), Err: err}
	}
	if res.Model != "" {
		rd.Benchmark = res.Model
	}
	rd.Rep.File = filepath.Join(r.Dir, mlperflog.ResultFile)
	fillFromResult(&rd, res)
	// The later stages (fairness, attribution, server statistics) take the
	// run from here rather than reading it again.
	rd.file = newRunFile(filepath.Join(t.Root, r.Dir), r.Dir, res, in)
	return rd, nil
}

// fillFromResult takes a run's headline from its result.json: the
// official metric, except for Server, which is the confirmation run of a
// peak search (its probes never count) or, at one fixed QPS, the
// percentile latency (both sides complete what was scheduled there, so
// throughput says nothing).
func fillFromResult(rd *runData, r *inference.Result) {
	// A result is checked, not trusted: VALID needs every sample back.
	rd.Rep.Valid = r.Validity.Valid && r.SamplesComplete >= r.SamplesIssued
	rd.Rep.LoadGenErrors = len(r.Errors)
	rd.Rep.Queries = r.QueriesIssued
	rd.Rep.TargetQPS = r.Effective.TargetQPS
	rd.Seeds = [3]uint64{r.Effective.QSLRNGSeed, r.Effective.SampleIndexRNGSeed, r.Effective.ScheduleRNGSeed}
	rd.HasSeeds = true
	rd.TokenSource = r.BackendFacts["token_count_source"]
	m := r.Metric
	metric := Metric{Name: m.Name, Unit: m.Unit, HigherIsBetter: m.HigherIsBetter}
	switch {
	case r.Effective.Scenario == inference.Server && r.Peak == nil:
		pct := r.TargetPercentile
		if pct == 0 {
			pct = r.Effective.TargetLatencyPercentile
		}
		metric = Metric{Name: "target_percentile_latency_ns", Unit: "ns",
			Label: fmt.Sprintf("p%g latency at a fixed %s QPS", pct*100, rateText(r.Effective.TargetQPS))}
		rd.FixedQPS = true
		rd.Labels = append(rd.Labels, fmt.Sprintf("p%g-%s", pct*100, LabelFixedQPSLatency))
		rd.Rep.RawValue = float64(r.TargetLatencyNs)
		rd.Alt = map[string]altValue{m.Name: {Metric: Metric{Name: m.Name, Unit: m.Unit, HigherIsBetter: true, Label: "completed samples/s"}, Value: m.Value}}
	case r.Effective.Scenario == inference.Server:
		p := r.Peak
		info := &PeakInfo{PeakQPS: p.PeakQPS, PrecisionQPS: p.Precision, Probes: len(p.Probes), Confirmed: p.Confirmed}
		if len(p.Probes) > 0 {
			info.StartQPS = p.Probes[0].TargetQPS
		}
		rd.Rep.Peak = info
		metric.Label = "completed " + m.Unit + " at the peak VALID QPS (confirmation run)"
		rd.Labels = append(rd.Labels, LabelPeakSearch)
		rd.Rep.RawValue = m.Value
		if !p.Confirmed {
			rd.Rep.Excluded = "peak search not confirmed: its value is a probe's, and probes never count"
			if p.Note != "" {
				rd.Rep.Excluded += " (" + p.Note + ")"
			}
		}
	case m.HigherIsBetter:
		metric.Label = m.Unit
		rd.Rep.RawValue = m.Value
	default:
		pct := r.TargetPercentile
		if pct == 0 {
			pct = r.Effective.TargetLatencyPercentile
		}
		metric.Label = fmt.Sprintf("p%g early-stopping latency", pct*100)
		rd.Rep.RawValue = m.Value
	}
	if m.Unit == "tokens/s" {
		rd.Labels = append(rd.Labels, LabelTokens)
	}
	rd.Metric = metric
	rd.ok = true
}

// readHostInfo reads <root>/<host>/host.json: the agent's Describe as
// protojson, whose fingerprint_json holds the host fingerprint. The GPU
// count is read defensively (the fingerprint grows with the telemetry
// work): a "gpus" list or count, else 1 with a note. A hypervisor.json
// beside it (a candidate's vGPU host) is read the same way.
func readHostInfo(t *Tree, host string) HostInfo {
	hi := HostInfo{Name: host, GPUs: 1, GPUsFrom: "host.json has no fingerprint; assumed 1"}
	if !safeName.MatchString(host) {
		// run.json is checked when read; this keeps the rule local too.
		hi.GPUsFrom = fmt.Sprintf("host name %q is not a folder of the tree; assumed 1", host)
		return hi
	}
	hi.FingerprintFile = filepath.Join(host, HostFile)
	fp, err := readDescribedFingerprint(t, filepath.Join(host, HostFile))
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, errUnreadable):
		hi.GPUsFrom = fmt.Sprintf("host.json unreadable (%v); assumed 1", err)
		hi.FingerprintFile = ""
		return hi
	case err != nil:
		hi.GPUsFrom = fmt.Sprintf("host.json is not JSON (%v); assumed 1", err)
		return hi
	}
	if hv, err := readDescribedFingerprint(t, filepath.Join(host, HypervisorFile)); err == nil && hv != nil {
		hi.HypervisorFile, hi.Hypervisor = filepath.Join(host, HypervisorFile), hv
	}
	if fp == nil {
		return hi
	}
	hi.Fingerprint = fp
	n, from := gpuCount(fp)
	if n > 0 {
		hi.GPUs, hi.GPUsFrom = n, "host.json fingerprint "+from
	} else {
		hi.GPUsFrom = "host.json fingerprint names no GPUs; assumed 1"
	}
	return hi
}

// errUnreadable marks a description file that exists but cannot be read.
var errUnreadable = errors.New("unreadable")

// readDescribedFingerprint reads an agent's Describe answer (protojson)
// and returns the fingerprint in it, or nil when it has none.
func readDescribedFingerprint(t *Tree, rel string) (json.RawMessage, error) {
	b, err := t.read(rel, MaxHostBytes)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", errUnreadable, err)
	}
	var desc map[string]json.RawMessage
	if err := json.Unmarshal(b, &desc); err != nil {
		return nil, err
	}
	raw := desc["fingerprintJson"]
	if raw == nil {
		raw = desc["fingerprint_json"]
	}
	return decodeFingerprint(raw), nil
}

// decodeFingerprint accepts the fingerprint as protojson writes bytes
// (base64 of the JSON) or as a JSON object.
func decodeFingerprint(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || !json.Valid(b) {
			return nil
		}
		return b
	}
	if json.Valid(raw) {
		return raw
	}
	return nil
}

// gpuCount finds the GPU count in a fingerprint: a "gpus" (or "devices")
// list, a "gpu_count" or "gpus" number, or NVML's "device_count", at the
// top level or one object down (the fingerprint may nest the GPU part).
func gpuCount(fp json.RawMessage) (int, string) {
	var m map[string]json.RawMessage
	if json.Unmarshal(fp, &m) != nil {
		return 0, ""
	}
	if n, from := gpuCountIn(m); n > 0 {
		return n, from
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		var sub map[string]json.RawMessage
		if json.Unmarshal(m[k], &sub) != nil {
			continue
		}
		if n, from := gpuCountIn(sub); n > 0 {
			return n, k + "." + from
		}
	}
	return 0, ""
}

func gpuCountIn(m map[string]json.RawMessage) (int, string) {
	for _, k := range []string{"gpus", "devices"} {
		var list []json.RawMessage
		if json.Unmarshal(m[k], &list) == nil && len(list) > 0 {
			return len(list), fmt.Sprintf("%s (%d listed)", k, len(list))
		}
	}
	for _, k := range []string{"gpu_count", "gpus", "device_count"} {
		var n int
		if json.Unmarshal(m[k], &n) == nil && n > 0 {
			return n, k
		}
	}
	return 0, ""
}

// rateText writes a rate for people: 20,170 rather than 2.017e+04.
func rateText(v float64) string {
	if v >= 1000 {
		return humanize.Comma(int64(math.Round(v)))
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
