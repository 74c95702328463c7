package rpcerr_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gpuperf/gpuperf/agent"
	"github.com/gpuperf/gpuperf/internal/rpcerr"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "agent"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "agent.pem"), filepath.Join(dir, "agent.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func serve(t *testing.T, lo agent.ListenOptions) string {
	t.Helper()
	srv, err := agent.NewServer(agent.DefaultConfig(), "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	ready := make(chan net.Addr, 1)
	lo.Addr = "127.0.0.1:0"
	wg.Go(func() { _ = agent.Serve(ctx, srv, lo, func(a net.Addr) { ready <- a }) })
	return (<-ready).String()
}

func describe(t *testing.T, addr string, creds credentials.TransportCredentials) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = gpuperfv1.NewAgentClient(conn).Describe(ctx, &gpuperfv1.DescribeRequest{})
	return err
}

func TestExplainsConnectionProblems(t *testing.T) {
	cert, key, pool := selfSigned(t)
	tlsAgent := serve(t, agent.ListenOptions{TLSCert: cert, TLSKey: key})
	plainAgent := serve(t, agent.ListenOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name  string
		addr  string
		tlsOn bool
		creds credentials.TransportCredentials
		want  string
	}{
		{"plaintext client, TLS agent", tlsAgent, false, insecure.NewCredentials(), "it probably expects TLS"},
		{"TLS client, plaintext agent", plainAgent, true, credentials.NewTLS(&tls.Config{RootCAs: pool}), "does not speak TLS"},
		{"nothing listening", nobody, false, insecure.NewCredentials(), "is `gpuperf agent` running on " + nobody + "?"},
		{"untrusted certificate", tlsAgent, true, credentials.NewTLS(&tls.Config{RootCAs: x509.NewCertPool()}), "not signed by the CA given"},
		{"wrong name", tlsAgent, true, credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "other.example"}), "set tls.server_name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := describe(t, tc.addr, tc.creds)
			if err == nil {
				t.Fatal("no error")
			}
			got := rpcerr.Explain(tc.addr, tc.tlsOn, err).Error()
			if !strings.Contains(got, tc.want) {
				t.Fatalf("%q does not say %q", got, tc.want)
			}
			t.Log(got)
		})
	}
	// Anything else is left as it was.
	plain := describe(t, plainAgent, insecure.NewCredentials())
	if plain != nil {
		t.Fatalf("a plaintext agent refused a plaintext client: %v", plain)
	}
}
