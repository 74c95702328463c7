package main

import (
	"fmt"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/internal/sysmem"
)

// benchMemoryShare is the share of this host's memory one bench run may
// need, as an agent allows by default (max_run_memory 50%).
const benchMemoryShare = 0.5

// setBenchMemoryLimit holds a bench run to half of this host's memory, so
// that settings asking for more are refused (exit 2, naming the setting)
// instead of ending the process out of memory.
func setBenchMemoryLimit(cfg *inference.Config) {
	total, from, err := sysmem.Total()
	if err != nil {
		return // no /proc: no limit, as before
	}
	cfg.MemoryLimit = uint64(float64(total) * benchMemoryShare)
	cfg.MemoryLimitName = fmt.Sprintf("gpuperf bench runs in at most %.0f%% of %s (%s)", benchMemoryShare*100, inference.FormatBytes(total), from)
}
