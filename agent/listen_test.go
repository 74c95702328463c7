package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

func TestListenOptionsValidate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "exists")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name string
		lo   ListenOptions
		want string // "" for valid; otherwise what the error must say
	}{
		{"default", ListenOptions{}, ""},
		{"loopback v4", ListenOptions{Addr: "127.0.0.1:0"}, ""},
		{"loopback v6", ListenOptions{Addr: "[::1]:7070"}, ""},
		{"localhost", ListenOptions{Addr: "localhost:7070"}, ""},
		{"all interfaces", ListenOptions{Addr: "0.0.0.0:7070"}, "needs --tls-cert/--tls-key or --insecure"},
		{"empty host", ListenOptions{Addr: ":7070"}, "--insecure"},
		{"host name", ListenOptions{Addr: "agent.example:7070"}, "--insecure"},
		{"all interfaces insecure", ListenOptions{Addr: "0.0.0.0:7070", Insecure: true}, "--allow-anonymous"},
		{"all interfaces insecure with a token", ListenOptions{Addr: "0.0.0.0:7070", Insecure: true, TokenFile: file}, ""},
		{"all interfaces insecure, anonymous", ListenOptions{Addr: "0.0.0.0:7070", Insecure: true, AllowAnonymous: true}, ""},
		{"all interfaces tls", ListenOptions{Addr: "0.0.0.0:7070", TLSCert: file, TLSKey: file}, "--token-file or --tls-client-ca"},
		{"all interfaces tls with a token", ListenOptions{Addr: "0.0.0.0:7070", TLSCert: file, TLSKey: file, TokenFile: file}, ""},
		{"all interfaces mutual tls", ListenOptions{Addr: "0.0.0.0:7070", TLSCert: file, TLSKey: file, TLSClientCA: file}, ""},
		{"all interfaces tls, anonymous", ListenOptions{Addr: "0.0.0.0:7070", TLSCert: file, TLSKey: file, AllowAnonymous: true}, ""},
		{"host name with a token", ListenOptions{Addr: "agent.example:7070", Insecure: true, TokenFile: file}, ""},
		{"loopback needs nothing", ListenOptions{Addr: "127.0.0.1:7070"}, ""},
		{"negative grace", ListenOptions{ShutdownGrace: -time.Second}, "--shutdown-grace"},
		{"no port", ListenOptions{Addr: "127.0.0.1"}, "--listen"},
		{"cert without key", ListenOptions{TLSCert: file}, "--tls-cert needs --tls-key"},
		{"key without cert", ListenOptions{TLSKey: file}, "--tls-key needs --tls-cert"},
		{"client ca without tls", ListenOptions{TLSClientCA: file}, "--tls-client-ca needs"},
		{"insecure with tls", ListenOptions{Insecure: true, TLSCert: file, TLSKey: file}, "--insecure"},
		{"missing token file", ListenOptions{TokenFile: missing}, "--token-file"},
		{"missing cert", ListenOptions{TLSCert: missing, TLSKey: file}, "--tls-cert"},
		{"small messages", ListenOptions{MaxMsgBytes: 1000}, "--max-msg-bytes"},
		{"negative messages", ListenOptions{MaxMsgBytes: -1}, "--max-msg-bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.lo.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("no error, want one saying %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// pki is a throw-away CA with a server and a client certificate.
type pki struct {
	dir                           string
	caFile, serverCert, serverKey string
	pool                          *x509.CertPool
	client                        tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), pool: x509.NewCertPool()}
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gpuperf test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p.pool.AddCert(ca)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", caDER)

	leaf := func(serial int64, name string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	der, key := leaf(2, "agent", x509.ExtKeyUsageServerAuth)
	p.serverCert = p.write(t, "server.pem", "CERTIFICATE", der)
	p.serverKey = p.write(t, "server.key", "PRIVATE KEY", marshalKey(t, key))
	der, key = leaf(3, "coordinator", x509.ExtKeyUsageClientAuth)
	p.client = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func marshalKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (p *pki) write(t *testing.T, name, kind string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	addr := startAgent(t, newServer(t, DefaultConfig()), ListenOptions{
		TLSCert: p.serverCert, TLSKey: p.serverKey, TLSClientCA: p.caFile,
	})
	describe := func(tc *tls.Config) error {
		conn := dial(t, addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
		_, err := gpuperfv1.NewAgentClient(conn).Describe(t.Context(), &gpuperfv1.DescribeRequest{})
		return err
	}
	if err := describe(&tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.client}}); err != nil {
		t.Fatalf("client with a certificate: %v", err)
	}
	if err := describe(&tls.Config{RootCAs: p.pool}); err == nil {
		t.Fatal("client without a certificate was served")
	}
	if err := describe(&tls.Config{Certificates: []tls.Certificate{p.client}}); err == nil {
		t.Fatal("client that does not trust the agent's CA was served")
	}
}

func TestServeRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	empty := filepath.Join(dir, "token")
	for path, data := range map[string]string{junk: "not a certificate", empty: " \n"} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv := newServer(t, DefaultConfig())
	for _, tc := range []struct {
		lo   ListenOptions
		want string
	}{
		{ListenOptions{Addr: "127.0.0.1:0", TLSCert: junk, TLSKey: junk}, "--tls-cert"},
		{ListenOptions{Addr: "127.0.0.1:0", TokenFile: empty}, "--token-file"},
	} {
		err := Serve(t.Context(), srv, tc.lo, func(net.Addr) { t.Error("listening with bad files") })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve: %v, want an error naming %s", err, tc.want)
		}
	}
}
