// Package cudatest is a fake CUDA driver for the cuda backend's tests: a
// Go implementation of cuda.Driver that keeps account of everything
// allocated (Live), fails any call on demand (FailOn), and runs stream
// work at once, in order, or records it into a graph while a stream is
// being captured. Kernels do nothing unless an Executor runs them (the
// cuda package's tests use the host-compiled kernels), so the same fake
// checks control flow alone or a whole forward pass.
package cudatest

import (
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/gpuperf/gpuperf/inference/backend/cuda"
)

// Executor runs kernels on memory it provides.
type Executor interface {
	// Alloc returns n bytes of zeroed memory kernels can address at addr,
	// and how to free it; ok is false when there is none.
	Alloc(n int) (addr uint64, mem []byte, free func(), ok bool)
	Launch(name string, grid [3]int, block, shared int, args []uint64) error
}

// Fake is the fake driver. Its zero value is not usable; call New.
type Fake struct {
	exec    Executor
	devices int

	mu      sync.Mutex
	calls   map[string]int
	fails   []failure
	next    uintptr
	mem     map[cuda.DevicePtr]*devMem
	host    map[*byte]int
	modules map[cuda.Module]bool
	funcs   map[cuda.Function]kernel
	streams map[cuda.Stream]*stream
	events  map[cuda.Event]bool // recorded
	graphs  map[cuda.Graph]*graph
	execs   map[cuda.GraphExec]*graph
	retains int
	current cuda.Context
	ctxs    map[cuda.Context]bool
}

type devMem struct {
	b    []byte
	free func()
}

type kernel struct {
	name   string
	params int
}

type stream struct {
	capture *graph // non-nil while capturing
}

type graph struct{ ops []func() error }

type failure struct {
	call    string
	n, code int
	log     string
}

// New returns a fake with devices GPUs, running kernels with exec (nil:
// kernels do nothing).
func New(devices int, exec Executor) *Fake {
	return &Fake{
		exec: exec, devices: devices, calls: map[string]int{}, next: 0x1000,
		mem: map[cuda.DevicePtr]*devMem{}, host: map[*byte]int{}, modules: map[cuda.Module]bool{},
		funcs: map[cuda.Function]kernel{}, streams: map[cuda.Stream]*stream{}, events: map[cuda.Event]bool{},
		graphs: map[cuda.Graph]*graph{}, execs: map[cuda.GraphExec]*graph{}, ctxs: map[cuda.Context]bool{},
	}
}

var _ cuda.Driver = (*Fake)(nil)

// FailOn makes the nth call (from 1) of call ("cuMemAlloc",
// "cuLaunchKernel", ... as in cuda.Error.Call) fail with CUresult code;
// n 0 fails every call.
func (f *Fake) FailOn(call string, n, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails = append(f.fails, failure{call: call, n: n, code: code})
}

// FailJIT makes every module load fail with CUDA_ERROR_INVALID_PTX and log
// as the JIT's error log.
func (f *Fake) FailJIT(log string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails = append(f.fails, failure{call: "cuModuleLoadDataEx", code: cuda.ResultInvalidPTX, log: log})
}

// Calls returns how many times each call was made.
func (f *Fake) Calls() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.calls)
}

// Live returns what is allocated and not freed, by kind ("device memory",
// "streams", ...), with counts; empty when everything was freed.
func (f *Fake) Live() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	live := map[string]int{}
	for k, n := range map[string]int{
		"device memory": len(f.mem), "pinned memory": len(f.host), "modules": len(f.modules),
		"streams": len(f.streams), "events": len(f.events), "graphs": len(f.graphs),
		"graph execs": len(f.execs), "primary context retains": f.retains,
	} {
		if n != 0 {
			live[k] = n
		}
	}
	for s, st := range f.streams {
		if st.capture != nil {
			live[fmt.Sprintf("stream %#x still capturing", s)]++
		}
	}
	return live
}

// call counts call and returns the error it must fail with, if any.
// f.mu is held.
func (f *Fake) call(name string) error {
	f.calls[name]++
	n := f.calls[name]
	for _, fl := range f.fails {
		if fl.call == name && (fl.n == 0 || fl.n == n) {
			return &cuda.Error{Call: name, Code: fl.code, Name: resultName(fl.code), Text: "injected by cudatest", Log: fl.log}
		}
	}
	return nil
}

func resultName(code int) string {
	switch code {
	case cuda.ResultOutOfMemory:
		return "CUDA_ERROR_OUT_OF_MEMORY"
	case cuda.ResultInvalidPTX:
		return "CUDA_ERROR_INVALID_PTX"
	case cuda.ResultLaunchFailed:
		return "CUDA_ERROR_LAUNCH_FAILED"
	case cuda.ResultNoDevice:
		return "CUDA_ERROR_NO_DEVICE"
	case cuda.ResultInvalidValue:
		return "CUDA_ERROR_INVALID_VALUE"
	}
	return fmt.Sprintf("CUDA_ERROR_%d", code)
}

func errInvalid(call, why string) error {
	return &cuda.Error{Call: call, Code: cuda.ResultInvalidValue, Name: "CUDA_ERROR_INVALID_VALUE", Text: why}
}

func (f *Fake) handle() uintptr {
	f.next += 0x10
	return f.next
}

func (f *Fake) DriverVersion() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return 12040, f.call("cuDriverGetVersion")
}

func (f *Fake) DeviceCount() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.devices, f.call("cuDeviceGetCount")
}

func (f *Fake) DeviceGet(ordinal int) (cuda.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuDeviceGet"); err != nil {
		return 0, err
	}
	if ordinal < 0 || ordinal >= f.devices {
		return 0, errInvalid("cuDeviceGet", "no such device")
	}
	return cuda.Device(ordinal), nil
}

func (f *Fake) DeviceName(cuda.Device) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return "Fake GPU", f.call("cuDeviceGetName")
}

// DeviceAttribute answers as an sm_90 device with 132 SMs at 1980 MHz.
func (f *Fake) DeviceAttribute(_ cuda.Device, a cuda.Attribute) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := map[cuda.Attribute]int{cuda.AttrCCMajor: 9, cuda.AttrCCMinor: 0, cuda.AttrSMCount: 132, cuda.AttrClockRateKHz: 1980000}[a]
	return v, f.call("cuDeviceGetAttribute")
}

func (f *Fake) DeviceTotalMem(cuda.Device) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return 80 << 30, f.call("cuDeviceTotalMem")
}

func (f *Fake) PrimaryCtxRetain(d cuda.Device) (cuda.Context, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuDevicePrimaryCtxRetain"); err != nil {
		return 0, err
	}
	f.retains++
	c := cuda.Context(0xc0 + uintptr(d))
	f.ctxs[c] = true
	return c, nil
}

func (f *Fake) PrimaryCtxRelease(cuda.Device) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuDevicePrimaryCtxRelease"); err != nil {
		return err
	}
	if f.retains == 0 {
		return errInvalid("cuDevicePrimaryCtxRelease", "released more often than retained")
	}
	f.retains--
	return nil
}

func (f *Fake) CtxSetCurrent(c cuda.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuCtxSetCurrent"); err != nil {
		return err
	}
	if !f.ctxs[c] {
		return errInvalid("cuCtxSetCurrent", "no such context")
	}
	f.current = c
	return nil
}

var entryRE = regexp.MustCompile(`(?s)\.visible \.entry (\w+)\((.*?)\)`)

func (f *Fake) ModuleLoadData(ptx []byte) (cuda.Module, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuModuleLoadDataEx"); err != nil {
		return 0, err
	}
	if !bytes.HasPrefix(bytes.TrimSpace(ptx), []byte("//")) || !bytes.Contains(ptx, []byte(".target sm_80")) {
		return 0, &cuda.Error{Call: "cuModuleLoadDataEx", Code: cuda.ResultInvalidPTX, Name: "CUDA_ERROR_INVALID_PTX", Text: "not PTX for sm_80"}
	}
	m := cuda.Module(f.handle())
	f.modules[m] = true
	for _, e := range entryRE.FindAllSubmatch(ptx, -1) {
		k := kernel{name: string(e[1]), params: strings.Count(string(e[2]), ".param")}
		f.funcs[cuda.Function(uintptr(m)<<16|uintptr(len(f.funcs)+1))] = k
	}
	return m, nil
}

func (f *Fake) ModuleUnload(m cuda.Module) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuModuleUnload"); err != nil {
		return err
	}
	if !f.modules[m] {
		return errInvalid("cuModuleUnload", "no such module")
	}
	delete(f.modules, m)
	for fn := range f.funcs {
		if uintptr(fn)>>16 == uintptr(m) {
			delete(f.funcs, fn)
		}
	}
	return nil
}

func (f *Fake) ModuleGetFunction(m cuda.Module, name string) (cuda.Function, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuModuleGetFunction"); err != nil {
		return 0, err
	}
	for fn, k := range f.funcs {
		if uintptr(fn)>>16 == uintptr(m) && k.name == name {
			return fn, nil
		}
	}
	return 0, &cuda.Error{Call: "cuModuleGetFunction", Code: 500, Name: "CUDA_ERROR_NOT_FOUND", Text: name}
}

func (f *Fake) MemAlloc(n int) (cuda.DevicePtr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuMemAlloc"); err != nil {
		return 0, err
	}
	if f.exec != nil {
		addr, b, free, ok := f.exec.Alloc(n)
		if !ok {
			return 0, &cuda.Error{Call: "cuMemAlloc", Code: cuda.ResultOutOfMemory, Name: "CUDA_ERROR_OUT_OF_MEMORY", Text: "out of memory"}
		}
		f.mem[cuda.DevicePtr(addr)] = &devMem{b: b, free: free}
		return cuda.DevicePtr(addr), nil
	}
	p := cuda.DevicePtr(f.handle() << 20)
	f.mem[p] = &devMem{b: make([]byte, n)}
	return p, nil
}

func (f *Fake) MemFree(p cuda.DevicePtr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuMemFree"); err != nil {
		return err
	}
	m, ok := f.mem[p]
	if !ok {
		return errInvalid("cuMemFree", "not an allocation")
	}
	if m.free != nil {
		m.free()
	}
	delete(f.mem, p)
	return nil
}

// deviceBytes returns the n bytes at p, inside one allocation.
func (f *Fake) deviceBytes(call string, p cuda.DevicePtr, n int) ([]byte, error) {
	for base, m := range f.mem {
		if p >= base && uint64(p-base)+uint64(n) <= uint64(len(m.b)) {
			return m.b[p-base : int(p-base)+n], nil
		}
	}
	return nil, errInvalid(call, fmt.Sprintf("%d bytes at %#x are not inside an allocation", n, uint64(p)))
}

func (f *Fake) MemHostAlloc(n int) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuMemHostAlloc"); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	f.host[&b[0]] = n
	return b, nil
}

func (f *Fake) MemFreeHost(b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuMemFreeHost"); err != nil {
		return err
	}
	if len(b) == 0 || f.host[&b[0]] == 0 {
		return errInvalid("cuMemFreeHost", "not from cuMemHostAlloc")
	}
	delete(f.host, &b[0])
	return nil
}

// pinned reports whether b lies inside a block from MemHostAlloc.
func (f *Fake) pinned(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	start := uintptr(unsafe.Pointer(&b[0]))
	for p, n := range f.host {
		base := uintptr(unsafe.Pointer(p))
		if start >= base && start+uintptr(len(b)) <= base+uintptr(n) {
			return true
		}
	}
	return false
}

func (f *Fake) MemcpyHtoD(dst cuda.DevicePtr, src []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuMemcpyHtoD"); err != nil {
		return err
	}
	d, err := f.deviceBytes("cuMemcpyHtoD", dst, len(src))
	if err != nil {
		return err
	}
	copy(d, src)
	return nil
}

func (f *Fake) MemcpyDtoH(dst []byte, src cuda.DevicePtr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuMemcpyDtoH"); err != nil {
		return err
	}
	s, err := f.deviceBytes("cuMemcpyDtoH", src, len(dst))
	if err != nil {
		return err
	}
	copy(dst, s)
	return nil
}

// enqueue runs op on s now, or records it when s is capturing. f.mu is
// held; op runs with it held.
func (f *Fake) enqueue(call string, s cuda.Stream, op func() error) error {
	st, ok := f.streams[s]
	if !ok {
		return errInvalid(call, "no such stream")
	}
	if st.capture != nil {
		st.capture.ops = append(st.capture.ops, op)
		return nil
	}
	return op()
}

func (f *Fake) MemcpyHtoDAsync(dst cuda.DevicePtr, src []byte, s cuda.Stream) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuMemcpyHtoDAsync"); err != nil {
		return err
	}
	if !f.pinned(src) {
		return errInvalid("cuMemcpyHtoDAsync", "host memory not from cuMemHostAlloc")
	}
	return f.enqueue("cuMemcpyHtoDAsync", s, func() error {
		d, err := f.deviceBytes("cuMemcpyHtoDAsync", dst, len(src))
		if err == nil {
			copy(d, src)
		}
		return err
	})
}

func (f *Fake) MemcpyDtoHAsync(dst []byte, src cuda.DevicePtr, s cuda.Stream) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuMemcpyDtoHAsync"); err != nil {
		return err
	}
	if !f.pinned(dst) {
		return errInvalid("cuMemcpyDtoHAsync", "host memory not from cuMemHostAlloc")
	}
	return f.enqueue("cuMemcpyDtoHAsync", s, func() error {
		sb, err := f.deviceBytes("cuMemcpyDtoHAsync", src, len(dst))
		if err == nil {
			copy(dst, sb)
		}
		return err
	})
}

func (f *Fake) StreamCreate() (cuda.Stream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuStreamCreate"); err != nil {
		return 0, err
	}
	s := cuda.Stream(f.handle())
	f.streams[s] = &stream{}
	return s, nil
}

func (f *Fake) StreamDestroy(s cuda.Stream) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuStreamDestroy"); err != nil {
		return err
	}
	if _, ok := f.streams[s]; !ok {
		return errInvalid("cuStreamDestroy", "no such stream")
	}
	delete(f.streams, s)
	return nil
}

func (f *Fake) StreamSynchronize(s cuda.Stream) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuStreamSynchronize"); err != nil {
		return err
	}
	if _, ok := f.streams[s]; !ok {
		return errInvalid("cuStreamSynchronize", "no such stream")
	}
	return nil
}

func (f *Fake) EventCreate(bool) (cuda.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuEventCreate"); err != nil {
		return 0, err
	}
	e := cuda.Event(f.handle())
	f.events[e] = false
	return e, nil
}

func (f *Fake) EventDestroy(e cuda.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuEventDestroy"); err != nil {
		return err
	}
	if _, ok := f.events[e]; !ok {
		return errInvalid("cuEventDestroy", "no such event")
	}
	delete(f.events, e)
	return nil
}

func (f *Fake) EventRecord(e cuda.Event, s cuda.Stream) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuEventRecord"); err != nil {
		return err
	}
	if _, ok := f.events[e]; !ok {
		return errInvalid("cuEventRecord", "no such event")
	}
	return f.enqueue("cuEventRecord", s, func() error { f.events[e] = true; return nil })
}

func (f *Fake) EventQuery(e cuda.Event) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuEventQuery"); err != nil {
		return false, err
	}
	return f.events[e], nil
}

func (f *Fake) EventSynchronize(e cuda.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuEventSynchronize"); err != nil {
		return err
	}
	if _, ok := f.events[e]; !ok {
		return errInvalid("cuEventSynchronize", "no such event")
	}
	return nil
}

// EventElapsedTime says a millisecond passed.
func (f *Fake) EventElapsedTime(start, end cuda.Event) (float32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuEventElapsedTime"); err != nil {
		return 0, err
	}
	if !f.events[start] || !f.events[end] {
		return 0, errInvalid("cuEventElapsedTime", "event not recorded")
	}
	return 1, nil
}

// LaunchKernel checks the launch (a kernel of a loaded module, as many
// arguments as its PTX declares, a block of whole warps) and runs the
// kernel through the executor, if any.
func (f *Fake) LaunchKernel(fn cuda.Function, grid [3]uint32, block, shared uint32, s cuda.Stream, args []uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuLaunchKernel"); err != nil {
		return err
	}
	k, ok := f.funcs[fn]
	switch {
	case !ok:
		return errInvalid("cuLaunchKernel", "no such function")
	case len(args) != k.params:
		return errInvalid("cuLaunchKernel", fmt.Sprintf("%s takes %d parameters, got %d", k.name, k.params, len(args)))
	case block == 0 || block > 1024 || grid[0]*grid[1]*grid[2] == 0 || shared > 48<<10:
		return errInvalid("cuLaunchKernel", fmt.Sprintf("%s: grid %v block %d shared %d", k.name, grid, block, shared))
	}
	a := append([]uint64(nil), args...) // the driver copies them at the launch
	return f.enqueue("cuLaunchKernel", s, func() error {
		if f.exec == nil {
			return nil
		}
		if err := f.exec.Launch(k.name, [3]int{int(grid[0]), int(grid[1]), int(grid[2])}, int(block), int(shared), a); err != nil {
			return &cuda.Error{Call: "cuLaunchKernel", Code: cuda.ResultLaunchFailed, Name: "CUDA_ERROR_LAUNCH_FAILED", Text: err.Error()}
		}
		return nil
	})
}

func (f *Fake) StreamBeginCapture(s cuda.Stream) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuStreamBeginCapture"); err != nil {
		return err
	}
	st, ok := f.streams[s]
	if !ok || st.capture != nil {
		return errInvalid("cuStreamBeginCapture", "no such stream, or capturing already")
	}
	st.capture = &graph{}
	return nil
}

func (f *Fake) StreamEndCapture(s cuda.Stream) (cuda.Graph, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.streams[s]
	if !ok || st.capture == nil {
		return 0, errInvalid("cuStreamEndCapture", "not capturing")
	}
	g := st.capture
	st.capture = nil // even when the call fails, as the driver ends the capture
	if err := f.call("cuStreamEndCapture"); err != nil {
		return 0, err
	}
	h := cuda.Graph(f.handle())
	f.graphs[h] = g
	return h, nil
}

func (f *Fake) GraphInstantiate(g cuda.Graph) (cuda.GraphExec, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuGraphInstantiateWithFlags"); err != nil {
		return 0, err
	}
	gr, ok := f.graphs[g]
	if !ok {
		return 0, errInvalid("cuGraphInstantiateWithFlags", "no such graph")
	}
	e := cuda.GraphExec(f.handle())
	f.execs[e] = gr
	return e, nil
}

func (f *Fake) GraphLaunch(e cuda.GraphExec, s cuda.Stream) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuGraphLaunch"); err != nil {
		return err
	}
	g, ok := f.execs[e]
	if !ok {
		return errInvalid("cuGraphLaunch", "no such graph exec")
	}
	return f.enqueue("cuGraphLaunch", s, func() error {
		for _, op := range g.ops {
			if err := op(); err != nil {
				return err
			}
		}
		return nil
	})
}

func (f *Fake) GraphExecDestroy(e cuda.GraphExec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuGraphExecDestroy"); err != nil {
		return err
	}
	if _, ok := f.execs[e]; !ok {
		return errInvalid("cuGraphExecDestroy", "no such graph exec")
	}
	delete(f.execs, e)
	return nil
}

func (f *Fake) GraphDestroy(g cuda.Graph) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("cuGraphDestroy"); err != nil {
		return err
	}
	if _, ok := f.graphs[g]; !ok {
		return errInvalid("cuGraphDestroy", "no such graph")
	}
	delete(f.graphs, g)
	return nil
}

// CallNames returns the calls made so far, sorted.
func (f *Fake) CallNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.calls))
	for k := range f.calls {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
