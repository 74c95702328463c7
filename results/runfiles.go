package results

import (
	"encoding/json"
	"fmt"
	"os"
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

// loadRuns reads the result.json of every finished run of one side of
// the comparison's scenarios, in scenario order. Published MLPerf sides
// have no result.json and give none. A run whose files cannot be read is
// skipped: the comparison already read it once, so this only happens when
// the tree changed underneath.
func loadRuns(side Side, scenarios []ScenarioComparison, role string) []runFile {
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
			if rf, ok := readRunFile(side, sc.Benchmark+" "+sc.Scenario, rep); ok {
				out = append(out, rf)
			}
		}
	}
	return out
}

// readRunFile reads one finished run of side; ok is false for a run that
// did not finish or whose result.json cannot be read.
func readRunFile(side Side, scenario string, rep Repetition) (runFile, bool) {
	if rep.Status != StatusOK || rep.Dir == "" {
		return runFile{}, false
	}
	dir := filepath.Join(side.Path, rep.Dir)
	res, err := readResultFile(filepath.Join(dir, mlperflog.ResultFile))
	if err != nil {
		return runFile{}, false
	}
	rf := runFile{Scenario: scenario, Rep: rep, Dir: dir, Res: res}
	if len(res.Telemetry) > 0 && string(res.Telemetry) != "null" {
		var s gpu.Summary
		if err := json.Unmarshal(res.Telemetry, &s); err != nil {
			rf.TelErr = fmt.Sprintf("telemetry in %s is not a telemetry summary: %v", filepath.Join(rep.Dir, mlperflog.ResultFile), err)
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
	return rf, true
}

func readResultFile(path string) (*inference.Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r inference.Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
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
