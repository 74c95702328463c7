//go:build !linux || !cgo

package cuda

import (
	"errors"

	"github.com/gpuperf/gpuperf/inference/backend"
)

// Open fails: the driver is loaded through cgo on Linux only.
func Open() (Driver, error) {
	return nil, backend.Unavailable(errors.New("cuda: this gpuperf was built without cgo (or not for Linux): it cannot load libcuda.so.1"))
}
