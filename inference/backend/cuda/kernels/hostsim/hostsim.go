//go:build cgo

// Package hostsim runs the cuda backend's kernels on the CPU: the same
// CUDA C sources, compiled by the host's C++ compiler against gp.cuh's
// host half (see sim.h), with every thread of a block a coroutine. Tests
// compare what they compute with the Go reference, and a fake driver can
// use Launch to execute a whole forward pass.
//
// "Device" memory is C memory from Alloc; kernels take its addresses as
// arguments. One launch runs at a time.
package hostsim

/*
#cgo CXXFLAGS: -std=c++17 -O2 -Wall
#include <stdlib.h>
#include "sim.h"
*/
import "C"

import (
	"errors"
	"sync"
	"unsafe"

	"github.com/gpuperf/gpuperf/inference/backend/cuda/kernels"
)

// The harness's state (the block being run, shared memory) is global in C.
var launchMu sync.Mutex

// Sources is what the harness was compiled from (see package kernels).
var Sources = kernels.Sources

// Mem is C memory a kernel can be given: kernels take its Addr.
type Mem struct {
	p unsafe.Pointer
	n int
}

// Alloc returns n bytes of zeroed C memory, or nil when there is none.
func Alloc(n int) *Mem {
	p := C.calloc(C.size_t(max(n, 1)), 1)
	if p == nil {
		return nil
	}
	return &Mem{p: p, n: n}
}

// Addr is the memory's address, as a kernel argument.
func (m *Mem) Addr() uint64 { return uint64(uintptr(m.p)) }

// Bytes is the memory, as a slice; valid until Free.
func (m *Mem) Bytes() []byte { return unsafe.Slice((*byte)(m.p), m.n) }

// Free releases the memory.
func (m *Mem) Free() { C.free(m.p) }

// Launch runs kernel name over a grid of blocks of block threads with
// shared bytes of dynamic shared memory. args are its parameters, as the
// driver takes them: each in the low bytes of a uint64.
func Launch(name string, grid [3]int, block, shared int, args []uint64) error {
	launchMu.Lock()
	defer launchMu.Unlock()
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var errbuf [512]C.char
	var ap *C.uint64_t
	if len(args) > 0 {
		ap = (*C.uint64_t)(unsafe.Pointer(&args[0]))
	}
	rc := C.gp_sim_launch(cname, C.int(grid[0]), C.int(grid[1]), C.int(grid[2]), C.int(block), C.int(shared),
		ap, C.int(len(args)), &errbuf[0], C.int(len(errbuf)))
	if rc != 0 {
		return errors.New(C.GoString(&errbuf[0]))
	}
	return nil
}

// F2H is the harness's float→half conversion (PTX's cvt.rn.f16.f32), for
// tests of the Go one.
func F2H(f float32) uint16 { return uint16(C.gp_sim_f2h_bits(C.float(f))) }

// H2F is the harness's half→float conversion.
func H2F(h uint16) float32 { return float32(C.gp_sim_h2f(C.gp_sim_half(h))) }
