package kserve

import (
	"bufio"
	"fmt"
	"os"
	"testing"

	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
	"github.com/gpuperf/gpuperf/inference/backend/kserve/kservetest"
)

// serverHelperEnv makes the test binary serve kservetest's server instead
// of running tests: benchmarks start it as a separate process, so the
// CPU they measure is the client's alone.
const serverHelperEnv = "GPUPERF_KSERVE_TEST_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(serverHelperEnv) != "" {
		serveHelper()
		return
	}
	backendtest.Main(m)
}

// serveHelper prints the server's address and serves until stdin closes.
func serveHelper() {
	srv, err := kservetest.Start(kservetest.Options{Models: []kservetest.Model{kservetest.Simple(), kservetest.ResNet50()}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(srv.Addr())
	bufio.NewReader(os.Stdin).ReadString('\n') // EOF when the parent ends
	srv.Close()
	os.Exit(0)
}
