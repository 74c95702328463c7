package results

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gpuperf/gpuperf/gpu"
	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/results/mlperflog"
)

// telemetryCSV is the per-tick series beside result.json.
const telemetryCSV = "telemetry.csv"

// runFile is one finished gpuperf run as the fairness check and the
// attribution read it: result.json with its telemetry and GPU state
// decoded.
type runFile struct {
	// Scenario is "benchmark Scenario"; Rep the run as compared.
	Scenario string
	Rep      Repetition
	Dir      string // absolute run folder
	Res      *runResult
	// Tel is the telemetry summary (nil when the run has none); TelErr why
	// it could not be decoded.
	Tel    *gpu.Summary
	TelErr string
	// State is the GPU state the preflight recorded (nil when absent).
	State *gpu.Preflight
}

// runCache holds each finished run's result as read once, with its
// telemetry and GPU state decoded, by side path and run folder: the
// fairness check, the attribution and the server statistics all read
// the runs, and a tree of 200,000 runs must not be read four times.
type runCache map[string]*runFile

func cacheKey(sidePath, dir string) string { return sidePath + "\x00" + dir }

// newRunFile decodes what the later stages read from a result and keeps
// only that, so a large tree stays small in memory.
// in, when not nil, shares the values runs have in common.
func newRunFile(dir, relDir string, res *inference.Result, in *interner) *runFile {
	rf := &runFile{Dir: dir}
	if len(res.Telemetry) > 0 && string(res.Telemetry) != "null" {
		var s gpu.Summary
		if err := json.Unmarshal(res.Telemetry, &s); err != nil {
			rf.TelErr = fmt.Sprintf("telemetry in %s is not a telemetry summary: %v", filepath.Join(relDir, mlperflog.ResultFile), err)
		} else {
			rf.Tel = &s
		}
	}
	if len(res.GPUState) > 0 && string(res.GPUState) != "null" {
		var p gpu.Preflight
		if json.Unmarshal(res.GPUState, &p) == nil {
			rf.State = &p
		}
	}
	rf.Res = &runResult{
		Backend: in.str(res.Backend), Version: in.str(res.Version), BackendOpts: in.opts(res.BackendOpts),
		BackendEffective: in.opts(res.BackendEffective), SeedSet: res.SeedSet, Profile: res.Profile,
		Requested: in.requested(res.Requested), Effective: in.effective(res.Effective), Health: res.Health,
		TargetLatencyNs: res.TargetLatencyNs, ServerStats: res.ServerStats,
	}
	rf.Res.Latency.MeanNs = res.Latency.MeanNs
	return rf
}

// interner shares equal values among the runs of a tree: most runs have
// the same backend, options and settings, and 200,000 copies of them
// would be most of a large comparison's memory. A nil interner shares
// nothing.
type interner struct {
	strs    map[string]string
	optMaps map[string]map[string]string
	reqs    map[inference.TestSettings]*inference.TestSettings
	effs    map[inference.EffectiveSettings]*inference.EffectiveSettings
}

func newInterner() *interner {
	return &interner{strs: map[string]string{}, optMaps: map[string]map[string]string{},
		reqs: map[inference.TestSettings]*inference.TestSettings{},
		effs: map[inference.EffectiveSettings]*inference.EffectiveSettings{}}
}

func (in *interner) str(s string) string {
	if in == nil {
		return s
	}
	if v, ok := in.strs[s]; ok {
		return v
	}
	in.strs[s] = s
	return s
}

// opts shares equal option maps; callers only read them.
func (in *interner) opts(m map[string]string) map[string]string {
	if in == nil || len(m) == 0 {
		return m
	}
	var key strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		key.WriteString(k)
		key.WriteByte(0)
		key.WriteString(m[k])
		key.WriteByte(0)
	}
	if v, ok := in.optMaps[key.String()]; ok {
		return v
	}
	in.optMaps[key.String()] = m
	return m
}

func (in *interner) requested(s inference.TestSettings) *inference.TestSettings {
	if in == nil {
		return &s
	}
	if p, ok := in.reqs[s]; ok {
		return p
	}
	p := &s
	in.reqs[s] = p
	return p
}

func (in *interner) effective(e inference.EffectiveSettings) *inference.EffectiveSettings {
	if in == nil {
		return &e
	}
	if p, ok := in.effs[e]; ok {
		return p
	}
	p := &e
	in.effs[e] = p
	return p
}

// runResult is the part of a result.json that the fairness check
// (backend, options, settings), the attribution (health, latency) and the
// server statistics read, under inference.Result's names: a third of its
// size, which counts in a tree of 200,000 runs.
type runResult struct {
	Backend     string
	Version     string
	BackendOpts map[string]string
	// BackendEffective are the options the backend ran with, defaults
	// included; SeedSet the seed set the run drew from.
	BackendEffective map[string]string
	SeedSet          int
	Profile          inference.Profile
	Requested        *inference.TestSettings      // shared: read only
	Effective        *inference.EffectiveSettings // shared: read only
	Health           inference.Health
	TargetLatencyNs  int64
	Latency          struct{ MeanNs int64 }
	ServerStats      *inference.ServerStats
}

// loadRuns returns every finished run of one side of the comparison's
// scenarios, in scenario order, from cache when the comparison read them
// (reading them otherwise). Published MLPerf sides have no result.json
// and give none. A run whose files cannot be read is skipped: the
// comparison already read it once, so this only happens when the tree
// changed underneath.
func loadRuns(cache runCache, side Side, scenarios []ScenarioComparison, role string) []runFile {
	if side.Format != FormatGpuperf {
		return nil
	}
	var out []runFile
	for _, sc := range scenarios {
		sv := sc.Baseline
		if role == RoleCandidate {
			sv = sc.Candidate
		}
		for _, rep := range sv.Runs {
			if rf, ok := readRunFile(cache, side, sc.Benchmark+" "+sc.Scenario, rep); ok {
				out = append(out, rf)
			}
		}
	}
	return out
}

// readRunFile returns one finished run of side, from cache when the
// comparison read it; ok is false for a run that did not finish or whose
// result.json cannot be read.
func readRunFile(cache runCache, side Side, scenario string, rep Repetition) (runFile, bool) {
	if rep.Status != StatusOK || rep.Dir == "" {
		return runFile{}, false
	}
	rf, ok := cache[cacheKey(side.Path, rep.Dir)]
	if !ok {
		t := &Tree{Root: side.Path}
		res, err := t.ReadResult(rep.Dir)
		if err != nil {
			return runFile{}, false
		}
		rf = newRunFile(filepath.Join(side.Path, rep.Dir), rep.Dir, res, nil)
	}
	r := *rf
	r.Scenario, r.Rep = scenario, rep
	return r, true
}

// hostFingerprint decodes a gpuperf host's fingerprint; ok is false when
// the host has none or it is not a gpuperf fingerprint.
func hostFingerprint(h HostInfo) (gpu.Fingerprint, bool) { return parseFingerprint(h.Fingerprint) }

// hypervisorFingerprint decodes the fingerprint of h's hypervisor agent.
func hypervisorFingerprint(h HostInfo) (gpu.Fingerprint, bool) { return parseFingerprint(h.Hypervisor) }

func parseFingerprint(raw json.RawMessage) (gpu.Fingerprint, bool) {
	var fp gpu.Fingerprint
	if len(raw) == 0 || json.Unmarshal(raw, &fp) != nil {
		return fp, false
	}
	return fp, fp.Schema != "" || len(fp.GPUs) > 0 || fp.Hostname != ""
}
