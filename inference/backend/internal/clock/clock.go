// Package clock reads the monotonic clock the engine's Recorder stamps
// completions with, so a backend's arrival stamps and the Recorder's
// completion stamps are directly comparable.
package clock

import "github.com/gpuperf/gpuperf/inference"

// Now returns the monotonic clock in nanoseconds (inference.Now, the clock
// the Recorder stamps with). Only differences between readings are
// meaningful.
func Now() int64 { return inference.Now() }
