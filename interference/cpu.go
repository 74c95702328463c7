package interference

import (
	"context"
	"math"
	"runtime"
	"time"
)

// cpuPeriod is the duty cycle's period: long enough that a timer's
// overshoot (a millisecond or two on a busy host) is a small part of it,
// short enough that the load looks steady to a run of a few seconds.
const cpuPeriod = 100 * time.Millisecond

// burnSlice is how long the busy loop computes between looks at the clock.
const burnSlice = 20 * time.Microsecond

// startCPU starts one busy thread per core. Each is busy for duty × period
// of its own CPU time in every period, then sleeps to the period's end:
// counted in CPU time, the share holds when the thread must compete for
// its core (it stays busy longer in wall time), up to what the scheduler
// grants. Periods are anchored to the start, so a late wake-up shortens the
// next sleep rather than the duty.
func startCPU(l *Load) func(*Report, time.Duration) {
	for range l.spec.Cores {
		l.wg.Go(func() { spin(l.ctx, l, l.spec.DutyCycle) })
	}
	return func(r *Report, d time.Duration) {
		r.Unit, r.Target = "% duty", 100*l.spec.DutyCycle
		if r.CPUSeconds != nil {
			cores := *r.CPUSeconds / d.Seconds()
			r.Achieved = 100 * cores / float64(l.spec.Cores)
			r.Counters["cores_used"] = cores
		}
	}
}

// spin is one busy thread of a cpu load.
func spin(ctx context.Context, l *Load, duty float64) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pt, procOK := newProcThread()
	var cpu0 float64
	if procOK {
		cpu0, procOK = pt.cpuSeconds()
	}
	defer func() {
		if !procOK {
			return
		}
		if cpu1, ok := pt.cpuSeconds(); ok {
			l.addCPU(cpu1 - cpu0)
		}
	}()

	busy := time.Duration(duty * float64(cpuPeriod))
	periodEnd := time.Now()
	x := 1.0
	for ctx.Err() == nil {
		periodStart := periodEnd
		periodEnd = periodStart.Add(cpuPeriod)
		if now := time.Now(); now.After(periodEnd) {
			// More than a period behind (the thread was not scheduled):
			// start afresh rather than owe the lost time.
			periodStart, periodEnd = now, now.Add(cpuPeriod)
		}
		clock0, clockOK := threadClock()
		for ctx.Err() == nil {
			x = burn(x)
			now := time.Now()
			if !now.Before(periodEnd) {
				break
			}
			if clockOK {
				if c, _ := threadClock(); c-clock0 >= busy {
					break
				}
			} else if now.Sub(periodStart) >= busy {
				break
			}
		}
		if duty < 1 && !sleepCtx(ctx, time.Until(periodEnd)) {
			break
		}
	}
	if x == 0 { // keeps the computation from being optimized away
		runtime.Gosched()
	}
}

// burn computes for about burnSlice.
func burn(x float64) float64 {
	deadline := time.Now().Add(burnSlice)
	for time.Now().Before(deadline) {
		for range 64 {
			x = math.Sqrt(x*x + 1.000001)
			if x > 1e6 {
				x = 1
			}
		}
	}
	return x
}
