// libcuda.h: the CUDA driver API, reached through function pointers that
// gp_cu_load fills from libcuda.so.1 with dlopen/dlsym, so nothing of the
// CUDA toolkit is needed to build. Handles are void pointers, results
// ints; the signatures are the driver API's (cuda.h, CUDA 11.4 and newer).
#pragma once
#include <stddef.h>
#include <stdint.h>

// gp_cu_load loads the library and every symbol; it returns 0, or -1
// (the library cannot be opened) or -2 (a symbol is missing) with the
// reason in err.
int gp_cu_load(const char *path, char *err, int errlen);

int gp_cuInit(unsigned flags);
int gp_cuDriverGetVersion(int *v);
int gp_cuGetErrorName(int rc, const char **s);
int gp_cuGetErrorString(int rc, const char **s);
int gp_cuDeviceGetCount(int *n);
int gp_cuDeviceGet(int *d, int ordinal);
int gp_cuDeviceGetName(char *name, int len, int d);
int gp_cuDeviceGetAttribute(int *v, int attr, int d);
int gp_cuDeviceTotalMem(size_t *bytes, int d);
int gp_cuDevicePrimaryCtxRetain(uintptr_t *ctx, int d);
int gp_cuDevicePrimaryCtxRelease(int d);
int gp_cuCtxSetCurrent(uintptr_t ctx);
int gp_cuModuleLoadData(uintptr_t *mod, const void *image, char *log, size_t loglen);
int gp_cuModuleUnload(uintptr_t mod);
int gp_cuModuleGetFunction(uintptr_t *fn, uintptr_t mod, const char *name);
int gp_cuMemAlloc(uint64_t *p, size_t bytes);
int gp_cuMemFree(uint64_t p);
int gp_cuMemHostAlloc(void **p, size_t bytes);
int gp_cuMemFreeHost(void *p);
int gp_cuMemcpyHtoD(uint64_t dst, const void *src, size_t n);
int gp_cuMemcpyDtoH(void *dst, uint64_t src, size_t n);
int gp_cuMemcpyHtoDAsync(uint64_t dst, const void *src, size_t n, uintptr_t stream);
int gp_cuMemcpyDtoHAsync(void *dst, uint64_t src, size_t n, uintptr_t stream);
int gp_cuStreamCreate(uintptr_t *s);
int gp_cuStreamDestroy(uintptr_t s);
int gp_cuStreamSynchronize(uintptr_t s);
int gp_cuEventCreate(uintptr_t *e, unsigned flags);
int gp_cuEventDestroy(uintptr_t e);
int gp_cuEventRecord(uintptr_t e, uintptr_t s);
int gp_cuEventQuery(uintptr_t e);
int gp_cuEventSynchronize(uintptr_t e);
int gp_cuEventElapsedTime(float *ms, uintptr_t start, uintptr_t end);
int gp_cuLaunchKernel(uintptr_t fn, unsigned gx, unsigned gy, unsigned gz, unsigned block, unsigned shared, uintptr_t stream,
                      const uint64_t *args, int nargs);
int gp_cuStreamBeginCapture(uintptr_t s);
int gp_cuStreamEndCapture(uintptr_t s, uintptr_t *graph);
int gp_cuGraphInstantiate(uintptr_t *exec, uintptr_t graph);
int gp_cuGraphLaunch(uintptr_t exec, uintptr_t s);
int gp_cuGraphExecDestroy(uintptr_t exec);
int gp_cuGraphDestroy(uintptr_t graph);
