package main

import (
	"errors"

	"github.com/gpuperf/gpuperf/inference/backend"
)

// backendError is the error of building a backend from flag's options: a
// usage error (exit 2), unless the machine lacks what the backend needs
// (the cuda backend without the NVIDIA driver), which is a runtime failure
// (exit 1) and keeps the backend's own words, after where (a file and
// field) when there is one.
func backendError(flag string, err error) error {
	if errors.Is(err, backend.ErrUnavailable) {
		return err
	}
	return usageErrorf("%s: %v", flag, err)
}
