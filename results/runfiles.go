package results

import (
	"encoding/json"
	"fmt"
	"path/filepath"

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
	Res      *inference.Result
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

// newRunFile decodes what the later stages read from a result, and drops
// the raw JSON and text they do not, so a large tree stays small in memory.
func newRunFile(dir, relDir string, res *inference.Result) *runFile {
	rf := &runFile{Dir: dir, Res: res}
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
	res.Telemetry, res.GPUState = nil, nil
	res.Warnings, res.Series = nil, nil
	res.EarlyStopping.Lines, res.EarlyStopping.TTFTLines, res.EarlyStopping.TPOTLines = nil, nil, nil
	return rf
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
			if rep.Status != StatusOK || rep.Dir == "" {
				continue
			}
			rf, ok := cache[cacheKey(side.Path, rep.Dir)]
			if !ok {
				t := &Tree{Root: side.Path}
				res, err := t.ReadResult(rep.Dir)
				if err != nil {
					continue
				}
				rf = newRunFile(filepath.Join(side.Path, rep.Dir), rep.Dir, res)
			}
			r := *rf
			r.Scenario, r.Rep = sc.Benchmark+" "+sc.Scenario, rep
			out = append(out, r)
		}
	}
	return out
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
