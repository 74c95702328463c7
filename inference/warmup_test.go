package inference

import (
	"testing"
	"time"
)

func TestWarmupAllowedFollowsTheDevice(t *testing.T) {
	d := 200 * time.Millisecond
	for _, tc := range []struct {
		completed uint64
		elapsed   time.Duration
		want      uint64
	}{
		{0, 0, warmupChunk},                               // nothing known yet
		{5, 100 * time.Millisecond, warmupChunk},          // 50/s: a quarter of d holds 2.5
		{1000, 100 * time.Millisecond, 500},               // 10k/s: 50 ms worth
		{1_000_000, 100 * time.Millisecond, warmupWindow}, // capped
		{3000, 100 * time.Millisecond, warmupWindow},      // 30k/s: 1500, capped
	} {
		if got := warmupAllowed(tc.completed, int64(tc.elapsed), d); got != tc.want {
			t.Errorf("warmupAllowed(%d, %v) = %d; want %d", tc.completed, tc.elapsed, got, tc.want)
		}
	}
}
