package kserve

import (
	"testing"

	"github.com/gpuperf/gpuperf/inference/backend/backendtest"
	"github.com/gpuperf/gpuperf/inference/backend/kserve/kservetest"
)

// serverHelperEnv makes the test binary serve kservetest's server instead
// of running tests: benchmarks start it as a separate process, so the
// CPU they measure is the client's alone.
const serverHelperEnv = "GPUPERF_KSERVE_TEST_SERVER"

func TestMain(m *testing.M) {
	backendtest.ServeIfChild(serverHelperEnv, func() (string, func(), error) {
		srv, err := kservetest.Start(kservetest.Options{Models: []kservetest.Model{kservetest.Simple(), kservetest.ResNet50()}})
		if err != nil {
			return "", nil, err
		}
		return srv.Addr(), srv.Close, nil
	})
	backendtest.Main(m)
}
