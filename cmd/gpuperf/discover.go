package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gpuperf/gpuperf/coordinator"
	"github.com/gpuperf/gpuperf/results"
)

// resolveDiscovery turns a plan's discovery form into its agents: resolve,
// describe, select. A selector's problem is a usage error (exit 2), a
// lookup that fails a runtime one (exit 1). It says which hosts each side
// took, and warns of agents it could not describe.
func resolveDiscovery(ctx context.Context, stderr io.Writer, plan *coordinator.Plan) (*coordinator.DiscoveryResult, error) {
	if plan.Discovery == nil {
		return nil, nil
	}
	res, err := plan.ResolveDiscovery(ctx, coordinator.DiscoverOptions{})
	if err != nil {
		var fe *coordinator.FieldError
		if errors.As(err, &fe) {
			return res, usageErrorf("%v", err)
		}
		return res, fmt.Errorf("discovery: %w", err)
	}
	var sides [2][]string
	for _, f := range res.Found {
		switch {
		case f.Error != "":
			fmt.Fprintf(stderr, "gpuperf: warning: %s: %s unreachable: %s\n", res.Target, f.Address, f.Error)
		case f.Role == coordinator.RoleBaseline:
			sides[0] = append(sides[0], fmt.Sprintf("%s (%s, %s)", f.Name, f.Address, f.Virtualization))
		case f.Role == coordinator.RoleCandidate:
			sides[1] = append(sides[1], fmt.Sprintf("%s (%s, %s)", f.Name, f.Address, f.Virtualization))
		}
	}
	fmt.Fprintf(stderr, "gpuperf: %s: %d agent(s) found", res.Target, len(res.Found))
	if len(sides[0]) > 0 {
		fmt.Fprintf(stderr, "; baseline %s", strings.Join(sides[0], ", "))
	}
	fmt.Fprintf(stderr, "; candidate %s\n", strings.Join(sides[1], ", "))
	// The resolved agents meet the list form's rules too (names, TLS
	// files, one machine per agent under order parallel).
	if err := plan.Validate(); err != nil {
		return res, usageErrorf("%v", err)
	}
	return res, nil
}

// writeDiscovery keeps what discovery found beside the runs.
func writeDiscovery(tree *results.Tree, res *coordinator.DiscoveryResult) error {
	if tree == nil || res == nil {
		return nil
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return tree.WriteFile("discovery.json", append(js, '\n'))
}
