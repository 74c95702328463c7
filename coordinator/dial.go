package coordinator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// maxMsgBytes bounds what an agent may send: a result with its logs.
const maxMsgBytes = 64 << 20

// describeTimeout bounds each agent's Describe, so a plan with a dead agent
// fails in seconds, naming it.
const describeTimeout = 10 * time.Second

// connect dials and describes every agent of the plan, and checks that each
// offers the plan's backend.
func (r *Runner) connect(ctx context.Context) ([]*agentConn, error) {
	var agents []*agentConn
	var err error
	if r.peers, err = dialPeers(ctx, r.Plan.Interference); err != nil {
		return nil, err
	}
	for _, spec := range r.Plan.Agents {
		conn, err := dial(spec)
		if err != nil {
			return agents, fmt.Errorf("agent %s (%s): %w", spec.Name, spec.Address, err)
		}
		a := &agentConn{spec: spec, conn: conn, client: gpuperfv1.NewAgentClient(conn)}
		agents = append(agents, a)
		dctx, cancel := context.WithTimeout(ctx, describeTimeout)
		a.desc, err = a.client.Describe(dctx, &gpuperfv1.DescribeRequest{})
		cancel()
		if err != nil {
			return agents, fmt.Errorf("agent %s (%s): describe: %w", spec.Name, spec.Address, a.explain(err))
		}
		var names []string
		offered := false
		for _, b := range a.desc.Backends {
			names = append(names, b.Name)
			offered = offered || b.Name == r.Plan.Workload.Backend
		}
		if !offered {
			return agents, fmt.Errorf("agent %s (%s) does not offer backend %q (it offers %s)", spec.Name, spec.Address, r.Plan.Workload.Backend, strings.Join(names, ", "))
		}
		if spec.Hypervisor != nil {
			if a.hyper, err = dialHypervisor(ctx, spec); err != nil {
				return agents, err
			}
		}
		if spec.NeighbourAgent != nil && len(r.Plan.Interference) > 0 {
			if a.neighbour, err = dialNeighbour(ctx, spec, r.Plan.Interference, r.peers); err != nil {
				return agents, err
			}
		}
	}
	return agents, nil
}

// dial opens a client connection with the agent's TLS and token settings.
func dial(spec AgentSpec) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgBytes), grpc.MaxCallSendMsgSize(maxMsgBytes)),
		// A connection that died without closing is found within
		// keepaliveTime + keepaliveTimeout (see liveness.go).
		grpc.WithKeepaliveParams(clientKeepalive),
	}
	if spec.TLS != nil {
		cfg, err := clientTLS(*spec.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if spec.TokenFile != "" {
		b, err := os.ReadFile(spec.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("token_file: %w", err)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: strings.TrimSpace(string(b)), secure: spec.TLS != nil}))
	}
	return grpc.NewClient(spec.Address, opts...)
}

func clientTLS(t TLSSpec) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca: %s holds no PEM certificate", t.CA)
		}
		cfg.RootCAs = pool
	}
	if t.Cert != "" {
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("tls.cert/tls.key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// bearer sends the agent's token with every RPC. Plaintext is allowed only
// where the plan allowed it (loopback, or insecure: true).
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }
