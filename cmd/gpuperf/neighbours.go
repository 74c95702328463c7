package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/gpuperf/gpuperf/coordinator"
)

// startEmbeddedNeighbours serves an in-process agent for every agent's
// neighbour, and every network load's peer, whose address is "embedded":
// their loads then run in this process, on this machine, beside embedded
// agents.
func startEmbeddedNeighbours(ctx context.Context, wg *sync.WaitGroup, p *coordinator.Plan) error {
	var ends []struct {
		what string
		spec *coordinator.NeighbourSpec
	}
	for i := range p.Agents {
		if n := p.Agents[i].NeighbourAgent; n != nil {
			ends = append(ends, struct {
				what string
				spec *coordinator.NeighbourSpec
			}{"the neighbour of " + p.Agents[i].Name, n})
		}
	}
	for i := range p.Interference {
		if n := p.Interference[i].Peer; n != nil {
			ends = append(ends, struct {
				what string
				spec *coordinator.NeighbourSpec
			}{"the peer of load " + p.Interference[i].Name, n})
		}
	}
	for _, e := range ends {
		if e.spec.Address != coordinator.AddressEmbedded {
			continue
		}
		addr, err := startEmbeddedAgent(ctx, wg)
		if err != nil {
			return fmt.Errorf("start %s, embedded: %w", e.what, err)
		}
		e.spec.Address = addr
	}
	return nil
}
