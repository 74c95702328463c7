package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gpuperf/gpuperf/agent"
	gpuperfv1 "github.com/gpuperf/gpuperf/proto/gpuperf/v1"
)

// agentProcess is a running `gpuperf agent`.
type agentProcess struct {
	cmd    *exec.Cmd
	addr   string
	stderr strings.Builder // complete once stop returns
	read   chan struct{}   // closed when stderr is read to its end
}

// startAgentProcess starts `gpuperf agent` with args and waits for its
// "listening on" line.
func startAgentProcess(t *testing.T, args ...string) *agentProcess {
	t.Helper()
	p := &agentProcess{read: make(chan struct{})}
	// The context kills the agent if the test ends without stopping it.
	p.cmd = exec.CommandContext(t.Context(), gpuperfBin, append([]string{"agent"}, args...)...)
	p.cmd.Dir = t.TempDir()
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		defer close(p.read)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.WriteString(line + "\n")
			if a, ok := strings.CutPrefix(line, "gpuperf agent listening on "); ok {
				addrc <- a
			}
		}
	}()
	select {
	case p.addr = <-addrc:
	case <-p.read:
		p.cmd.Wait()
		t.Fatalf("agent exited before listening:\n%s", p.stderr.String())
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.read
		p.cmd.Wait()
		t.Fatalf("agent not listening after 20 s:\n%s", p.stderr.String())
	}
	return p
}

// stop sends sig and returns the exit code.
func (p *agentProcess) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	<-p.read
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0
}

func TestAgentServesUntilSIGINT(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(config, []byte("backends:\n  - {name: fast-sim, kind: sim, options: {servers: 2}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startAgentProcess(t, "--listen", "127.0.0.1:0", "--token-file", tokenFile, "--config", config, "--log-level", "info")

	dial := func(opts ...grpc.DialOption) gpuperfv1.AgentClient {
		conn, err := grpc.NewClient(p.addr, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return gpuperfv1.NewAgentClient(conn)
	}
	d, err := dial(grpc.WithPerRPCCredentials(agent.BearerToken("s3cret"))).Describe(t.Context(), &gpuperfv1.DescribeRequest{})
	if err != nil {
		t.Fatalf("describe: %v\n%s", err, p.stderr.String())
	}
	if len(d.Backends) != 1 || d.Backends[0].Name != "fast-sim" || d.Backends[0].Options["servers"] != "2" {
		t.Errorf("backends %v, want the config's fast-sim", d.Backends)
	}
	if d.AgentVersion == "" || d.Hostname == "" || d.BusyRunId != "" {
		t.Errorf("describe: %+v", d)
	}
	if _, err := dial().Describe(t.Context(), &gpuperfv1.DescribeRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("describe without the token: %v, want Unauthenticated", err)
	}

	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("exit code %d after SIGINT, want 0\n%s", code, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), `msg="agent listening" addr=`+p.addr) {
		t.Errorf("no Info log of the address:\n%s", p.stderr.String())
	}
}

func TestAgentBadInput(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(badConfig, []byte("backends:\n  - {name: a, kind: tpu}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want []string // what the message must name
	}{
		{"plaintext on all interfaces", nil, []string{"--listen", "0.0.0.0:0"}, []string{"--insecure", "--tls-cert"}},
		{"plaintext from the environment", []string{"GPUPERF_LISTEN=0.0.0.0:0"}, nil, []string{"--insecure"}},
		{"cert without key", nil, []string{"--tls-cert", badConfig}, []string{"--tls-key"}},
		{"missing config", nil, []string{"--config", filepath.Join(dir, "nope.yaml")}, []string{"--config", "nope.yaml"}},
		{"bad config", nil, []string{"--config", badConfig}, []string{"--config", "backends[0].kind"}},
		{"missing token file", nil, []string{"--token-file", filepath.Join(dir, "nope")}, []string{"--token-file"}},
		{"bad message size", []string{"GPUPERF_MAX_MSG_BYTES=lots"}, nil, []string{"--max-msg-bytes"}},
		{"tiny message size", nil, []string{"--max-msg-bytes", "10"}, []string{"--max-msg-bytes"}},
		{"arguments", nil, []string{"extra"}, []string{"extra"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := run(t, tc.env, append([]string{"agent"}, tc.args...)...)
			if code != exitUsage {
				t.Fatalf("exit code %d, want %d; stderr %q", code, exitUsage, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not name %q", stderr, w)
				}
			}
		})
	}
}
