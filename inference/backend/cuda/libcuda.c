//go:build linux && cgo

#include "libcuda.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

// Where the driver API has versioned entry points (the _v2 of CUDA 4.0
// and later), these are the current ones.
static int (*p_cuInit)(unsigned);
static int (*p_cuDriverGetVersion)(int *);
static int (*p_cuGetErrorName)(int, const char **);
static int (*p_cuGetErrorString)(int, const char **);
static int (*p_cuDeviceGetCount)(int *);
static int (*p_cuDeviceGet)(int *, int);
static int (*p_cuDeviceGetName)(char *, int, int);
static int (*p_cuDeviceGetAttribute)(int *, int, int);
static int (*p_cuDeviceTotalMem)(size_t *, int);
static int (*p_cuDevicePrimaryCtxRetain)(void **, int);
static int (*p_cuDevicePrimaryCtxRelease)(int);
static int (*p_cuCtxSetCurrent)(void *);
static int (*p_cuModuleLoadDataEx)(void **, const void *, unsigned, int *, void **);
static int (*p_cuModuleUnload)(void *);
static int (*p_cuModuleGetFunction)(void **, void *, const char *);
static int (*p_cuMemAlloc)(uint64_t *, size_t);
static int (*p_cuMemFree)(uint64_t);
static int (*p_cuMemHostAlloc)(void **, size_t, unsigned);
static int (*p_cuMemFreeHost)(void *);
static int (*p_cuMemcpyHtoD)(uint64_t, const void *, size_t);
static int (*p_cuMemcpyDtoH)(void *, uint64_t, size_t);
static int (*p_cuMemcpyHtoDAsync)(uint64_t, const void *, size_t, void *);
static int (*p_cuMemcpyDtoHAsync)(void *, uint64_t, size_t, void *);
static int (*p_cuStreamCreate)(void **, unsigned);
static int (*p_cuStreamDestroy)(void *);
static int (*p_cuStreamSynchronize)(void *);
static int (*p_cuEventCreate)(void **, unsigned);
static int (*p_cuEventDestroy)(void *);
static int (*p_cuEventRecord)(void *, void *);
static int (*p_cuEventQuery)(void *);
static int (*p_cuEventSynchronize)(void *);
static int (*p_cuEventElapsedTime)(float *, void *, void *);
static int (*p_cuLaunchKernel)(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void *,
                               void **, void **);
static int (*p_cuStreamBeginCapture)(void *, int);
static int (*p_cuStreamEndCapture)(void *, void **);
static int (*p_cuGraphInstantiateWithFlags)(void **, void *, unsigned long long);
static int (*p_cuGraphLaunch)(void *, void *);
static int (*p_cuGraphExecDestroy)(void *);
static int (*p_cuGraphDestroy)(void *);

#define SYM(var, name)                                                   \
  do {                                                                   \
    *(void **)(&var) = dlsym(lib, name);                                 \
    if (!var) {                                                          \
      snprintf(err, errlen, "%s: no symbol %s (a driver older than CUDA 11.4?)", path, name); \
      return -2;                                                         \
    }                                                                    \
  } while (0)

int gp_cu_load(const char *path, char *err, int errlen) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *e = dlerror();
    snprintf(err, errlen, "%s", e ? e : "dlopen failed");
    return -1;
  }
  SYM(p_cuInit, "cuInit");
  SYM(p_cuDriverGetVersion, "cuDriverGetVersion");
  SYM(p_cuGetErrorName, "cuGetErrorName");
  SYM(p_cuGetErrorString, "cuGetErrorString");
  SYM(p_cuDeviceGetCount, "cuDeviceGetCount");
  SYM(p_cuDeviceGet, "cuDeviceGet");
  SYM(p_cuDeviceGetName, "cuDeviceGetName");
  SYM(p_cuDeviceGetAttribute, "cuDeviceGetAttribute");
  SYM(p_cuDeviceTotalMem, "cuDeviceTotalMem_v2");
  SYM(p_cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  SYM(p_cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
  SYM(p_cuCtxSetCurrent, "cuCtxSetCurrent");
  SYM(p_cuModuleLoadDataEx, "cuModuleLoadDataEx");
  SYM(p_cuModuleUnload, "cuModuleUnload");
  SYM(p_cuModuleGetFunction, "cuModuleGetFunction");
  SYM(p_cuMemAlloc, "cuMemAlloc_v2");
  SYM(p_cuMemFree, "cuMemFree_v2");
  SYM(p_cuMemHostAlloc, "cuMemHostAlloc");
  SYM(p_cuMemFreeHost, "cuMemFreeHost");
  SYM(p_cuMemcpyHtoD, "cuMemcpyHtoD_v2");
  SYM(p_cuMemcpyDtoH, "cuMemcpyDtoH_v2");
  SYM(p_cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
  SYM(p_cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
  SYM(p_cuStreamCreate, "cuStreamCreate");
  SYM(p_cuStreamDestroy, "cuStreamDestroy_v2");
  SYM(p_cuStreamSynchronize, "cuStreamSynchronize");
  SYM(p_cuEventCreate, "cuEventCreate");
  SYM(p_cuEventDestroy, "cuEventDestroy_v2");
  SYM(p_cuEventRecord, "cuEventRecord");
  SYM(p_cuEventQuery, "cuEventQuery");
  SYM(p_cuEventSynchronize, "cuEventSynchronize");
  SYM(p_cuEventElapsedTime, "cuEventElapsedTime");
  SYM(p_cuLaunchKernel, "cuLaunchKernel");
  SYM(p_cuStreamBeginCapture, "cuStreamBeginCapture_v2");
  SYM(p_cuStreamEndCapture, "cuStreamEndCapture");
  SYM(p_cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags");
  SYM(p_cuGraphLaunch, "cuGraphLaunch");
  SYM(p_cuGraphExecDestroy, "cuGraphExecDestroy");
  SYM(p_cuGraphDestroy, "cuGraphDestroy");
  return 0;
}

int gp_cuInit(unsigned flags) { return p_cuInit(flags); }
int gp_cuDriverGetVersion(int *v) { return p_cuDriverGetVersion(v); }
int gp_cuGetErrorName(int rc, const char **s) { return p_cuGetErrorName(rc, s); }
int gp_cuGetErrorString(int rc, const char **s) { return p_cuGetErrorString(rc, s); }
int gp_cuDeviceGetCount(int *n) { return p_cuDeviceGetCount(n); }
int gp_cuDeviceGet(int *d, int ordinal) { return p_cuDeviceGet(d, ordinal); }
int gp_cuDeviceGetName(char *name, int len, int d) { return p_cuDeviceGetName(name, len, d); }
int gp_cuDeviceGetAttribute(int *v, int attr, int d) { return p_cuDeviceGetAttribute(v, attr, d); }
int gp_cuDeviceTotalMem(size_t *bytes, int d) { return p_cuDeviceTotalMem(bytes, d); }
int gp_cuDevicePrimaryCtxRetain(uintptr_t *ctx, int d) { return p_cuDevicePrimaryCtxRetain((void **)ctx, d); }
int gp_cuDevicePrimaryCtxRelease(int d) { return p_cuDevicePrimaryCtxRelease(d); }
int gp_cuCtxSetCurrent(uintptr_t ctx) { return p_cuCtxSetCurrent((void *)ctx); }

// CUjit_option values: the error log buffer and its size.
enum { JIT_ERROR_LOG_BUFFER = 5, JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6 };

int gp_cuModuleLoadData(uintptr_t *mod, const void *image, char *log, size_t loglen) {
  int opts[2] = {JIT_ERROR_LOG_BUFFER, JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *vals[2] = {log, (void *)(uintptr_t)loglen};
  if (loglen > 0) log[0] = 0;
  return p_cuModuleLoadDataEx((void **)mod, image, 2, opts, vals);
}
int gp_cuModuleUnload(uintptr_t mod) { return p_cuModuleUnload((void *)mod); }
int gp_cuModuleGetFunction(uintptr_t *fn, uintptr_t mod, const char *name) { return p_cuModuleGetFunction((void **)fn, (void *)mod, name); }
int gp_cuMemAlloc(uint64_t *p, size_t bytes) { return p_cuMemAlloc(p, bytes); }
int gp_cuMemFree(uint64_t p) { return p_cuMemFree(p); }
int gp_cuMemHostAlloc(void **p, size_t bytes) { return p_cuMemHostAlloc(p, bytes, 0); }
int gp_cuMemFreeHost(void *p) { return p_cuMemFreeHost(p); }
int gp_cuMemcpyHtoD(uint64_t dst, const void *src, size_t n) { return p_cuMemcpyHtoD(dst, src, n); }
int gp_cuMemcpyDtoH(void *dst, uint64_t src, size_t n) { return p_cuMemcpyDtoH(dst, src, n); }
int gp_cuMemcpyHtoDAsync(uint64_t dst, const void *src, size_t n, uintptr_t s) { return p_cuMemcpyHtoDAsync(dst, src, n, (void *)s); }
int gp_cuMemcpyDtoHAsync(void *dst, uint64_t src, size_t n, uintptr_t s) { return p_cuMemcpyDtoHAsync(dst, src, n, (void *)s); }
// CU_STREAM_NON_BLOCKING: no implicit synchronisation with the legacy
// default stream.
int gp_cuStreamCreate(uintptr_t *s) { return p_cuStreamCreate((void **)s, 1); }
int gp_cuStreamDestroy(uintptr_t s) { return p_cuStreamDestroy((void *)s); }
int gp_cuStreamSynchronize(uintptr_t s) { return p_cuStreamSynchronize((void *)s); }
int gp_cuEventCreate(uintptr_t *e, unsigned flags) { return p_cuEventCreate((void **)e, flags); }
int gp_cuEventDestroy(uintptr_t e) { return p_cuEventDestroy((void *)e); }
int gp_cuEventRecord(uintptr_t e, uintptr_t s) { return p_cuEventRecord((void *)e, (void *)s); }
int gp_cuEventQuery(uintptr_t e) { return p_cuEventQuery((void *)e); }
int gp_cuEventSynchronize(uintptr_t e) { return p_cuEventSynchronize((void *)e); }
int gp_cuEventElapsedTime(float *ms, uintptr_t start, uintptr_t end) { return p_cuEventElapsedTime(ms, (void *)start, (void *)end); }

// The parameters are pointed at on this stack: cuLaunchKernel copies them
// before it returns.
int gp_cuLaunchKernel(uintptr_t fn, unsigned gx, unsigned gy, unsigned gz, unsigned block, unsigned shared, uintptr_t stream,
                      const uint64_t *args, int nargs) {
  void *params[32];
  if (nargs > 32) return 1; // CUDA_ERROR_INVALID_VALUE
  for (int i = 0; i < nargs; i++) params[i] = (void *)&args[i];
  return p_cuLaunchKernel((void *)fn, gx, gy, gz, block, 1, 1, shared, (void *)stream, params, NULL);
}

// CU_STREAM_CAPTURE_MODE_RELAXED: other goroutines' driver calls, on
// whatever thread, do not invalidate the capture.
int gp_cuStreamBeginCapture(uintptr_t s) { return p_cuStreamBeginCapture((void *)s, 2); }
int gp_cuStreamEndCapture(uintptr_t s, uintptr_t *graph) { return p_cuStreamEndCapture((void *)s, (void **)graph); }
int gp_cuGraphInstantiate(uintptr_t *exec, uintptr_t graph) { return p_cuGraphInstantiateWithFlags((void **)exec, (void *)graph, 0); }
int gp_cuGraphLaunch(uintptr_t exec, uintptr_t s) { return p_cuGraphLaunch((void *)exec, (void *)s); }
int gp_cuGraphExecDestroy(uintptr_t exec) { return p_cuGraphExecDestroy((void *)exec); }
int gp_cuGraphDestroy(uintptr_t graph) { return p_cuGraphDestroy((void *)graph); }
