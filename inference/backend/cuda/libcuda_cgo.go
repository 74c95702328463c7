//go:build linux && cgo

package cuda

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "libcuda.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"
)

// The library is loaded once per process: dlopen is, and the driver's
// state is the process's anyway.
var (
	loadOnce sync.Once
	loadErr  error
	theLib   *libcuda
)

// Open loads libcuda.so.1 and initialises the driver (cuInit). Without the
// library its error is ErrNoDriver; a driver that finds no GPU gives
// cuInit's error, CUDA_ERROR_NO_DEVICE. Both are backend.ErrUnavailable.
func Open() (Driver, error) {
	loadOnce.Do(func() {
		var errbuf [512]C.char
		path := C.CString("libcuda.so.1")
		defer C.free(unsafe.Pointer(path))
		switch C.gp_cu_load(path, &errbuf[0], C.int(len(errbuf))) {
		case 0:
		case -1:
			msg := C.GoString(&errbuf[0])
			if strings.Contains(msg, "No such file") || strings.Contains(msg, "cannot open shared object") {
				loadErr = ErrNoDriver
			} else {
				loadErr = unavailable(errors.New(msg))
			}
			return
		default:
			loadErr = unavailable(errors.New(C.GoString(&errbuf[0])))
			return
		}
		l := &libcuda{pinned: map[uintptr]int{}}
		if err := l.check("cuInit", C.gp_cuInit(0)); err != nil {
			loadErr = unavailable(err)
			return
		}
		theLib = l
	})
	if loadErr != nil {
		return nil, loadErr
	}
	return theLib, nil
}

// libcuda is the real driver.
type libcuda struct {
	mu     sync.Mutex
	pinned map[uintptr]int // MemHostAlloc's blocks: start → length
}

func (l *libcuda) check(call string, rc C.int) error {
	if rc == 0 {
		return nil
	}
	e := &Error{Call: call, Code: int(rc), Name: fmt.Sprintf("CUresult %d", int(rc)), Text: "unknown error"}
	var s *C.char
	if C.gp_cuGetErrorName(rc, &s) == 0 && s != nil {
		e.Name = C.GoString(s)
	}
	if C.gp_cuGetErrorString(rc, &s) == 0 && s != nil {
		e.Text = C.GoString(s)
	}
	return e
}

func (l *libcuda) DriverVersion() (int, error) {
	var v C.int
	err := l.check("cuDriverGetVersion", C.gp_cuDriverGetVersion(&v))
	return int(v), err
}

func (l *libcuda) DeviceCount() (int, error) {
	var n C.int
	err := l.check("cuDeviceGetCount", C.gp_cuDeviceGetCount(&n))
	return int(n), err
}

func (l *libcuda) DeviceGet(ordinal int) (Device, error) {
	var d C.int
	err := l.check("cuDeviceGet", C.gp_cuDeviceGet(&d, C.int(ordinal)))
	return Device(d), err
}

func (l *libcuda) DeviceName(d Device) (string, error) {
	var buf [256]C.char
	if err := l.check("cuDeviceGetName", C.gp_cuDeviceGetName(&buf[0], C.int(len(buf)), C.int(d))); err != nil {
		return "", err
	}
	return C.GoString(&buf[0]), nil
}

func (l *libcuda) DeviceAttribute(d Device, a Attribute) (int, error) {
	var v C.int
	err := l.check("cuDeviceGetAttribute", C.gp_cuDeviceGetAttribute(&v, C.int(a), C.int(d)))
	return int(v), err
}

func (l *libcuda) DeviceTotalMem(d Device) (uint64, error) {
	var n C.size_t
	err := l.check("cuDeviceTotalMem", C.gp_cuDeviceTotalMem(&n, C.int(d)))
	return uint64(n), err
}

func (l *libcuda) PrimaryCtxRetain(d Device) (Context, error) {
	var c C.uintptr_t
	err := l.check("cuDevicePrimaryCtxRetain", C.gp_cuDevicePrimaryCtxRetain(&c, C.int(d)))
	return Context(c), err
}

func (l *libcuda) PrimaryCtxRelease(d Device) error {
	return l.check("cuDevicePrimaryCtxRelease", C.gp_cuDevicePrimaryCtxRelease(C.int(d)))
}

func (l *libcuda) CtxSetCurrent(c Context) error {
	return l.check("cuCtxSetCurrent", C.gp_cuCtxSetCurrent(C.uintptr_t(c)))
}

func (l *libcuda) ModuleLoadData(ptx []byte) (Module, error) {
	image := C.CBytes(append(ptx[:len(ptx):len(ptx)], 0)) // NUL-terminated
	defer C.free(image)
	log := (*C.char)(C.calloc(16<<10, 1))
	defer C.free(unsafe.Pointer(log))
	var m C.uintptr_t
	if err := l.check("cuModuleLoadDataEx", C.gp_cuModuleLoadData(&m, image, log, 16<<10)); err != nil {
		err.(*Error).Log = strings.TrimSpace(C.GoString(log))
		return 0, err
	}
	return Module(m), nil
}

func (l *libcuda) ModuleUnload(m Module) error {
	return l.check("cuModuleUnload", C.gp_cuModuleUnload(C.uintptr_t(m)))
}

func (l *libcuda) ModuleGetFunction(m Module, name string) (Function, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var f C.uintptr_t
	if err := l.check("cuModuleGetFunction", C.gp_cuModuleGetFunction(&f, C.uintptr_t(m), cname)); err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return Function(f), nil
}

func (l *libcuda) MemAlloc(bytes int) (DevicePtr, error) {
	var p C.uint64_t
	err := l.check("cuMemAlloc", C.gp_cuMemAlloc(&p, C.size_t(bytes)))
	return DevicePtr(p), err
}

func (l *libcuda) MemFree(p DevicePtr) error {
	return l.check("cuMemFree", C.gp_cuMemFree(C.uint64_t(p)))
}

func (l *libcuda) MemHostAlloc(bytes int) ([]byte, error) {
	var p unsafe.Pointer
	if err := l.check("cuMemHostAlloc", C.gp_cuMemHostAlloc(&p, C.size_t(bytes))); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.pinned[uintptr(p)] = bytes
	l.mu.Unlock()
	return unsafe.Slice((*byte)(p), bytes), nil
}

func (l *libcuda) MemFreeHost(b []byte) error {
	p := unsafe.Pointer(unsafe.SliceData(b))
	l.mu.Lock()
	delete(l.pinned, uintptr(p))
	l.mu.Unlock()
	return l.check("cuMemFreeHost", C.gp_cuMemFreeHost(p))
}

// isPinned reports whether b lies inside a block from MemHostAlloc: only
// such memory may be handed to an asynchronous copy, which reads it after
// the call returns (Go memory could move or be freed).
func (l *libcuda) isPinned(b []byte) bool {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	l.mu.Lock()
	defer l.mu.Unlock()
	for base, n := range l.pinned {
		if start >= base && start+uintptr(len(b)) <= base+uintptr(n) {
			return true
		}
	}
	return false
}

func errNotPinned(call string) error {
	return &Error{Call: call, Code: ResultInvalidValue, Name: "CUDA_ERROR_INVALID_VALUE", Text: "host memory not from MemHostAlloc"}
}

func (l *libcuda) MemcpyHtoD(dst DevicePtr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	return l.check("cuMemcpyHtoD", C.gp_cuMemcpyHtoD(C.uint64_t(dst), unsafe.Pointer(&src[0]), C.size_t(len(src))))
}

func (l *libcuda) MemcpyDtoH(dst []byte, src DevicePtr) error {
	if len(dst) == 0 {
		return nil
	}
	return l.check("cuMemcpyDtoH", C.gp_cuMemcpyDtoH(unsafe.Pointer(&dst[0]), C.uint64_t(src), C.size_t(len(dst))))
}

func (l *libcuda) MemcpyHtoDAsync(dst DevicePtr, src []byte, s Stream) error {
	if len(src) == 0 {
		return nil
	}
	if !l.isPinned(src) {
		return errNotPinned("cuMemcpyHtoDAsync")
	}
	return l.check("cuMemcpyHtoDAsync", C.gp_cuMemcpyHtoDAsync(C.uint64_t(dst), unsafe.Pointer(&src[0]), C.size_t(len(src)), C.uintptr_t(s)))
}

func (l *libcuda) MemcpyDtoHAsync(dst []byte, src DevicePtr, s Stream) error {
	if len(dst) == 0 {
		return nil
	}
	if !l.isPinned(dst) {
		return errNotPinned("cuMemcpyDtoHAsync")
	}
	return l.check("cuMemcpyDtoHAsync", C.gp_cuMemcpyDtoHAsync(unsafe.Pointer(&dst[0]), C.uint64_t(src), C.size_t(len(dst)), C.uintptr_t(s)))
}

func (l *libcuda) StreamCreate() (Stream, error) {
	var s C.uintptr_t
	err := l.check("cuStreamCreate", C.gp_cuStreamCreate(&s))
	return Stream(s), err
}

func (l *libcuda) StreamDestroy(s Stream) error {
	return l.check("cuStreamDestroy", C.gp_cuStreamDestroy(C.uintptr_t(s)))
}

func (l *libcuda) StreamSynchronize(s Stream) error {
	return l.check("cuStreamSynchronize", C.gp_cuStreamSynchronize(C.uintptr_t(s)))
}

// CUevent flags: CU_EVENT_DISABLE_TIMING makes record and query cheaper.
const eventDisableTiming = 2

func (l *libcuda) EventCreate(timing bool) (Event, error) {
	var flags C.uint
	if !timing {
		flags = eventDisableTiming
	}
	var e C.uintptr_t
	err := l.check("cuEventCreate", C.gp_cuEventCreate(&e, flags))
	return Event(e), err
}

func (l *libcuda) EventDestroy(e Event) error {
	return l.check("cuEventDestroy", C.gp_cuEventDestroy(C.uintptr_t(e)))
}

func (l *libcuda) EventRecord(e Event, s Stream) error {
	return l.check("cuEventRecord", C.gp_cuEventRecord(C.uintptr_t(e), C.uintptr_t(s)))
}

func (l *libcuda) EventQuery(e Event) (bool, error) {
	rc := C.gp_cuEventQuery(C.uintptr_t(e))
	if rc == ResultNotReady {
		return false, nil
	}
	return rc == 0, l.check("cuEventQuery", rc)
}

func (l *libcuda) EventSynchronize(e Event) error {
	return l.check("cuEventSynchronize", C.gp_cuEventSynchronize(C.uintptr_t(e)))
}

func (l *libcuda) EventElapsedTime(start, end Event) (float32, error) {
	var ms C.float
	err := l.check("cuEventElapsedTime", C.gp_cuEventElapsedTime(&ms, C.uintptr_t(start), C.uintptr_t(end)))
	return float32(ms), err
}

func (l *libcuda) LaunchKernel(f Function, grid [3]uint32, block, shared uint32, s Stream, args []uint64) error {
	var ap *C.uint64_t
	if len(args) > 0 {
		ap = (*C.uint64_t)(unsafe.Pointer(&args[0]))
	}
	return l.check("cuLaunchKernel", C.gp_cuLaunchKernel(C.uintptr_t(f), C.uint(grid[0]), C.uint(grid[1]), C.uint(grid[2]),
		C.uint(block), C.uint(shared), C.uintptr_t(s), ap, C.int(len(args))))
}

func (l *libcuda) StreamBeginCapture(s Stream) error {
	return l.check("cuStreamBeginCapture", C.gp_cuStreamBeginCapture(C.uintptr_t(s)))
}

func (l *libcuda) StreamEndCapture(s Stream) (Graph, error) {
	var g C.uintptr_t
	err := l.check("cuStreamEndCapture", C.gp_cuStreamEndCapture(C.uintptr_t(s), &g))
	return Graph(g), err
}

func (l *libcuda) GraphInstantiate(g Graph) (GraphExec, error) {
	var e C.uintptr_t
	err := l.check("cuGraphInstantiateWithFlags", C.gp_cuGraphInstantiate(&e, C.uintptr_t(g)))
	return GraphExec(e), err
}

func (l *libcuda) GraphLaunch(e GraphExec, s Stream) error {
	return l.check("cuGraphLaunch", C.gp_cuGraphLaunch(C.uintptr_t(e), C.uintptr_t(s)))
}

func (l *libcuda) GraphExecDestroy(e GraphExec) error {
	return l.check("cuGraphExecDestroy", C.gp_cuGraphExecDestroy(C.uintptr_t(e)))
}

func (l *libcuda) GraphDestroy(g Graph) error {
	return l.check("cuGraphDestroy", C.gp_cuGraphDestroy(C.uintptr_t(g)))
}
