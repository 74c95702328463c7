package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// HealthService is the service name whose status says the agent can take
// runs; probes ask for it.
var HealthService = gpuperfv1.Agent_ServiceDesc.ServiceName

// ServeHealth serves the agent's gRPC health service alone, in plaintext
// and without a token, on addr, which must be a loopback address: it is
// for probes inside the agent's own network namespace (a Kubernetes exec
// probe), which cannot present the client certificate the agent's port
// asks for. The status is the agent's own: NOT_SERVING once Serve stops.
// It returns when ctx is done.
func (s *Server) ServeHealth(ctx context.Context, addr string, ready func(net.Addr)) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--health-listen: %w", err)
	}
	if !isLoopback(host) {
		return fmt.Errorf("--health-listen %s is not a loopback address: the health port is plaintext and unauthenticated", addr)
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("--health-listen: %w", err)
	}
	g := grpc.NewServer(grpc.Creds(insecure.NewCredentials()))
	healthpb.RegisterHealthServer(g, s.health)
	if ready != nil {
		ready(lis.Addr())
	}
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	select {
	case err := <-served:
		return fmt.Errorf("health: %w", err)
	case <-ctx.Done():
	}
	// Health checks are unary and short; Stop does not strand a run.
	g.Stop()
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("health: %w", err)
	}
	return nil
}

// CheckHealth asks the plaintext health service at addr (ServeHealth's
// address) for service's status and returns an error unless it is SERVING.
func CheckHealth(ctx context.Context, addr, service string, timeout time.Duration) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return fmt.Errorf("health check of %s at %s: %w", service, addr, err)
	}
	if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("%s at %s is %s", service, addr, st)
	}
	return nil
}
