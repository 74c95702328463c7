package agent

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
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

// DefaultShutdownGrace bounds how long Serve waits for RPCs in flight
// before it cancels them; stopAfterCancel is how long it then waits for
// them to return before it returns anyway.
const (
	DefaultShutdownGrace = 5 * time.Second
	stopAfterCancel      = time.Second
)

// authLogEvery is the least time between two logs of failed
// authentications; the ones in between are counted.
const authLogEvery = 10 * time.Second

// ListenOptions says where and how the agent listens.
type ListenOptions struct {
	Addr            string // default DefaultAddr
	TLSCert, TLSKey string
	TLSClientCA     string // mutual TLS when set
	Insecure        bool   // allow plaintext on a non-loopback address
	// TokenFile holds a bearer token every RPC must carry as
	// "authorization: Bearer <token>".
	TokenFile string
	// AllowAnonymous lets a non-loopback address serve clients that prove
	// nothing: neither a token nor a client certificate.
	AllowAnonymous bool
	// ShutdownGrace is how long RPCs in flight get to finish once Serve's
	// context is done (default DefaultShutdownGrace); after it Serve
	// cancels them and returns within a second, whatever still runs.
	ShutdownGrace time.Duration
	MaxMsgBytes   int // default DefaultMaxMsgBytes, for sends and receives
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
	if lo.ShutdownGrace == 0 {
		lo.ShutdownGrace = DefaultShutdownGrace
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
	// TLS alone proves who the agent is, not who the client is: anyone who
	// reaches the port could run load on this host.
	if err == nil && !isLoopback(host) && lo.TokenFile == "" && lo.TLSClientCA == "" && !lo.AllowAnonymous {
		errs = append(errs, fmt.Errorf("--listen %s is reachable from other hosts, and nothing proves who a client is: give --token-file or --tls-client-ca (mutual TLS), or --allow-anonymous to let anyone who reaches the port run load", lo.Addr))
	}
	if lo.ShutdownGrace < 0 {
		errs = append(errs, fmt.Errorf("--shutdown-grace: must not be negative, got %s", lo.ShutdownGrace))
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

// Warnings returns what the agent should say when it starts with lo: a
// token file others may read, anonymous clients off loopback, metrics on a
// public address.
func (lo ListenOptions) Warnings() []string {
	lo = lo.withDefaults()
	var out []string
	if lo.TokenFile != "" {
		if st, err := os.Stat(lo.TokenFile); err == nil && st.Mode().Perm()&0o077 != 0 {
			out = append(out, fmt.Sprintf("--token-file %s is readable by others (mode %04o): anyone on this host can read the token; chmod 600 it", lo.TokenFile, st.Mode().Perm()))
		}
	}
	if host, _, err := net.SplitHostPort(lo.Addr); err == nil && !isLoopback(host) && lo.AllowAnonymous && lo.TokenFile == "" && lo.TLSClientCA == "" {
		out = append(out, fmt.Sprintf("--allow-anonymous: anyone who reaches %s can run load on this host", lo.Addr))
	}
	if lo.MetricsAddr != "" {
		if host, _, err := net.SplitHostPort(lo.MetricsAddr); err == nil && !isLoopback(host) {
			out = append(out, fmt.Sprintf("--metrics-listen %s is not a loopback address: /metrics is plain HTTP without authentication, and tells whoever reaches it what this host runs", lo.MetricsAddr))
		}
	}
	return out
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
// Failed authentications are logged to fails; a panic in a handler becomes
// an Internal error, logged to log.
func (lo ListenOptions) serverOptions(fails *failureLog, log *slog.Logger) ([]grpc.ServerOption, error) {
	creds, err := lo.credentials()
	if err != nil {
		return nil, err
	}
	if lo.TLSClientCA != "" {
		creds = handshakeLog{TransportCredentials: creds, fails: fails}
	}
	opts := []grpc.ServerOption{
		grpc.Creds(creds),
		grpc.ChainUnaryInterceptor(unaryRecover(log)),
		grpc.ChainStreamInterceptor(streamRecover(log)),
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
		opts = append(opts, grpc.ChainUnaryInterceptor(unaryToken(token, fails)), grpc.ChainStreamInterceptor(streamToken(token, fails)))
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

func unaryToken(token string, fails *failureLog) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := checkToken(ctx, token); err != nil {
			fails.record(peerAddr(ctx), info.FullMethod, status.Convert(err).Message())
			return nil, err
		}
		return handler(ctx, req)
	}
}

func streamToken(token string, fails *failureLog) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := checkToken(ss.Context(), token); err != nil {
			fails.record(peerAddr(ss.Context()), info.FullMethod, status.Convert(err).Message())
			return err
		}
		return handler(srv, ss)
	}
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return "unknown"
}

// failureLog logs failed authentications with the peer's address, at most
// one line every authLogEvery, counting the ones it held back, so a
// client hammering the port cannot flood the log.
type failureLog struct {
	log *slog.Logger

	mu         sync.Mutex // protects last and suppressed
	last       time.Time
	suppressed int
}

func (f *failureLog) record(peer, method, reason string) {
	if f == nil || f.log == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if !f.last.IsZero() && now.Sub(f.last) < authLogEvery {
		f.suppressed++
		return
	}
	f.log.Warn("authentication failed", "peer", peer, "method", method, "reason", reason, "more_since_last_log", f.suppressed)
	f.last, f.suppressed = now, 0
}

// handshakeLog logs TLS handshakes that fail, such as a client without a
// certificate the client CA signed.
type handshakeLog struct {
	credentials.TransportCredentials
	fails *failureLog
}

func (h handshakeLog) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := h.TransportCredentials.ServerHandshake(c)
	if err != nil {
		h.fails.record(c.RemoteAddr().String(), "TLS handshake", err.Error())
	}
	return conn, info, err
}

func (h handshakeLog) Clone() credentials.TransportCredentials {
	return handshakeLog{TransportCredentials: h.TransportCredentials.Clone(), fails: h.fails}
}

// unaryRecover and streamRecover turn a panic in a handler into an
// Internal error: one bad request must not end the agent.
func unaryRecover(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (_ any, err error) {
		defer recoverTo(log, info.FullMethod, &err)
		return handler(ctx, req)
	}
}

func streamRecover(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer recoverTo(log, info.FullMethod, &err)
		return handler(srv, ss)
	}
}

func recoverTo(log *slog.Logger, method string, err *error) {
	if v := recover(); v != nil {
		log.Error("a request panicked; the agent stays up", "method", method, "panic", v, "stack", string(debug.Stack()))
		*err = status.Errorf(codes.Internal, "%s: internal error: %v (the agent's log has the stack; the agent stays up)", method, v)
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
	opts, err := lo.serverOptions(&srv.authFailures, srv.log)
	if err != nil {
		return err
	}
	srv.maxDetail = uint64(lo.MaxMsgBytes) / 2
	for _, w := range lo.Warnings() {
		srv.log.Warn(w)
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
	t := time.NewTimer(lo.ShutdownGrace)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		srv.log.Warn("runs still in flight after the grace period; cancelling them", "grace", lo.ShutdownGrace)
		go g.Stop()
		// Stop waits for the handlers, and a cancelled run drains for up
		// to its drain timeout: the agent does not wait for that.
		t.Reset(stopAfterCancel)
		select {
		case <-stopped:
		case <-t.C:
			id := srv.BusyRunID()
			srv.log.Warn("returning with a run still draining", "run_id", id)
			return fmt.Errorf("%w (run %q was cancelled and still draining)", ErrShutdownForced, id)
		}
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// ErrShutdownForced is returned by Serve when RPCs were still in flight
// after the shutdown grace period and the second that follows it: the
// caller should exit without waiting for them.
var ErrShutdownForced = errors.New("shutdown grace period over with a run in flight")

// BusyRunID returns the run in progress, or "" when idle.
func (s *Server) BusyRunID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy == nil {
		return ""
	}
	return s.busy.id
}
