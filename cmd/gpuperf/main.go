// Command gpuperf measures how much GPU inference performance a virtualized
// host keeps compared with bare metal. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes, as DESIGN.md lists them.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInvalidRun  = 3
	exitInterrupted = 130
)

// exitError carries an exit code up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, newRootCommand(), os.Stderr)
	stop()
	os.Exit(code)
}

// execute runs root and returns the exit code. A panic is an internal
// error, exit 1 (the Go runtime would exit 2, gpuperf's code for bad
// usage); goroutines that run measurements recover their own panics.
func execute(ctx context.Context, root *cobra.Command, stderr io.Writer) (code int) {
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(stderr, "gpuperf: internal error: %v\n%s\nThis is a bug in gpuperf; please report it with the lines above.\n", v, debug.Stack())
			code = exitFailure
		}
	}()
	err := root.ExecuteContext(ctx)
	return exitCode(err, ctx.Err() != nil)
}

func exitCode(err error, interrupted bool) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "gpuperf:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "gpuperf:", err)
	if interrupted {
		return exitInterrupted
	}
	return exitFailure
}
