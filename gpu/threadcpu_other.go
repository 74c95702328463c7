//go:build !linux

package gpu

import "time"

func lockThread()                      {}
func unlockThread()                    {}
func threadCPU() (time.Duration, bool) { return 0, false }
