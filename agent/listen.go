package agent

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Defaults of ListenOptions.
const (
	DefaultAddr        = "127.0.0.1:7070"
	DefaultMaxMsgBytes = 64 << 20
	// minMsgBytes leaves room for a result with its detail log.
	minMsgBytes = 1 << 20
)

// Keepalive: clients may ping every 10 s; the server pings an idle
// connection so a coordinator that vanished without closing its connection
// (a partition, a dead VM) cancels its run instead of holding the agent.
const (
	clientPingMinTime = 10 * time.Second
	serverPingTime    = 30 * time.Second
	serverPingTimeout = 10 * time.Second
)

// stopGrace bounds how long Serve waits for RPCs in flight before it
// cancels them.
const stopGrace = 5 * time.Second

// ListenOptions says where and how the agent listens.
type ListenOptions struct {
	Addr            string // default DefaultAddr
	TLSCert, TLSKey string
	TLSClientCA     string // mutual TLS when set
	Insecure        bool   // allow plaintext on a non-loopback address
	// TokenFile holds a bearer token every RPC must carry as
	// "authorization: Bearer <token>".
	TokenFile   string
	MaxMsgBytes int // default DefaultMaxMsgBytes, for sends and receives
	// MetricsAddr serves Prometheus metrics (plain HTTP, /metrics) on
	// HOST:PORT; empty serves none.
	MetricsAddr string
	// MetricsReady, if not nil, is called with the metrics address once
	// listening.
	MetricsReady func(net.Addr)
}

func (lo ListenOptions) withDefaults() ListenOptions {
	if lo.Addr == "" {
		lo.Addr = DefaultAddr
	}
	if lo.MaxMsgBytes == 0 {
		lo.MaxMsgBytes = DefaultMaxMsgBytes
	}
	return lo
}

// Validate reports options the agent cannot serve with, naming the flag:
// plaintext on a non-loopback address without Insecure, half a key pair, a
// client CA without a server certificate, files that do not exist.
func (lo ListenOptions) Validate() error {
	lo = lo.withDefaults()
	var errs []error
	host, _, err := net.SplitHostPort(lo.Addr)
	if err != nil {
		errs = append(errs, fmt.Errorf("--listen: %w", err))
	}
	tlsOn := lo.TLSCert != "" || lo.TLSKey != ""
	switch {
	case lo.TLSCert != "" && lo.TLSKey == "":
		errs = append(errs, errors.New("--tls-cert needs --tls-key"))
	case lo.TLSKey != "" && lo.TLSCert == "":
		errs = append(errs, errors.New("--tls-key needs --tls-cert"))
	}
	if lo.TLSClientCA != "" && !tlsOn {
		errs = append(errs, errors.New("--tls-client-ca needs --tls-cert and --tls-key"))
	}
	if lo.Insecure && tlsOn {
		errs = append(errs, errors.New("--insecure and --tls-cert/--tls-key exclude each other"))
	}
	if err == nil && !tlsOn && !lo.Insecure && !isLoopback(host) {
		errs = append(errs, fmt.Errorf("--listen %s is not a loopback address: plaintext there needs --tls-cert/--tls-key or --insecure", lo.Addr))
	}
	for _, f := range []struct{ flag, path string }{
		{"--tls-cert", lo.TLSCert}, {"--tls-key", lo.TLSKey}, {"--tls-client-ca", lo.TLSClientCA}, {"--token-file", lo.TokenFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.flag, err))
		}
	}
	if lo.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(lo.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("--metrics-listen: %w", err))
		}
	}
	if lo.MaxMsgBytes < minMsgBytes {
		errs = append(errs, fmt.Errorf("--max-msg-bytes: must be at least %d, got %d", minMsgBytes, lo.MaxMsgBytes))
	}
	return errors.Join(errs...)
}

// isLoopback reports whether host names only the loopback interface. An
// empty host listens on every interface; other names may resolve anywhere.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serverOptions turns lo into gRPC server options, reading its files.
func (lo ListenOptions) serverOptions() ([]grpc.ServerOption, error) {
	creds, err := lo.credentials()
	if err != nil {
		return nil, err
	}
	opts := []grpc.ServerOption{
		grpc.Creds(creds),
		grpc.MaxRecvMsgSize(lo.MaxMsgBytes),
		grpc.MaxSendMsgSize(lo.MaxMsgBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: clientPingMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: serverPingTime, Timeout: serverPingTimeout}),
		// Stop waits for the handlers, so every run has drained when Serve
		// returns.
		grpc.WaitForHandlers(true),
	}
	if lo.TokenFile != "" {
		token, err := readToken(lo.TokenFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.ChainUnaryInterceptor(unaryToken(token)), grpc.ChainStreamInterceptor(streamToken(token)))
	}
	return opts, nil
}

func (lo ListenOptions) credentials() (credentials.TransportCredentials, error) {
	if lo.TLSCert == "" {
		return insecure.NewCredentials(), nil
	}
	cert, err := tls.LoadX509KeyPair(lo.TLSCert, lo.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if lo.TLSClientCA != "" {
		pem, err := os.ReadFile(lo.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-client-ca: %s holds no PEM certificate", lo.TLSClientCA)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return credentials.NewTLS(tc), nil
}

// readToken reads a bearer token file: the token is the file's content
// without surrounding white space.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("--token-file: %s is empty", path)
	}
	return t, nil
}

// checkToken accepts a context whose metadata carries "Bearer <token>".
func checkToken(ctx context.Context, token string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return status.Error(codes.Unauthenticated, "missing bearer token")
	}
	scheme, got, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") ||
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) != 1 {
		return status.Error(codes.Unauthenticated, "invalid bearer token")
	}
	return nil
}

func unaryToken(token string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := checkToken(ctx, token); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func streamToken(token string) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := checkToken(ss.Context(), token); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

// BearerToken returns per-RPC credentials that send token the way the
// agent checks it. They work over plaintext too, which the agent allows
// only on loopback or with --insecure.
func BearerToken(token string) credentials.PerRPCCredentials { return bearer(token) }

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// Serve listens on lo.Addr and serves srv until ctx is done, then stops
// gracefully: RPCs in flight get stopGrace to finish before they are
// cancelled, and Serve returns once every handler has returned. ready, if
// not nil, is called with the bound address once listening, so a caller
// can listen on port 0.
func Serve(ctx context.Context, srv *Server, lo ListenOptions, ready func(net.Addr)) error {
	lo = lo.withDefaults()
	if err := lo.Validate(); err != nil {
		return err
	}
	opts, err := lo.serverOptions()
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", lo.Addr)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	if lo.MetricsAddr != "" {
		mctx, stopMetrics := context.WithCancel(ctx)
		waitMetrics, err := srv.serveMetrics(mctx, lo.MetricsAddr, lo.MetricsReady)
		if err != nil {
			stopMetrics()
			lis.Close()
			return err
		}
		defer waitMetrics()
		defer stopMetrics()
	}
	g := grpc.NewServer(opts...)
	srv.Register(g)
	srv.log.Info("agent listening", "addr", lis.Addr().String(), "tls", lo.TLSCert != "", "mutual_tls", lo.TLSClientCA != "",
		"token", lo.TokenFile != "", "backends", strings.Join(srv.cfg.names(), ","))
	if ready != nil {
		ready(lis.Addr())
	}

	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	srv.log.Info("agent stopping")
	srv.health.Shutdown()
	stopped := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		srv.log.Warn("runs still in flight after the grace period; cancelling them", "grace", stopGrace)
		g.Stop()
		<-stopped
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
