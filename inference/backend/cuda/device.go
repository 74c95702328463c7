package cuda

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"runtime"
	"slices"
	"strings"

	"github.com/gpuperf/gpuperf/inference"
	"github.com/gpuperf/gpuperf/inference/backend/cuda/kernels"
)

// device is the backend's state on one GPU for one run: the context, the
// JIT-compiled kernels, the weights, and a slot per stream. Everything it
// allocates it frees in close, in reverse order, whatever failed.
type device struct {
	drv     Driver
	cfg     Config
	dev     Device
	retain  bool // the primary context is retained
	ctx     Context
	modules []Module
	fns     map[string]Function
	allocs  []DevicePtr
	pinned  [][]byte
	w       devWeights
	slots   []*slot
}

// devWeights are the weights' device addresses.
type devWeights struct {
	tok, pos, embG, embB, head, headB DevicePtr
	layers                            []devLayer
}

type devLayer struct {
	qkv, qkvB, out, outB, ln1G, ln1B, ff1, ff1B, ff2, ff2B, ln2G, ln2B DevicePtr
}

// slot is one stream's buffers and the batch it carries.
type slot struct {
	stream                               Stream
	done                                 Event
	ids                                  []byte // pinned: Batch·Seq int32 token ids in
	out                                  []byte // pinned: Batch·Seq·2 logits out, in the storage type
	tokens                               []int32
	dIDs, dX, dQKV, dCtx, dY, dMid, dOut DevicePtr
	plans                                map[int][]launch // per batch size
	graphs                               map[int]graph
	n                                    int                  // samples in the batch in flight
	resps                                []inference.Response // their responses
}

type graph struct {
	g    Graph
	exec GraphExec
}

// entryRE finds a PTX module's kernels.
var entryRE = regexp.MustCompile(`(?m)^\.visible \.entry (\w+)\(`)

// ptxEntries returns the kernels a PTX module defines.
func ptxEntries(ptx []byte) []string {
	var names []string
	for _, m := range entryRE.FindAllSubmatch(ptx, -1) {
		names = append(names, string(m[1]))
	}
	return names
}

// openDevice sets up cfg's device for a run: context, kernels, weights
// (w, or none for the probe), and cfg.Streams slots. On error it frees
// what it had made.
func openDevice(drv Driver, cfg Config, w *Weights) (*device, error) {
	d := &device{drv: drv, cfg: cfg, fns: map[string]Function{}}
	if err := d.open(w); err != nil {
		return nil, errors.Join(err, d.close())
	}
	return d, nil
}

func (d *device) open(w *Weights) error {
	drv, cfg := d.drv, d.cfg
	n, err := drv.DeviceCount()
	if err != nil {
		return err
	}
	if cfg.Device >= n {
		return fmt.Errorf("%s=%d: this machine has %d CUDA device(s)", OptDevice, cfg.Device, n)
	}
	if d.dev, err = drv.DeviceGet(cfg.Device); err != nil {
		return err
	}
	if d.ctx, err = drv.PrimaryCtxRetain(d.dev); err != nil {
		return err
	}
	d.retain = true
	if err := d.bind(); err != nil {
		return err
	}
	if err := d.loadKernels(); err != nil {
		return err
	}
	if w != nil {
		if err := d.upload(w); err != nil {
			return err
		}
		for range cfg.Streams {
			if _, err := d.newSlot(); err != nil {
				return err
			}
		}
	}
	return nil
}

// bind makes the context current on this goroutine's thread. A CUDA
// context is current per OS thread, so every goroutine that calls the
// driver locks its thread and binds first.
func (d *device) bind() error { return d.drv.CtxSetCurrent(d.ctx) }

// loadKernels JIT-compiles every embedded PTX module.
func (d *device) loadKernels() error {
	files, err := fs.Glob(kernels.PTX, "*.ptx")
	if err != nil {
		return err
	}
	for _, name := range files {
		ptx, err := kernels.PTX.ReadFile(name)
		if err != nil {
			return err
		}
		m, err := d.drv.ModuleLoadData(ptx)
		if err != nil {
			return fmt.Errorf("JIT-compile kernels/%s: %w", name, err)
		}
		d.modules = append(d.modules, m)
		for _, fn := range ptxEntries(ptx) {
			f, err := d.drv.ModuleGetFunction(m, fn)
			if err != nil {
				return err
			}
			d.fns[fn] = f
		}
	}
	return nil
}

// alloc is MemAlloc, remembered for close.
func (d *device) alloc(bytes int) (DevicePtr, error) {
	p, err := d.drv.MemAlloc(max(bytes, 1))
	if err != nil {
		return 0, fmt.Errorf("allocate %d bytes on the device: %w", bytes, err)
	}
	d.allocs = append(d.allocs, p)
	return p, nil
}

// hostAlloc is MemHostAlloc, remembered for close.
func (d *device) hostAlloc(bytes int) ([]byte, error) {
	b, err := d.drv.MemHostAlloc(max(bytes, 1))
	if err != nil {
		return nil, fmt.Errorf("allocate %d bytes of pinned host memory: %w", bytes, err)
	}
	d.pinned = append(d.pinned, b)
	return b[:bytes], nil
}

// put allocates room for v stored as dt and copies it there.
func (d *device) put(dt DType, v []float32) (DevicePtr, error) {
	buf := make([]byte, len(v)*dt.size())
	encode(dt, buf, v)
	p, err := d.alloc(len(buf))
	if err != nil {
		return 0, err
	}
	if err := d.drv.MemcpyHtoD(p, buf); err != nil {
		return 0, fmt.Errorf("upload weights: %w", err)
	}
	return p, nil
}

// upload copies the weights to the device once: matrices in the storage
// type, embeddings, biases and norms in fp32.
func (d *device) upload(w *Weights) error {
	dt := d.cfg.DType
	var errs []error
	put := func(dt DType, v []float32) DevicePtr {
		if len(errs) > 0 {
			return 0
		}
		p, err := d.put(dt, v)
		if err != nil {
			errs = append(errs, err)
		}
		return p
	}
	d.w.tok, d.w.pos = put(FP32, w.Tok), put(FP32, w.Pos)
	d.w.embG, d.w.embB = put(FP32, w.EmbG), put(FP32, w.EmbB)
	for _, l := range w.Layers {
		d.w.layers = append(d.w.layers, devLayer{
			qkv: put(dt, l.QKV), qkvB: put(FP32, l.QKVB),
			out: put(dt, l.Out), outB: put(FP32, l.OutB),
			ln1G: put(FP32, l.LN1G), ln1B: put(FP32, l.LN1B),
			ff1: put(dt, l.FF1), ff1B: put(FP32, l.FF1B),
			ff2: put(dt, l.FF2), ff2B: put(FP32, l.FF2B),
			ln2G: put(FP32, l.LN2G), ln2B: put(FP32, l.LN2B),
		})
	}
	d.w.head, d.w.headB = put(dt, w.Head), put(FP32, w.HeadB)
	return errors.Join(errs...)
}

// newSlot makes a stream, its event, and its buffers.
func (d *device) newSlot() (*slot, error) {
	c := d.cfg
	rows := c.Batch * c.Seq
	dsz := c.DType.size()
	s := &slot{plans: map[int][]launch{}, graphs: map[int]graph{}, tokens: make([]int32, c.Seq)}
	var err error
	if s.stream, err = d.drv.StreamCreate(); err != nil {
		return nil, err
	}
	// Kept before anything else can fail, so close destroys it.
	d.slots = append(d.slots, s)
	if s.done, err = d.drv.EventCreate(false); err != nil {
		s.done = 0
		return nil, err
	}
	if s.ids, err = d.hostAlloc(rows * 4); err != nil {
		return nil, err
	}
	if s.out, err = d.hostAlloc(rows * headOut * dsz); err != nil {
		return nil, err
	}
	for _, b := range []struct {
		p     *DevicePtr
		bytes int
	}{
		{&s.dIDs, rows * 4}, {&s.dX, rows * c.Hidden * dsz}, {&s.dQKV, rows * 3 * c.Hidden * dsz},
		{&s.dCtx, rows * c.Hidden * dsz}, {&s.dY, rows * c.Hidden * dsz}, {&s.dMid, rows * c.FFN * dsz},
		{&s.dOut, rows * headOut * dsz},
	} {
		if *b.p, err = d.alloc(b.bytes); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// plan returns the launches of one forward pass of n samples in s.
func (d *device) plan(s *slot, n int) []launch {
	if p, ok := s.plans[n]; ok {
		return p
	}
	c := d.cfg
	dt, h, f, rows := c.DType, c.Hidden, c.FFN, n*c.Seq
	u := func(p DevicePtr) uint64 { return uint64(p) }
	p := []launch{embedLaunch(dt, u(s.dX), u(s.dIDs), u(d.w.tok), u(d.w.pos), u(d.w.embG), u(d.w.embB), rows, c.Seq, h, c.Vocab)}
	for _, l := range d.w.layers {
		p = append(p,
			gemmLaunch(dt, u(s.dQKV), u(s.dX), u(l.qkv), u(l.qkvB), 0, rows, 3*h, h, 0),
			attentionLaunch(dt, u(s.dCtx), u(s.dQKV), n, c.Seq, c.Heads, c.headDim()),
			gemmLaunch(dt, u(s.dY), u(s.dCtx), u(l.out), u(l.outB), u(s.dX), rows, h, h, epiResidual),
			layerNormLaunch(dt, u(s.dX), u(s.dY), u(l.ln1G), u(l.ln1B), rows, h),
			gemmLaunch(dt, u(s.dMid), u(s.dX), u(l.ff1), u(l.ff1B), 0, rows, f, h, epiGELU),
			gemmLaunch(dt, u(s.dY), u(s.dMid), u(l.ff2), u(l.ff2B), u(s.dX), rows, h, f, epiResidual),
			layerNormLaunch(dt, u(s.dX), u(s.dY), u(l.ln2G), u(l.ln2B), rows, h),
		)
	}
	p = append(p, gemmLaunch(dt, u(s.dOut), u(s.dX), u(d.w.head), u(d.w.headB), 0, rows, headOut, h, 0))
	for i := range p {
		p[i].f = d.fns[p[i].fn]
	}
	s.plans[n] = p
	return p
}

// fill writes the token ids of the samples at indices into s's pinned
// input.
func (d *device) fill(s *slot, indices func(i int) uint32, n int) {
	seq := d.cfg.Seq
	for i := range n {
		Tokens(d.cfg, indices(i), s.tokens)
		b := s.ids[i*seq*4 : (i+1)*seq*4]
		for j, t := range s.tokens {
			b[4*j], b[4*j+1], b[4*j+2], b[4*j+3] = byte(t), byte(t>>8), byte(t>>16), byte(t>>24)
		}
	}
	s.n = n
}

// enqueue puts s's batch on its stream: input in, the forward pass,
// logits out (replayed as a graph when graphs are on), then the event.
func (d *device) enqueue(s *slot) error {
	if d.cfg.Graphs {
		g, err := d.graph(s, s.n)
		if err != nil {
			return err
		}
		if err := d.drv.GraphLaunch(g.exec, s.stream); err != nil {
			return err
		}
	} else if err := d.record(s, s.n); err != nil {
		return err
	}
	return d.drv.EventRecord(s.done, s.stream)
}

// record issues the batch's copies and launches on s's stream.
func (d *device) record(s *slot, n int) error {
	rows := n * d.cfg.Seq
	if err := d.drv.MemcpyHtoDAsync(s.dIDs, s.ids[:rows*4], s.stream); err != nil {
		return err
	}
	for _, l := range d.plan(s, n) {
		if err := d.drv.LaunchKernel(l.f, l.grid, l.block, l.smem, s.stream, l.args); err != nil {
			return fmt.Errorf("%s: %w", l.fn, err)
		}
	}
	return d.drv.MemcpyDtoHAsync(s.out[:rows*headOut*d.cfg.DType.size()], s.dOut, s.stream)
}

// graph returns the instantiated graph of an n-sample batch on s,
// capturing it the first time.
func (d *device) graph(s *slot, n int) (graph, error) {
	if g, ok := s.graphs[n]; ok {
		return g, nil
	}
	// Capture is per stream; the thread stays the same throughout.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := d.bind(); err != nil {
		return graph{}, err
	}
	if err := d.drv.StreamBeginCapture(s.stream); err != nil {
		return graph{}, err
	}
	recErr := d.record(s, n)
	g, err := d.drv.StreamEndCapture(s.stream) // always, so the stream leaves capture
	if err = errors.Join(recErr, err); err != nil {
		if g != 0 {
			err = errors.Join(err, d.drv.GraphDestroy(g))
		}
		return graph{}, err
	}
	exec, err := d.drv.GraphInstantiate(g)
	if err != nil {
		return graph{}, errors.Join(err, d.drv.GraphDestroy(g))
	}
	s.graphs[n] = graph{g: g, exec: exec}
	return s.graphs[n], nil
}

// logits decodes s's output: n·Seq·2 values.
func (d *device) logits(s *slot) []float32 {
	n := s.n * d.cfg.Seq * headOut
	return decode(d.cfg.DType, s.out, n)
}

// close frees everything, in reverse order of making, and returns every
// error met. It first waits for each stream, so nothing in flight reads
// freed memory.
func (d *device) close() error {
	if d == nil {
		return nil
	}
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if d.ctx != 0 {
		keep(d.bind())
	}
	for _, s := range slices.Backward(d.slots) {
		if s.stream != 0 {
			keep(d.drv.StreamSynchronize(s.stream))
		}
		for _, n := range slices.Sorted(maps.Keys(s.graphs)) {
			g := s.graphs[n]
			keep(d.drv.GraphExecDestroy(g.exec))
			keep(d.drv.GraphDestroy(g.g))
		}
		if s.done != 0 {
			keep(d.drv.EventDestroy(s.done))
		}
		if s.stream != 0 {
			keep(d.drv.StreamDestroy(s.stream))
		}
	}
	d.slots = nil
	for _, b := range slices.Backward(d.pinned) {
		keep(d.drv.MemFreeHost(b))
	}
	d.pinned = nil
	for _, p := range slices.Backward(d.allocs) {
		keep(d.drv.MemFree(p))
	}
	d.allocs = nil
	for _, m := range slices.Backward(d.modules) {
		keep(d.drv.ModuleUnload(m))
	}
	d.modules = nil
	if d.retain {
		keep(d.drv.PrimaryCtxRelease(d.dev))
		d.retain = false
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("free: %w", err)
	}
	return nil
}

// ptxParams returns the parameter sizes in bytes of kernel name in ptx,
// from its .entry declaration (for tests of the launch tables).
func ptxParams(ptx []byte, name string) ([]int, bool) {
	i := bytes.Index(ptx, []byte(".entry "+name+"("))
	if i < 0 {
		return nil, false
	}
	decl := string(ptx[i:])
	decl = decl[:strings.Index(decl, ")")]
	var sizes []int
	for _, line := range strings.Split(decl, "\n") {
		switch {
		case strings.Contains(line, ".param .u64"), strings.Contains(line, ".param .b64"):
			sizes = append(sizes, 8)
		case strings.Contains(line, ".param .u32"), strings.Contains(line, ".param .f32"), strings.Contains(line, ".param .b32"):
			sizes = append(sizes, 4)
		}
	}
	return sizes, true
}
