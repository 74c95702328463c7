// gp.cuh: the little of CUDA the kernels use, for two compilers.
//
// Device: Debian's clang compiles the kernels to PTX with no NVIDIA toolkit
// (-nocudainc -nocudalib), so nothing from cuda.h or the CUDA runtime is
// here: thread indices come from the __nvvm_read_ptx_sreg_* builtins, the
// tensor cores from the __hmma_* (WMMA) builtins, and math that would
// need libdevice from PTX instructions (ex2.approx, rsqrt.approx, cvt).
//
// Host: the same sources compile with g++ into the hostsim harness, which
// runs every thread of a block as a coroutine and implements each gp_*
// primitive below (barriers, shuffles, WMMA) with checks of the rules the
// hardware imposes (uniform warps, alignment, strides).
//
// Kernels use one-dimensional blocks only (threadIdx.x).
#pragma once

typedef unsigned short gp_half; // IEEE 754 binary16, as its bits

#if defined(__CUDA_ARCH__)

#define GP_KERNEL extern "C" __attribute__((global))
#define GP_FN static __attribute__((device)) inline
#define GP_FN_MEMBER __attribute__((device)) inline
#define GP_SHARED __attribute__((shared))
#define GP_ALIGN(n) __attribute__((aligned(n)))
// Dynamic shared memory: one float array every kernel sees.
#define GP_DYNAMIC_SHARED(name) extern GP_SHARED GP_ALIGN(16) float name[]

GP_FN int gp_tid() { return __nvvm_read_ptx_sreg_tid_x(); }
GP_FN int gp_ntid() { return __nvvm_read_ptx_sreg_ntid_x(); }
GP_FN int gp_bid_x() { return __nvvm_read_ptx_sreg_ctaid_x(); }
GP_FN int gp_bid_y() { return __nvvm_read_ptx_sreg_ctaid_y(); }
GP_FN int gp_bid_z() { return __nvvm_read_ptx_sreg_ctaid_z(); }
GP_FN void gp_sync() { __syncthreads(); }
GP_FN void gp_syncwarp() { __nvvm_bar_warp_sync(0xffffffffu); }
// gp_shfl_xor returns v from the lane whose index is this lane's xor m;
// every lane of the warp takes part.
GP_FN float gp_shfl_xor(float v, int m) { return __nvvm_shfl_sync_bfly_f32(0xffffffffu, v, m, 0x1f); }
GP_FN float gp_exp2(float x) { return __nvvm_ex2_approx_f(x); }
GP_FN float gp_rsqrt(float x) { return __nvvm_rsqrt_approx_f(x); }
GP_FN float gp_h2f(gp_half h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}
GP_FN gp_half gp_f2h(float f) {
  gp_half h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
}

// WMMA m16n16k16: A and B in fp16, accumulators in fp32. A fragment's
// registers are the hardware's business: the kernels only load, multiply
// and store whole fragments (and fill accumulators with zero), so nothing
// depends on which thread holds which element.
typedef struct { int x[8]; } gp_frag_a;   // 16 halves per thread, packed in pairs
typedef struct { int x[8]; } gp_frag_b;
typedef struct { float x[8]; } gp_frag_c;

// Layout arguments: 0 row-major, 1 column-major; the mma's is
// a_layout*2 + b_layout. Both operands are row-major here.
GP_FN void gp_wmma_load_a(gp_frag_a *f, const gp_half *p, int ldm) { __hmma_m16n16k16_ld_a(f->x, (const int *)p, ldm, 0); }
GP_FN void gp_wmma_load_b(gp_frag_b *f, const gp_half *p, int ldm) { __hmma_m16n16k16_ld_b(f->x, (const int *)p, ldm, 0); }
GP_FN void gp_wmma_zero(gp_frag_c *f) {
  for (int i = 0; i < 8; i++) f->x[i] = 0.0f;
}
GP_FN void gp_wmma_mma(gp_frag_c *d, const gp_frag_a *a, const gp_frag_b *b, const gp_frag_c *c) {
  __hmma_m16n16k16_mma_f32f32(d->x, a->x, b->x, c->x, 0, 0);
}
GP_FN void gp_wmma_store(float *p, const gp_frag_c *f, int ldm) { __hmma_m16n16k16_st_c_f32(p, (float *)f->x, ldm, 0); }

#else // the host harness

#define GP_KERNEL static
#define GP_FN static inline
#define GP_FN_MEMBER inline
#define GP_SHARED static
#define GP_ALIGN(n) __attribute__((aligned(n)))
#define GP_DYNAMIC_SHARED(name) float *name = gp_sim_dynamic_shared()

#include "hostsim/sim.h"

#define gp_tid gp_sim_tid
#define gp_ntid gp_sim_ntid
#define gp_bid_x gp_sim_bid_x
#define gp_bid_y gp_sim_bid_y
#define gp_bid_z gp_sim_bid_z
#define gp_sync gp_sim_sync
#define gp_syncwarp gp_sim_syncwarp
#define gp_shfl_xor gp_sim_shfl_xor
#define gp_exp2 gp_sim_exp2
#define gp_rsqrt gp_sim_rsqrt
#define gp_h2f gp_sim_h2f
#define gp_f2h gp_sim_f2h
typedef gp_sim_frag_a gp_frag_a;
typedef gp_sim_frag_b gp_frag_b;
typedef gp_sim_frag_c gp_frag_c;
#define gp_wmma_load_a gp_sim_wmma_load_a
#define gp_wmma_load_b gp_sim_wmma_load_b
#define gp_wmma_zero gp_sim_wmma_zero
#define gp_wmma_mma gp_sim_wmma_mma
#define gp_wmma_store gp_sim_wmma_store

#endif

// Shared helpers, the same on both sides.

#define GP_LOG2E 1.4426950408889634f

// Storage types: every kernel computes in fp32 and converts at loads and
// stores.
GP_FN float gp_ld(const float *p) { return *p; }
GP_FN float gp_ld(const gp_half *p) { return gp_h2f(*p); }
GP_FN void gp_st(float *p, float v) { *p = v; }
GP_FN void gp_st(gp_half *p, float v) { *p = gp_f2h(v); }

GP_FN float gp_warp_sum(float v) {
  for (int m = 16; m > 0; m >>= 1) v += gp_shfl_xor(v, m);
  return v;
}
GP_FN float gp_warp_max(float v) {
  for (int m = 16; m > 0; m >>= 1) {
    float o = gp_shfl_xor(v, m);
    v = o > v ? o : v;
  }
  return v;
}

// gp_block_sum returns the sum of v over the block, to every thread. The
// block is whole warps, at most 32 of them; red is shared, 33 floats. Every
// thread must call it.
GP_FN float gp_block_sum(float v, float *red) {
  int lane = gp_tid() & 31, w = gp_tid() >> 5, nw = gp_ntid() >> 5;
  v = gp_warp_sum(v);
  if (lane == 0) red[w] = v;
  gp_sync();
  if (w == 0) {
    float s = lane < nw ? red[lane] : 0.0f;
    s = gp_warp_sum(s);
    if (lane == 0) red[32] = s;
  }
  gp_sync();
  float r = red[32];
  gp_sync(); // red is free again
  return r;
}

// gp_gelu is GELU's tanh form, 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))),
// with tanh(u) = 1 − 2/(e^{2u} + 1), which saturates to ±1 cleanly.
GP_FN float gp_gelu(float x) {
  float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  float t = 1.0f - 2.0f / (gp_exp2(2.0f * GP_LOG2E * u) + 1.0f);
  return 0.5f * x * (1.0f + t);
}
