package coordinator

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/internal/yamlcap"
)

// Upper bounds of a plan: beyond them a plan is a mistake, and would take
// the coordinator's memory (the schedule) or the agents' with it.
const (
	MaxRepetitions = 1000
	MaxRetries     = 20
	MaxAgents      = 64
	// maxRuns bounds agents × scenarios × repetitions.
	maxRuns = 100_000
	// planMemoryCap is more memory than any agent gives one run; each
	// agent holds runs to its own, smaller limit (max_run_memory).
	planMemoryCap = 1 << 40
)

// checkBounds holds the plan's counts and settings to the upper bounds.
func (p *Plan) checkBounds(c *checker) {
	if p.Repetitions > MaxRepetitions {
		c.add("repetitions", "must be at most %d, got %d", MaxRepetitions, p.Repetitions)
	}
	if p.Retries > MaxRetries {
		c.add("retries", "must be at most %d, got %d", MaxRetries, p.Retries)
	}
	if len(p.Agents) > MaxAgents {
		c.add("agents", "at most %d agents, got %d", MaxAgents, len(p.Agents))
	}
	if len(p.Scenarios) > len(inference.Scenarios) {
		c.add("scenarios", "at most %d (each once), got %d", len(inference.Scenarios), len(p.Scenarios))
	}
	if n := len(p.Agents) * len(p.Scenarios) * p.Repetitions; p.Repetitions <= MaxRepetitions && n > maxRuns {
		c.add("repetitions", "%d agents × %d scenarios × %d repetitions is %d runs, more than %d", len(p.Agents), len(p.Scenarios), p.Repetitions, n, maxRuns)
	}
	if d, err := time.ParseDuration(p.Watchdog); p.Watchdog != "" && (err != nil || d < MinWatchdog || d > MaxWatchdog) {
		c.add("watchdog", "must be a duration from %s to %s, got %q", MinWatchdog, MaxWatchdog, p.Watchdog)
	}
	if q := p.Server.TargetQPS; q > inference.MaxRate {
		c.add("server.target_qps", "must be at most %g, got %g", float64(inference.MaxRate), q)
	}
	p.checkFootprint(c)
}

// checkFootprint refuses settings whose runs no agent could hold, as the
// load generator estimates them before calibration. Each agent checks
// again, against its own limit, with the calibrated hints.
func (p *Plan) checkFootprint(c *checker) {
	if len(p.Workload.Settings) == 0 {
		return
	}
	profile, err := inference.ParseProfile(p.Profile)
	if err != nil {
		return
	}
	for _, sc := range p.ScenarioList() {
		s, qsl, err := inference.Settings(p.Workload.Model, sc, profile)
		if err != nil || len(settingsProblems(p.Workload.Settings, &s)) > 0 || s.Validate() != nil {
			continue // reported elsewhere
		}
		if err := inference.EstimateFootprint(s, qsl).CheckMemory(planMemoryCap, "more than any agent gives a run; each agent's max_run_memory is lower"); err != nil {
			c.add("workload.settings", "%s: %v", sc.Flag(), err)
			return
		}
	}
}

// watchdog is the plan's watchdog, DefaultWatchdog when unset.
func (p *Plan) watchdog() time.Duration {
	if d, err := time.ParseDuration(p.Watchdog); err == nil && d >= MinWatchdog {
		return d
	}
	return DefaultWatchdog
}

// readPlanFile reads a plan file, refusing one larger than
// yamlcap.MaxBytes without reading it all.
func readPlanFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, yamlcap.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	if len(data) > yamlcap.MaxBytes {
		return nil, fmt.Errorf("%s: more than the %d bytes a plan may have", path, yamlcap.MaxBytes)
	}
	return data, nil
}
