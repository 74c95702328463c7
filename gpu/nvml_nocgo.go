//go:build !(linux && cgo)

package gpu

import "log/slog"

// Open reports NVML as unavailable: this build has no cgo (go-nvml needs
// it) or is not for Linux.
func Open(opts Options) *NVML {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return unavailable("NVML support not built in (needs linux and cgo)", log)
}
