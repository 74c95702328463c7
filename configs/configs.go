// Package configs holds gpuperf's example plans and agent configuration, and
// embeds the one plan gpuperf needs without a file: the default that
// `gpuperf compare` runs when given no arguments. The Go types that load and
// validate these files live with their owners: the plan in coordinator, the
// agent's configuration in agent.
package configs

import _ "embed"

// defaultPlan is a string so that no caller can change the embedded copy.
//
//go:embed default.yaml
var defaultPlan string

// DefaultPlan returns the embedded default plan (default.yaml): an A/A
// calibration of two agents started in-process on loopback with the cpu
// backend. Its agents' addresses are "embedded"; the caller starts the
// agents and substitutes their addresses. Each call returns a fresh copy.
func DefaultPlan() []byte { return []byte(defaultPlan) }
