package coordinator

import "strings"

// Baselines named through the run history rather than by folder: the
// caller resolves them to a stored tree (or one host folder of it) before
// the plan is validated and run.
const (
	// BaselineLastGood is the newest run of the same plan and candidate
	// hosts whose gate passed.
	BaselineLastGood = "last-good"
	// BaselineTagPrefix starts a tagged run: tag:NAME.
	BaselineTagPrefix = "tag:"
)

// IsStoreReference reports a baseline that names the run history, not a
// folder: last-good, tag:NAME, or a comma-separated list of them tried in
// order (last-good,tag:known-good).
func IsStoreReference(baseline string) bool {
	first, _, _ := strings.Cut(baseline, ",")
	first = strings.TrimSpace(first)
	return first == BaselineLastGood || strings.HasPrefix(first, BaselineTagPrefix)
}
