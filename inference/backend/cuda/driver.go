package cuda

import (
	"errors"
	"fmt"

	"github.com/gpuperf/gpuperf/inference/backend"
)

// Handles of the CUDA driver API, opaque to the backend.
type (
	Device    int32
	Context   uintptr
	Module    uintptr
	Function  uintptr
	Stream    uintptr
	Event     uintptr
	Graph     uintptr
	GraphExec uintptr
	DevicePtr uint64
)

// Attribute is a CUdevice_attribute.
type Attribute int

// The device attributes the backend reads (cuda.h's values).
const (
	AttrClockRateKHz    Attribute = 13
	AttrSMCount         Attribute = 16
	AttrPCIBusID        Attribute = 33
	AttrPCIDeviceID     Attribute = 34
	AttrMemClockRateKHz Attribute = 36
	AttrMemBusWidth     Attribute = 37
	AttrPCIDomainID     Attribute = 50
	AttrCCMajor         Attribute = 75
	AttrCCMinor         Attribute = 76
)

// Driver is the part of the CUDA driver API the backend uses: the real one
// (Open) loads libcuda.so.1 at run time; tests use a fake (cudatest). A
// call's error is an *Error. Copies and launches take host memory as
// slices: an asynchronous copy's must come from MemHostAlloc (pinned).
type Driver interface {
	DriverVersion() (int, error)
	DeviceCount() (int, error)
	DeviceGet(ordinal int) (Device, error)
	DeviceName(d Device) (string, error)
	DeviceAttribute(d Device, a Attribute) (int, error)
	DeviceTotalMem(d Device) (uint64, error)
	PrimaryCtxRetain(d Device) (Context, error)
	PrimaryCtxRelease(d Device) error
	CtxSetCurrent(c Context) error

	// ModuleLoadData JIT-compiles PTX; its error carries the JIT log.
	ModuleLoadData(ptx []byte) (Module, error)
	ModuleUnload(m Module) error
	ModuleGetFunction(m Module, name string) (Function, error)

	MemAlloc(bytes int) (DevicePtr, error)
	MemFree(p DevicePtr) error
	MemHostAlloc(bytes int) ([]byte, error)
	MemFreeHost(b []byte) error
	MemcpyHtoD(dst DevicePtr, src []byte) error
	MemcpyDtoH(dst []byte, src DevicePtr) error
	MemcpyHtoDAsync(dst DevicePtr, src []byte, s Stream) error
	MemcpyDtoHAsync(dst []byte, src DevicePtr, s Stream) error

	StreamCreate() (Stream, error) // non-blocking: no implicit sync with stream 0
	StreamDestroy(s Stream) error
	StreamSynchronize(s Stream) error
	EventCreate(timing bool) (Event, error)
	EventDestroy(e Event) error
	EventRecord(e Event, s Stream) error
	// EventQuery reports whether the work before the event is done.
	EventQuery(e Event) (bool, error)
	EventSynchronize(e Event) error
	EventElapsedTime(start, end Event) (ms float32, err error)

	// LaunchKernel launches f over grid blocks of block threads (one
	// dimension) with shared bytes of dynamic shared memory; args are its
	// parameters, each in the low bytes of a uint64.
	LaunchKernel(f Function, grid [3]uint32, block, shared uint32, s Stream, args []uint64) error

	// Stream capture into a graph, and graphs.
	StreamBeginCapture(s Stream) error
	StreamEndCapture(s Stream) (Graph, error)
	GraphInstantiate(g Graph) (GraphExec, error)
	GraphLaunch(e GraphExec, s Stream) error
	GraphExecDestroy(e GraphExec) error
	GraphDestroy(g Graph) error
}

// CUresult codes the backend or its tests name.
const (
	ResultSuccess        = 0
	ResultOutOfMemory    = 2
	ResultNoDevice       = 100
	ResultInvalidPTX     = 218
	ResultNotReady       = 600
	ResultLaunchFailed   = 719
	ResultNotSupported   = 801
	ResultUnknown        = 999
	ResultInvalidValue   = 1
	ResultNotInitialized = 3
)

// Error is a failed driver call: the call, its CUresult, the result's name
// and the driver's text for it (cuGetErrorName, cuGetErrorString), and
// for a JIT failure the compiler's log.
type Error struct {
	Call string
	Code int
	Name string
	Text string
	Log  string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s (%s)", e.Call, e.Name, e.Text)
	if e.Log != "" {
		s += ": JIT log: " + e.Log
	}
	return s
}

// IsResult reports whether err is a driver error with CUresult code.
func IsResult(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// ErrNoDriver is Open's error where there is no libcuda.so.1 to load.
var ErrNoDriver = backend.Unavailable(errors.New("cuda: libcuda.so.1 not found: the NVIDIA driver is not installed in this guest"))

// unavailable marks err (no device, a driver too old) as the machine's
// lack, not a mistake in the options.
func unavailable(err error) error { return backend.Unavailable(fmt.Errorf("cuda: %w", err)) }
