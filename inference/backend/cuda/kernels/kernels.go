// Package kernels holds the cuda backend's kernels: CUDA C sources
// (*.cu, with gp.cuh) and the PTX clang makes of them (`make ptx`), which
// the backend hands to the driver to JIT-compile for whatever GPU it finds.
//
// The sources are embedded too: subpackage hostsim compiles them for the
// host, and importing this package ties its build to their contents (Go
// hashes embedded files, not files a C++ #include reaches).
package kernels

import "embed"

// PTX holds NAME.ptx for each NAME.cu.
//
//go:embed *.ptx
var PTX embed.FS

// Sources holds the CUDA C sources and the clang version that made the PTX.
//
//go:embed *.cu *.cuh CLANG_VERSION
var Sources embed.FS
