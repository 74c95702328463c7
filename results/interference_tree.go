package results

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/gpuperf/gpuperf/inference"
)

// InterferenceLoad describes one neighbour load of a plan (run.json's
// interference list): each side was measured quiet and under each.
type InterferenceLoad struct {
	// Name labels the load's runs (RunRecord.Interference) and folders.
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Description says what the load does, in words; Load is the load as
	// the neighbour's agent took it (interference.Spec, defaults applied).
	Description string          `json:"description"`
	Load        json.RawMessage `json:"load"`
}

// NeighbourFile holds, in a run folder under a load, what the neighbour's
// agent reported about its load (interference.Report): what it achieved
// and why it stopped.
const NeighbourFile = "neighbour.json"

// InterferenceRunDir is the relative folder of one run under a neighbour
// load: beside the MLPerf layout's performance folder, so MLPerf's tools
// read the quiet runs alone.
func InterferenceRunDir(host, model string, sc inference.Scenario, load string, rep int) string {
	return filepath.Join(host, model, sc.String(), "interference", load, fmt.Sprintf("run_%d", rep+1))
}
