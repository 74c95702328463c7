package deploy_test

import (
	"bufio"
	"context"
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
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/gpuperf/gpuperf/agent"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// pki is a CA with a serving certificate for the agents' Service name and
// a client certificate, as cert-manager would issue them.
type pki struct {
	caPEM                 []byte
	caPool                *x509.CertPool
	caTemplate            *x509.Certificate
	caKey                 *ecdsa.PrivateKey
	serverCert, serverKey []byte
	clientPair            tls.Certificate
	notBefore, notAfter   time.Time
}

func newPKI(t *testing.T, serverName string) *pki {
	t.Helper()
	p := &pki{notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(time.Hour)}
	var err error
	if p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	p.caTemplate = &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gpuperf-ca"},
		NotBefore: p.notBefore, NotAfter: p.notAfter, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, p.caTemplate, p.caTemplate, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p.caPool = x509.NewCertPool()
	p.caPool.AppendCertsFromPEM(p.caPEM)
	p.serverCert, p.serverKey = p.issue(t, 2, &x509.Certificate{Subject: pkix.Name{CommonName: serverName}, DNSNames: []string{serverName},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	clientCert, clientKey := p.issue(t, 3, &x509.Certificate{Subject: pkix.Name{CommonName: "gpuperf-coordinator"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if p.clientPair, err = tls.X509KeyPair(clientCert, clientKey); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pki) issue(t *testing.T, serial int64, tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = big.NewInt(serial), p.notBefore, p.notAfter
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caTemplate, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// buildGpuperf builds the gpuperf binary for the test.
func buildGpuperf(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gpuperf")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/gpuperf")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "CGO_CFLAGS=-O2 -g -Wno-deprecated-declarations")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build gpuperf: %v\n%s", err, out)
	}
	return bin
}

// TestChartAgentCommandServes starts gpuperf with the exact command line,
// environment and files the chart gives the agent container (paths moved
// under a scratch /etc/gpuperf, ports onto free ones, $(NODE_NAME) as the
// kubelet expands it): the agent serves mutual TLS with the token and
// nothing in plaintext, its readiness probe passes, and Describe reports
// the node, the pod's labels and the chart's.
func TestChartAgentCommandServes(t *testing.T) {
	objs := render(t, `
agent:
  labels: {site: lab-1}
  config:
    backends: [{name: fast-sim, kind: sim, options: {servers: "2"}}]
`)
	ds := all[appsv1.DaemonSet](objs)[0]
	c := container(t, ds.Spec.Template.Spec, "agent")
	var agentYAML string
	for _, cm := range all[corev1.ConfigMap](objs) {
		if cm.Name == "gpuperf-agent" {
			agentYAML = cm.Data["agent.yaml"]
		}
	}
	bin := buildGpuperf(t)

	root := t.TempDir()
	p := newPKI(t, agentsHost)
	writeFile(t, root, "tls/tls.crt", string(p.serverCert))
	writeFile(t, root, "tls/tls.key", string(p.serverKey))
	writeFile(t, root, "tls/ca.crt", string(p.caPEM))
	writeFile(t, root, "token/token", "n1ghtly-t0ken\n")
	writeFile(t, root, "config/agent.yaml", agentYAML)
	// What the kubelet writes for the downward API volume: the pod's labels.
	var podLabels strings.Builder
	for k, v := range ds.Spec.Template.Labels {
		podLabels.WriteString(k + "=\"" + v + "\"\n")
	}
	writeFile(t, root, "podinfo/labels", podLabels.String())

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	healthAddr := l.Addr().String()
	l.Close()
	chartHealth, _ := flagValue(c.Args, "health-listen")
	rewrite := func(a string) string {
		a = strings.ReplaceAll(a, "/etc/gpuperf/", root+"/")
		a = strings.ReplaceAll(a, "$(NODE_NAME)", "node-test")
		a = strings.ReplaceAll(a, chartHealth, healthAddr)
		switch {
		case strings.HasPrefix(a, "--listen="):
			return "--listen=:0"
		case strings.HasPrefix(a, "--metrics-listen="):
			return "--metrics-listen=127.0.0.1:0"
		}
		return a
	}
	var args []string
	for _, a := range c.Args {
		args = append(args, rewrite(a))
	}
	cmd := exec.CommandContext(t.Context(), bin, args...)
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
		}
	}
	cmd.Env = append(cmd.Env, "NODE_NAME=node-test", "PATH="+os.Getenv("PATH"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	var log strings.Builder
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if a, ok := strings.CutPrefix(sc.Text(), "gpuperf agent listening on "); ok {
				addrc <- a
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-read:
		cmd.Wait()
		t.Fatalf("the agent exited with the chart's arguments %q:\n%s", args, log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the agent is not listening after 30 s")
	}
	_, port, _ := net.SplitHostPort(addr)
	local := net.JoinHostPort("127.0.0.1", port)

	// The readiness probe, as the kubelet runs it in the container.
	probe := c.ReadinessProbe.Exec.Command
	pcmd := exec.Command(bin, rewrite(probe[1]), rewrite(probe[2]))
	if out, err := pcmd.CombinedOutput(); err != nil {
		t.Errorf("readiness probe %q: %v\n%s", probe, err, out)
	}

	call := func(opts ...grpc.DialOption) (*gpuperfv1.DescribeResponse, error) {
		conn, err := grpc.NewClient(local, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return gpuperfv1.NewAgentClient(conn).Describe(ctx, &gpuperfv1.DescribeRequest{})
	}
	mtls := credentials.NewTLS(&tls.Config{RootCAs: p.caPool, Certificates: []tls.Certificate{p.clientPair}, ServerName: agentsHost, MinVersion: tls.VersionTLS12})
	d, err := call(grpc.WithTransportCredentials(mtls), grpc.WithPerRPCCredentials(agent.BearerToken("n1ghtly-t0ken")))
	if err != nil {
		t.Fatalf("describe with the coordinator's certificate and token: %v\n%s", err, log.String())
	}
	for k, v := range map[string]string{"kubernetes.io/hostname": "node-test", "site": "lab-1", "gpuperf.io/pool": "default", "app.kubernetes.io/component": "agent"} {
		if d.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, d.Labels[k], v, d.Labels)
		}
	}
	if len(d.Backends) != 1 || d.Backends[0].Name != "fast-sim" {
		t.Errorf("backends %v, want the chart's agent.config", d.Backends)
	}
	// Nothing else gets in: plaintext, TLS without a client certificate,
	// mutual TLS without the token.
	if _, err := call(grpc.WithTransportCredentials(insecure.NewCredentials())); err == nil {
		t.Errorf("a plaintext Describe was answered")
	}
	noCert := credentials.NewTLS(&tls.Config{RootCAs: p.caPool, ServerName: agentsHost, MinVersion: tls.VersionTLS12})
	if _, err := call(grpc.WithTransportCredentials(noCert), grpc.WithPerRPCCredentials(agent.BearerToken("n1ghtly-t0ken"))); err == nil {
		t.Errorf("a Describe without a client certificate was answered")
	}
	if _, err := call(grpc.WithTransportCredentials(mtls)); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a Describe without the token: %v, want Unauthenticated", err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-read
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v\n%s", err, log.String())
	}
}
