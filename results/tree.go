// Package results stores and reads gpuperf's result trees and compares the
// two sides of a plan.
//
// A tree is laid out as DESIGN.md shows, with the per-run folders in the
// MLPerf results layout so MLPerf's tools read gpuperf's logs:
//
//	<out>/<run-id>/
//	  plan.yaml  run.json  report.txt
//	  <host>/host.json
//	  <host>/hypervisor.json     (a candidate with a hypervisor agent)
//	  <host>/<model>/<Scenario>/performance/run_<k>/
//	      mlperf_log_summary.txt  mlperf_log_detail.txt  result.json  telemetry.csv
//	      vgpu_host.json         (a candidate with a hypervisor agent)
//	  <host>/<model>/<Scenario>/interference/<load>/run_<k>/
//	      the same files, and neighbour.json (a run under a neighbour load)
package results

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/internal/atomicfile"
	"github.com/gpuperf/gpuperf/results/mlperflog"
)

// ManifestSchema versions run.json.
const ManifestSchema = "gpuperf.run/v1"

// Run status values in the manifest.
const (
	StatusOK        = "ok"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
	StatusPending   = "pending"
	// StatusSkipped is a run the plan did not start: its agent was gone,
	// the other side had nothing left to compare it with, or the plan
	// stopped (a full disk). Error says which.
	StatusSkipped = "skipped"
)

// Manifest is run.json: what a plan ran and how each run ended. It is
// rewritten after every run, so an interrupted plan keeps a true record.
type Manifest struct {
	Schema    string      `json:"schema"`
	RunID     string      `json:"run_id"`
	Version   string      `json:"gpuperf_version"`
	StartedAt time.Time   `json:"started_at"`
	EndedAt   *time.Time  `json:"ended_at,omitempty"`
	Model     string      `json:"model"`
	Backend   string      `json:"backend"`
	Profile   string      `json:"profile"`
	Order     string      `json:"order"`
	Hosts     []Host      `json:"hosts"`
	Runs      []RunRecord `json:"runs"`
	// Calibration records the hints the baseline's calibration produced,
	// which both sides then received unchanged.
	Calibration map[string]float64 `json:"calibration,omitempty"`
	Interrupted bool               `json:"interrupted,omitempty"`
	// StoredBaseline is set when the baseline's runs were not measured by
	// this plan but imported from an earlier tree: they are not paired
	// with the candidate's, and are compared unpaired.
	StoredBaseline *StoredBaseline `json:"stored_baseline,omitempty"`
	// Seeds is SeedsVary (repetition k ran seed set k on both sides) or
	// SeedsFixed (every run the configured seeds); empty in trees from
	// before seed sets, which ran fixed.
	Seeds string `json:"seeds,omitempty"`
	// Sequential holds, by scenario, the sequential design of a plan with
	// repetitions: auto and the looks it took.
	Sequential map[string]*SequentialRecord `json:"sequential,omitempty"`
	// Interference lists the neighbour loads each side was also measured
	// under; their runs name the load (RunRecord.Interference).
	Interference []InterferenceLoad `json:"interference,omitempty"`
}

// Seed modes of a plan (Manifest.Seeds).
const (
	SeedsVary  = "vary"
	SeedsFixed = "fixed"
)

// StoredBaseline names the tree a baseline was imported from.
type StoredBaseline struct {
	Dir       string    `json:"dir"`
	RunID     string    `json:"run_id"`
	StartedAt time.Time `json:"started_at"`
	Version   string    `json:"gpuperf_version"`
}

// Host is one agent of the plan.
type Host struct {
	Name       string `json:"name"`
	Address    string `json:"address"`
	Role       string `json:"role"`
	Neighbours string `json:"neighbours,omitempty"`
}

// RunRecord is one scheduled run.
type RunRecord struct {
	Host       string `json:"host"`
	Role       string `json:"role"`
	Scenario   string `json:"scenario"`
	Repetition int    `json:"repetition"`
	Sequence   int    `json:"sequence"`
	Status     string `json:"status"`
	Attempts   int    `json:"attempts"`
	Error      string `json:"error,omitempty"`
	Dir        string `json:"dir,omitempty"` // relative to the tree root
	Valid      bool   `json:"valid"`
	// Invalid says why a finished run is INVALID: it is a measurement,
	// not a success.
	Invalid string  `json:"invalid,omitempty"`
	Metric  string  `json:"metric,omitempty"`
	Value   float64 `json:"value,omitempty"`
	Unit    string  `json:"unit,omitempty"`
	Queries uint64  `json:"queries,omitempty"`
	// SeedSet is the seed set the run drew from (inference.DeriveSeed).
	SeedSet int `json:"seed_set"`
	// Rerun says why the run's timed run was repeated with the rate it
	// observed (its result.json's rerun has the details); empty if not.
	Rerun string `json:"rerun,omitempty"`
	// Started and Ended bracket the last attempt, as the coordinator saw it.
	Started *time.Time `json:"started,omitempty"`
	Ended   *time.Time `json:"ended,omitempty"`

	// Interference names the neighbour load the run was measured under;
	// empty for a quiet run.
	Interference string `json:"interference,omitempty"`
}

// Tree is one plan's result folder. Every file it reads is read through
// an os.Root of the folder, and every name it reads from the tree (a run's
// folder, a host) is checked first: a stored tree never makes gpuperf read
// or write outside it.
type Tree struct {
	Root string
	mu   sync.Mutex

	rootOnce sync.Once
	root     *os.Root
	rootErr  error
	// resultReads counts result.json reads, so a test can see that a
	// comparison reads each once.
	resultReads atomic.Int64
}

// fs is the tree's folder as an os.Root, opened on first use and kept for
// the life of the process (a tree is opened a few times at most).
func (t *Tree) fs() (*os.Root, error) {
	t.rootOnce.Do(func() { t.root, t.rootErr = os.OpenRoot(t.Root) })
	return t.root, t.rootErr
}

// read reads rel from the tree, refusing a file larger than limit.
func (t *Tree) read(rel string, limit int64) ([]byte, error) {
	root, err := t.fs()
	if err != nil {
		return nil, err
	}
	return readCapped(root, rel, filepath.Join(t.Root, rel), limit)
}

var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Create makes <out>/<runID>, refusing to reuse a folder that exists.
func Create(out, runID string) (*Tree, error) {
	if !safeName.MatchString(runID) {
		return nil, fmt.Errorf("run id %q: use letters, digits, '.', '_' and '-'", runID)
	}
	root := filepath.Join(out, runID)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("create output folder: %w", err)
	}
	if err := os.Mkdir(root, 0o755); err != nil {
		return nil, fmt.Errorf("create result tree: %w", err)
	}
	return &Tree{Root: root}, nil
}

// Open opens an existing tree.
func Open(root string) (*Tree, error) {
	if _, err := os.Stat(filepath.Join(root, "run.json")); err != nil {
		return nil, fmt.Errorf("%s is not a gpuperf result tree: %w", root, err)
	}
	return &Tree{Root: root}, nil
}

// WriteFile stores a file at the tree's top level atomically.
func (t *Tree) WriteFile(name string, data []byte) error {
	return atomicfile.Write(t.Root, name, data)
}

// HostFile is an agent's description (its Describe answer as protojson)
// in the host's folder; HypervisorFile is the description of the agent
// on a candidate's vGPU hypervisor host, next to it.
const (
	HostFile       = "host.json"
	HypervisorFile = "hypervisor.json"
)

// WriteHost stores an agent's description as <host>/host.json.
func (t *Tree) WriteHost(host string, describe []byte) error {
	return t.writeHostFile(host, HostFile, describe)
}

// WriteHypervisor stores the description of host's hypervisor agent as
// <host>/hypervisor.json.
func (t *Tree) WriteHypervisor(host string, describe []byte) error {
	return t.writeHostFile(host, HypervisorFile, describe)
}

func (t *Tree) writeHostFile(host, name string, data []byte) error {
	if !safeName.MatchString(host) {
		return fmt.Errorf("host name %q: use letters, digits, '.', '_' and '-'", host)
	}
	return atomicfile.Write(filepath.Join(t.Root, host), name, data)
}

// RunDir is the relative folder of one run, in the MLPerf layout.
func RunDir(host, model string, sc inference.Scenario, rep int) string {
	return filepath.Join(host, model, sc.String(), "performance", fmt.Sprintf("run_%d", rep+1))
}

// VGPUHostFile holds, in a candidate's run folder, what its hypervisor
// host's agent saw (gpu.VGPUHostSummary).
const VGPUHostFile = "vgpu_host.json"

// RunFiles are the files one run produced.
type RunFiles struct {
	Result    []byte // result.json
	Summary   []byte
	Detail    []byte
	Telemetry []byte // telemetry.csv; may be empty
	// VGPUHost is what the candidate's hypervisor host saw during the run
	// (vgpu_host.json); nil without a hypervisor agent.
	VGPUHost []byte
	// Neighbour is the neighbour load's report (neighbour.json); nil for a
	// quiet run.
	Neighbour []byte
}

// WriteRun stores one run's files atomically, file by file.
func (t *Tree) WriteRun(rel string, f RunFiles) error {
	dir := filepath.Join(t.Root, rel)
	for _, file := range []struct {
		name string
		data []byte
	}{
		{mlperflog.SummaryFile, f.Summary},
		{mlperflog.DetailFile, f.Detail},
		{mlperflog.ResultFile, f.Result},
		{"telemetry.csv", f.Telemetry},
		{VGPUHostFile, f.VGPUHost},
		{NeighbourFile, f.Neighbour},
	} {
		if file.data == nil {
			continue
		}
		if err := atomicfile.Write(dir, file.name, file.data); err != nil {
			return fmt.Errorf("store %s: %w", filepath.Join(rel, file.name), err)
		}
	}
	return nil
}

// WriteManifest rewrites run.json.
func (t *Tree) WriteManifest(m *Manifest) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode run.json: %w", err)
	}
	return atomicfile.Write(t.Root, "run.json", append(b, '\n'))
}

// ReadManifest reads run.json (see DecodeManifest).
func (t *Tree) ReadManifest() (*Manifest, error) {
	path := filepath.Join(t.Root, "run.json")
	b, err := t.read("run.json", MaxManifestBytes)
	if err != nil {
		return nil, err
	}
	return DecodeManifest(path, b)
}

// ReadResult reads one run's result.json (see DecodeResult). rel comes
// from run.json: it must be a run folder inside the tree.
func (t *Tree) ReadResult(rel string) (*inference.Result, error) {
	if err := CheckRunDir(rel); err != nil {
		return nil, err
	}
	name := filepath.Join(rel, mlperflog.ResultFile)
	t.resultReads.Add(1)
	b, err := t.read(name, MaxResultBytes)
	if err != nil {
		return nil, err
	}
	return DecodeResult(filepath.Join(t.Root, name), b)
}

// ImportHost copies host's host.json from src, and its hypervisor.json
// when it has one. host comes from src's run.json: it must be a folder
// name of the tree.
func (t *Tree) ImportHost(src *Tree, host string) error {
	if !safeName.MatchString(host) {
		return fmt.Errorf("host name %q: use letters, digits, '.', '_' and '-'", host)
	}
	b, err := src.read(filepath.Join(host, HostFile), MaxHostBytes)
	if err != nil {
		return fmt.Errorf("read host %s: %w", host, err)
	}
	if err := t.WriteHost(host, b); err != nil {
		return err
	}
	b, err = src.read(filepath.Join(host, HypervisorFile), MaxHostBytes)
	switch {
	case isNotExist(err):
		return nil
	case err != nil:
		return fmt.Errorf("read host %s's hypervisor: %w", host, err)
	}
	return t.WriteHypervisor(host, b)
}

// ImportRun copies the files of one run folder from src to the same place
// in t, each atomically: the files a run folder holds (the MLPerf logs,
// result.json, telemetry.csv, vgpu_host.json), nothing else. rel comes
// from src's run.json: it must be a run folder inside the tree, so
// nothing is read or written outside either tree.
func (t *Tree) ImportRun(src *Tree, rel string) error {
	if err := CheckRunDir(rel); err != nil {
		return err
	}
	root, err := src.fs()
	if err != nil {
		return err
	}
	dir, err := root.Open(rel)
	if err != nil {
		return err
	}
	entries, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !runFileNames[e.Name()] {
			continue
		}
		b, err := src.read(filepath.Join(rel, e.Name()), MaxLogBytes)
		if err != nil {
			return err
		}
		if err := atomicfile.Write(filepath.Join(t.Root, rel), e.Name(), b); err != nil {
			return fmt.Errorf("store %s: %w", filepath.Join(rel, e.Name()), err)
		}
	}
	return nil
}
