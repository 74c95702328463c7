// Package cuda is a GPU workload that needs nothing but the NVIDIA driver:
// a BERT-shaped transformer encoder run through the CUDA driver API,
// which it loads at run time (libcuda.so.1), with kernels written in CUDA
// C, compiled to PTX by clang (no NVIDIA toolkit) and JIT-compiled by the
// driver for whatever GPU it finds.
//
// Per batch of samples, on one of a pool of streams: the token ids go in
// from pinned host memory, the encoder runs (fp16 on the tensor cores, or
// fp32), the logits come back to pinned memory, and an event marks the
// end; one goroutine waits on the events in order and reports each
// batch's samples. With graphs on, each batch is a CUDA graph replay, so
// the launch overhead can be compared with and without it. A sample's
// input is made from its data-set index and the seed, as the cpu
// backend's is.
//
// Before serving, the backend runs a first batch and compares its logits
// with the Go reference (check=false skips it): a GPU that computes wrong
// numbers is an error, not a result. Describe probes the device (Probe).
package cuda

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"sync"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend"
)

// checkBound is the largest relative error (relErr: per value, against
// the larger of its magnitude and the logits' rms) the first batch's
// logits may show against the Go reference. fp32 differs from the
// reference only by fp32 accumulation and the approximate exponential;
// fp16 rounds every stored activation to a half, and a value that lands
// on the other side of a rounding step moves by 2^-10, which the layers
// carry forward.
var checkBound = map[DType]float64{FP32: 1e-3, FP16: 5e-2}

// checkSamples is how many samples the first batch checks.
const checkSamples = 2

// Backend is the cuda backend. It is an inference.Backend; Start sets the
// device up and Stop frees all of it.
type Backend struct {
	cfg  Config
	drv  Driver
	pool *backend.Pool

	// mu protects everything below.
	mu      sync.Mutex
	weights *Weights  // drawn at the first Start
	ref     []float32 // the reference logits of the check's samples
	dev     *device   // the running device; nil when stopped
	free    chan *slot
	flight  chan *slot
	wg      sync.WaitGroup
	failure error // the first device error of this run: every later batch fails with it
	facts   map[string]string
}

var (
	_ inference.Backend   = (*Backend)(nil)
	_ backend.Starter     = (*Backend)(nil)
	_ inference.Annotator = (*Backend)(nil)
	_ inference.Describer = (*Backend)(nil)
)

// New returns the cuda backend configured by options (see Config and the
// Opt names), on the real driver. Without the driver it fails with
// ErrNoDriver.
func New(opts map[string]string) (inference.Backend, error) {
	c, err := ParseConfig(opts)
	if err != nil {
		return nil, err
	}
	drv, err := Open()
	if err != nil {
		return nil, err
	}
	return NewWithDriver(c, drv)
}

// NewWithDriver returns the backend for c on drv. It checks that the
// device exists; everything else happens at Start.
func NewWithDriver(c Config, drv Driver) (*Backend, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	n, err := drv.DeviceCount()
	if err != nil {
		return nil, unavailable(err)
	}
	if c.Device >= n {
		return nil, unavailable(fmt.Errorf("%s=%d: this machine has %d CUDA device(s)", OptDevice, c.Device, n))
	}
	b := &Backend{cfg: c, drv: drv}
	b.pool = backend.NewPool(server{b}, c.Streams, c.Batch)
	return b, nil
}

// Name returns "cuda".
func (b *Backend) Name() string { return "cuda" }

// Config returns the backend's configuration.
func (b *Backend) Config() Config { return b.cfg }

// Start sets the device up and starts serving, reporting to rec.
func (b *Backend) Start(ctx context.Context, rec *inference.Recorder) error {
	if rec == nil {
		return errors.New("cuda: start: nil recorder")
	}
	return b.StartWith(ctx, rec)
}

// StartWith sets the device up (context, kernels, weights, streams),
// checks a first batch against the reference unless the check is off,
// and starts serving, reporting to c. On error nothing stays allocated.
func (b *Backend) StartWith(ctx context.Context, c backend.Completer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dev != nil {
		return errors.New("cuda: start: already started")
	}
	if b.weights == nil {
		b.weights = NewWeights(b.cfg)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dev, err := openDevice(b.drv, b.cfg, b.weights)
	if err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	if b.facts, err = b.describeDevice(dev); err != nil {
		return errors.Join(fmt.Errorf("cuda: %w", err), dev.close())
	}
	if b.cfg.Check {
		if err := b.check(dev); err != nil {
			return errors.Join(fmt.Errorf("cuda: %w", err), dev.close())
		}
	}
	b.dev, b.failure = dev, nil
	b.free = make(chan *slot, len(dev.slots))
	b.flight = make(chan *slot, len(dev.slots))
	for _, s := range dev.slots {
		b.free <- s
	}
	b.wg.Add(1)
	go b.complete(dev, b.flight, c)
	if err := b.pool.StartWith(ctx, c); err != nil {
		close(b.flight)
		b.wg.Wait()
		b.dev = nil
		return errors.Join(err, dev.close())
	}
	return nil
}

// check runs the first batch of checkSamples samples (indices 0, 1, ...)
// the way the run will, graphs included, and compares its logits with
// the reference's.
func (b *Backend) check(dev *device) error {
	s := dev.slots[0]
	n := min(checkSamples, b.cfg.Batch)
	dev.fill(s, func(i int) uint32 { return uint32(i) }, n)
	if err := dev.enqueue(s); err != nil {
		return fmt.Errorf("first batch: %w", err)
	}
	if err := b.drv.EventSynchronize(s.done); err != nil {
		return fmt.Errorf("first batch: %w", err)
	}
	got := dev.logits(s)
	if b.ref == nil {
		ids := make([]int32, n*b.cfg.Seq)
		for i := range n {
			Tokens(b.cfg, uint32(i), ids[i*b.cfg.Seq:(i+1)*b.cfg.Seq])
		}
		b.ref = b.weights.Reference(ids)
	}
	e := relErr(got, b.ref)
	bound := checkBound[b.cfg.DType]
	b.facts["check"] = fmt.Sprintf("first batch: relative error %.2g against the Go reference (bound %.2g)", e, bound)
	if !(e <= bound) {
		return fmt.Errorf("the GPU computed wrong numbers: the first batch's logits differ from the Go reference by %.3g (relative; %s allows %.2g)", e, b.cfg.DType, bound)
	}
	return nil
}

// describeDevice returns the facts a result records about the device.
func (b *Backend) describeDevice(dev *device) (map[string]string, error) {
	f := map[string]string{"config": b.cfg.String(), "flops_per_sample": strconv.Itoa(b.cfg.FLOPs())}
	name, err := b.drv.DeviceName(dev.dev)
	if err != nil {
		return nil, err
	}
	f["device"] = name
	maj, err := b.drv.DeviceAttribute(dev.dev, AttrCCMajor)
	if err != nil {
		return nil, err
	}
	mnr, err := b.drv.DeviceAttribute(dev.dev, AttrCCMinor)
	if err != nil {
		return nil, err
	}
	f["compute_capability"] = fmt.Sprintf("%d.%d", maj, mnr)
	v, err := b.drv.DriverVersion()
	if err != nil {
		return nil, err
	}
	f["cuda_version"] = cudaVersion(v)
	return f, nil
}

// relErr is the largest |got − want| over max(|want|, rms(want)): a
// relative error per value, against the typical magnitude near zero. A
// NaN or infinity, or a length mismatch, is infinitely wrong.
func relErr(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	rms := 0.0
	for _, w := range want {
		rms += float64(w) * float64(w)
	}
	rms = math.Sqrt(rms / float64(max(len(want), 1)))
	worst := 0.0
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return math.Inf(1)
		}
		worst = max(worst, math.Abs(g-w)/max(math.Abs(w), rms, 1e-30))
	}
	return worst
}

// server serves the pool's batches.
type server struct{ b *Backend }

func (s server) Name() string { return "cuda" }

// Serve takes a free slot, fills its pinned input, and enqueues the
// batch; the completion goroutine reports it. A device error fails the
// batch, and every later one, with it.
func (s server) Serve(ctx context.Context, batch []inference.Sample, c backend.Completer) {
	b := s.b
	var sl *slot
	select {
	case sl = <-b.free:
	case <-ctx.Done():
		return
	}
	b.mu.Lock()
	dev, failure := b.dev, b.failure
	b.mu.Unlock()
	if failure != nil {
		b.free <- sl
		b.fail(c, batch, failure)
		return
	}
	runtime.LockOSThread()
	err := dev.bind()
	if err == nil {
		dev.fill(sl, func(i int) uint32 { return batch[i].Index }, len(batch))
		sl.resps = sl.resps[:0]
		for _, smp := range batch {
			sl.resps = append(sl.resps, inference.Response{ID: smp.ID})
		}
		err = dev.enqueue(sl)
	}
	runtime.UnlockOSThread()
	if err != nil {
		failure := b.setFailure(err)
		b.free <- sl
		b.fail(c, batch, failure)
		return
	}
	b.flight <- sl
}

// complete reports each batch in flight once its event fires, in the
// order they were enqueued, and returns its slot; it ends when flight is
// closed and drained.
func (b *Backend) complete(dev *device, flight chan *slot, c backend.Completer) {
	defer b.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	bound := dev.bind()
	for sl := range flight {
		err := bound
		if err == nil {
			err = b.drv.EventSynchronize(sl.done)
		}
		if err != nil {
			err = b.setFailure(err)
			for i := range sl.resps {
				sl.resps[i].Err = err
			}
		}
		c.CompleteBatch(sl.resps)
		b.free <- sl
	}
}

// setFailure keeps the run's first device error and returns it.
func (b *Backend) setFailure(err error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failure == nil {
		b.failure = fmt.Errorf("cuda: %w", err)
	}
	return b.failure
}

// fail reports every sample of batch as failed with err.
func (b *Backend) fail(c backend.Completer, batch []inference.Sample, err error) {
	for _, smp := range batch {
		c.Complete(inference.Response{ID: smp.ID, Err: err})
	}
}

// IssueQuery queues the samples for the streams.
func (b *Backend) IssueQuery(samples []inference.Sample) { b.pool.IssueQuery(samples) }

// FlushQueries does nothing: a free stream never waits for a batch to fill.
func (b *Backend) FlushQueries() {}

// Stop stops the streams' workers, waits for the batches in flight, and
// frees the device. It returns the run's first device error, if any.
func (b *Backend) Stop() error {
	b.mu.Lock()
	dev := b.dev
	b.mu.Unlock()
	if dev == nil {
		return nil
	}
	perr := b.pool.Stop()
	close(b.flight)
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dev = nil
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return errors.Join(b.failure, perr, dev.close())
}

// Annotations records the device, its CUDA version, the configuration,
// and the first batch's check, in the result.
func (b *Backend) Annotations() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]string, len(b.facts))
	for k, v := range b.facts {
		out[k] = v
	}
	return out
}

// cudaVersion turns cuDriverGetVersion's 12040 into "12.4".
func cudaVersion(v int) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }
