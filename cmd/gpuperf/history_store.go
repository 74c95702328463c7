package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/gpuperf/gpuperf/coordinator"
	"github.com/gpuperf/gpuperf/results/history"
)

// addStoreFlag adds --store, where the run history lives.
func addStoreFlag(cmd *cobra.Command) {
	cmd.Flags().String("store", "", "the run history: a SQLite file (default $XDG_DATA_HOME/gpuperf/history.db), a postgres:// URL, or off")
}

// storeAddr is the --store flag (or GPUPERF_STORE).
func storeAddr(v *viper.Viper) string { return strings.TrimSpace(v.GetString("store")) }

// openStore opens the run history for a command that needs it: off is a
// usage error there; a corrupt or newer store exits 2; one that cannot be
// reached exits 1.
func openStore(ctx context.Context, v *viper.Viper) (*history.Store, error) {
	addr := storeAddr(v)
	if addr == history.Off {
		return nil, usageErrorf("--store is off: this command reads the run history; name a store with --store or GPUPERF_STORE")
	}
	s, err := history.Open(ctx, addr)
	if err != nil {
		return nil, storeError(err)
	}
	return s, nil
}

// storeError gives a store failure its exit code: 2 for a store gpuperf
// must not use (corrupt, newer schema, malformed address), 1 otherwise.
func storeError(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	if errors.Is(err, history.ErrUnusable) || errors.Is(err, history.ErrNotFound) || errors.Is(err, history.ErrTagExists) {
		return &exitError{code: exitUsage, err: err}
	}
	return &exitError{code: exitFailure, err: err}
}

// planHash identifies what a plan measures, so that runs of one plan can
// be found again whatever else changed: the workload (backend, model,
// settings), the scenarios, the profile and the Server load. Agents are
// matched apart (by the side's host names); order, repetitions, retries,
// thresholds, output and baseline do not change what a run measures.
func planHash(p *coordinator.Plan) string {
	scenarios := make([]string, 0, len(p.ScenarioList()))
	for _, sc := range p.ScenarioList() {
		scenarios = append(scenarios, sc.String())
	}
	b, err := json.Marshal(struct {
		Backend   string          `json:"backend"`
		Model     string          `json:"model"`
		Settings  map[string]any  `json:"settings"`
		Scenarios []string        `json:"scenarios"`
		Profile   string          `json:"profile"`
		Server    json.RawMessage `json:"server"`
	}{p.Workload.Backend, p.Workload.Model, p.Workload.Settings, scenarios, p.Profile, mustJSON(p.Server)})
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// hashPlanYAML is planHash of a stored plan.yaml ("" when it does not
// parse).
func hashPlanYAML(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	p, err := coordinator.ParsePlan("plan.yaml", b)
	if err != nil {
		return ""
	}
	return planHash(p)
}

// commandLine is the command as typed, for the record, with --store's
// value (a URL that may hold a password) left out.
func commandLine(cmd *cobra.Command) string {
	parts := []string{cmd.CommandPath()}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "store" {
			parts = append(parts, "--store=…")
			return
		}
		parts = append(parts, "--"+f.Name+"="+f.Value.String())
	})
	parts = append(parts, cmd.Flags().Args()...)
	return strings.Join(parts, " ")
}

// recorder is the hostname written with every record.
func recorder() string {
	h, _ := os.Hostname()
	return h
}

// codeOf is the exit code err will give, without printing it.
func codeOf(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailure
}

func countNoun(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
