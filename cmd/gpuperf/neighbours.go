package main

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/gpuperf/gpuperf/agent"
	"github.com/gpuperf/gpuperf/coordinator"
)

// startEmbeddedNeighbours serves an in-process agent for every agent's
// neighbour whose address is "embedded": its loads then run in this
// process, on this machine, beside embedded agents.
func startEmbeddedNeighbours(ctx context.Context, wg *sync.WaitGroup, p *coordinator.Plan) error {
	for i := range p.Agents {
		n := p.Agents[i].NeighbourAgent
		if n == nil || n.Address != coordinator.AddressEmbedded {
			continue
		}
		srv, err := agent.NewServer(agent.DefaultConfig(), gpuperfVersion(), slogDefault())
		if err != nil {
			return err
		}
		ready := make(chan net.Addr, 1)
		errc := make(chan error, 1)
		wg.Go(func() {
			errc <- agent.Serve(ctx, srv, agent.ListenOptions{Addr: "127.0.0.1:0"}, func(a net.Addr) { ready <- a })
		})
		select {
		case a := <-ready:
			n.Address = a.String()
		case err := <-errc:
			return fmt.Errorf("start embedded neighbour of %s: %w", p.Agents[i].Name, err)
		}
	}
	return nil
}
