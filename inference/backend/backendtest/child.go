package backendtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A benchmark of a client's CPU cost runs its test server in a child
// process, so the CPU time it reads (getrusage of its own process) is the
// client's alone. The child is the test binary itself: TestMain calls
// ServeIfChild first, and the benchmark calls StartChild with the same
// environment variable.

// ServeIfChild returns at once unless the environment variable env is
// set. When it is, this process is a child started by StartChild: it calls
// start, prints the address start returns, serves until its standard input
// closes (when the parent ends), calls stop and exits.
func ServeIfChild(env string, start func() (addr string, stop func(), err error)) {
	if os.Getenv(env) == "" {
		return
	}
	addr, stop, err := start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(addr)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // EOF when the parent goes
	stop()
	os.Exit(0)
}

// StartChild starts this test binary as a server (see ServeIfChild) and
// returns the address it printed. The child ends when the test does.
func StartChild(tb testing.TB, env string) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), env+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("test server in a child process: %v", err)
	}
	return strings.TrimSpace(addr)
}
