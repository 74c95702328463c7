// Package interference is gpuperf's noisy neighbours: loads an agent runs
// beside a measured run so that a comparison can say how well each host
// isolates it from its co-tenants.
//
// A Spec names one load and how hard it runs:
//
//	cpu               busy loops on a number of cores, each busy a set share
//	                  (duty cycle) of every 100 ms period, counted in the
//	                  thread's own CPU time, so the share holds on a
//	                  contended host as long as the scheduler grants it
//	memory-bandwidth  a streaming copy over a buffer larger than the
//	                  last-level cache, on a number of cores
//	network           TCP streams over loopback
//	disk              writes, each followed by fsync, to a file in the
//	                  agent's temporary folder
//	gpu               one of the agent's backends driven at a set load:
//	                  Poisson arrivals at a QPS, or flat out with a number
//	                  of samples in flight
//
// Every load measures what it achieved (the duty cycle from /proc, the
// bytes moved, the samples completed) and reports it with why it stopped,
// so "the neighbour was really busy" is a fact in the result.
package interference
