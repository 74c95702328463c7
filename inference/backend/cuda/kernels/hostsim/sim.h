// sim.h: the host side of gp.cuh. Every thread of a block runs as a
// coroutine on one OS thread; a primitive that needs other threads
// (a barrier, a shuffle, a WMMA operation) yields to the scheduler, which
// resumes the threads once all of those it waits for have arrived, and
// reports a kernel that breaks the hardware's rules (a barrier not reached
// by every thread, a warp operation not reached by the whole warp or with
// different arguments, a misaligned WMMA pointer or stride) as an error.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
typedef unsigned short gp_sim_half;
int gp_sim_tid(void);
int gp_sim_ntid(void);
int gp_sim_bid_x(void);
int gp_sim_bid_y(void);
int gp_sim_bid_z(void);
void gp_sim_sync(void);
void gp_sim_syncwarp(void);
float gp_sim_shfl_xor(float v, int m);
float gp_sim_exp2(float x);
float gp_sim_rsqrt(float x);
float gp_sim_h2f(gp_sim_half h);
gp_sim_half gp_sim_f2h(float f);
float *gp_sim_dynamic_shared(void);

// Fragments: lane l holds the tile's elements 8l to 8l+7 in row-major
// order (its own choice: only load, mma and store read them), and the
// layout it was loaded with, which the mma checks.
typedef struct { gp_sim_half h[8]; int layout; } gp_sim_frag_a;
typedef struct { gp_sim_half h[8]; int layout; } gp_sim_frag_b;
typedef struct { float x[8]; } gp_sim_frag_c;
void gp_sim_wmma_load_a(gp_sim_frag_a *f, const gp_sim_half *p, int ldm);
void gp_sim_wmma_load_b(gp_sim_frag_b *f, const gp_sim_half *p, int ldm);
void gp_sim_wmma_zero(gp_sim_frag_c *f);
void gp_sim_wmma_mma(gp_sim_frag_c *d, const gp_sim_frag_a *a, const gp_sim_frag_b *b, const gp_sim_frag_c *c);
void gp_sim_wmma_store(float *p, const gp_sim_frag_c *f, int ldm);

// The harness's entry points, for Go.
// gp_sim_launch runs kernel name over grid×block threads with dyn bytes of
// dynamic shared memory; args are the kernel's parameters, each in the low
// bytes of a uint64 as cuLaunchKernel reads them. It returns 0, or -1 with
// the reason in err.
int gp_sim_launch(const char *name, int gx, int gy, int gz, int block, int dyn, const uint64_t *args, int nargs,
                  char *err, int errlen);
uint16_t gp_sim_f2h_bits(float f);
#ifdef __cplusplus
}
#endif
