// Package clock reads the monotonic clock the engine's Recorder stamps
// completions with, so a backend's arrival stamps and the Recorder's
// completion stamps are directly comparable.
package clock

import (
	_ "unsafe" // for go:linkname
)

// nanotime is the runtime's monotonic clock (CLOCK_MONOTONIC on Linux), the
// same one inference.Recorder reads.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// Now returns the monotonic clock in nanoseconds. Only differences between
// readings are meaningful.
func Now() int64 { return nanotime() }
