// Package sim is a simulated accelerator with exact, known queueing
// behaviour: the oracle for the load generator's tests.
//
// # Model
//
// The device has c identical servers (option servers) and one FIFO queue.
// A sample arrives when IssueQuery is called; its arrival is read from the
// monotonic clock inside IssueQuery. A free server takes the sample at the
// head of the queue, together with up to batch−1 more that have already
// arrived (option batch), and serves them all in one service time; it
// never waits for a batch to fill. Service times are independent draws,
// one per batch, from a seeded PCG (option seed), so a run is repeatable:
//
//	fixed        every service takes latency
//	exponential  mean latency (the M/M/c queue)
//	lognormal    mean latency, shape sigma: exp(N(ln latency − σ²/2, σ²))
//
// When server k becomes free at t and the head sample arrived at a, the
// batch starts at max(t, a); of several free servers the one free longest
// takes it. With stall_every = n and stall = d, after every n completed
// samples (counted in completion order) the whole device pauses for d:
// services in progress are suspended and resume d later, and no batch
// starts during the pause. A pause is triggered for every multiple of n
// that a completing batch crosses.
//
// # What queueing theory predicts
//
// With D = latency, c = servers and b = batch:
//
//   - Offline (every sample queued at once): throughput is exactly c·b/D,
//     and the k-th sample (from 0) of a fixed-service burst completes at
//     (⌊k/(c·b)⌋+1)·D after the burst. Capacity returns this rate, stalls
//     included: with fixed service, a burst of N samples takes
//     N·D/(c·b) + ⌊(N−1)/n⌋·d when N and n are multiples of c·b.
//   - Server with Poisson arrivals at rate λ and b = 1, utilisation
//     ρ = λ·D/c < 1: for c = 1, fixed service (M/D/1), the mean queueing
//     wait is ρ·D/(2(1−ρ)); exponential service (M/M/1) gives ρ·D/(1−ρ);
//     for c > 1 and exponential service, Erlang's C formula (M/M/c).
//     The latency of a sample is its wait plus its service time.
//   - SingleStream (one sample at a time): latency is the service time.
//
// # A shared device
//
// Backends of one process that give the same device name (option device)
// share one device: its servers, its service-time draws and its event
// loop, as two tenants share a GPU (two agents in one process, say: the
// one measured and a noisy neighbour). Each keeps its own FIFO queue; a
// free server takes its batch from the next tenant in turn whose head
// sample has arrived. So with capacity C = c·b/D, a tenant with a backlog
// (an Offline query) beside a neighbour offering λ < C/2 samples/s gets
// C − λ (the device is work-conserving and the neighbour is served at
// once), and two tenants with backlogs get C/2 each, as a time-sliced
// GPU gives two busy contexts equal shares. All must give the same
// options. The device starts idle, freshly seeded, when its first user
// starts, and keeps running until its last user stops.
//
// # How it keeps time
//
// Sleeping a goroutine per sample would add the timer's overshoot (about a
// millisecond) to every service. Instead one event-loop goroutine runs the
// model on a virtual clock: every start and completion instant is computed
// from arrivals and service times, never from when the loop woke. The loop
// waits for the next instant by sleeping until 2 ms before it and spinning
// (yielding the processor) for the rest, and then reports the completions
// due. Throughput is therefore exact, and a completion is reported within
// microseconds of its instant; a late wake-up (a GC pause, a busy host)
// delays that one report but not the schedule.
package sim
