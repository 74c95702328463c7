// sim.cc: the coroutine scheduler and primitives of sim.h, and the table
// of kernels Go can launch. The kernel sources are compiled here, in this
// one translation unit, exactly as clang compiles them for the device
// but for gp.cuh's host half.
#include "sim.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <vector>

#include "../attention.cu"
#include "../gemm.cu"
#include "../norm.cu"
#include "../probe.cu"

namespace {

enum State { kRun, kAtBarrier, kAtWarp, kDone };
enum WarpOp { kNone, kSyncWarp, kShfl, kLoadA, kLoadB, kMMA, kStore };

const char *op_name(int op) {
  static const char *names[] = {"none", "syncwarp", "shfl", "wmma load_a", "wmma load_b", "wmma mma", "wmma store"};
  return names[op];
}

struct Thread {
  ucontext_t ctx;
  int tid;
  State state;
  // What the thread published for its warp at a warp operation.
  int op;
  const void *p, *a, *b;
  int ldm;
  float v;
};

const size_t kStack = 256 << 10;

struct Sim {
  int grid[3], block, bid[3];
  std::vector<Thread> threads;
  std::vector<char *> stacks;
  ucontext_t sched;
  Thread *cur;
  void (*body)(const uint64_t *);
  const uint64_t *args;
  std::vector<float> dyn;
  char err[512];
  bool failed;
} S;

void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fail(const char *fmt, ...) {
  if (S.failed) return;
  S.failed = true;
  int n = snprintf(S.err, sizeof S.err, "block (%d,%d,%d): ", S.bid[0], S.bid[1], S.bid[2]);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(S.err + n, sizeof S.err - n, fmt, ap);
  va_end(ap);
}

void entry() {
  S.body(S.args);
  S.cur->state = kDone;
  // returning resumes uc_link, the scheduler
}

void yield(State st) {
  Thread *t = S.cur;
  t->state = st;
  swapcontext(&t->ctx, &S.sched);
}

// warp_wait publishes op for the warp and waits until every lane of the
// warp has arrived at a warp operation; the scheduler checks they agree.
void warp_wait(int op) {
  S.cur->op = op;
  yield(kAtWarp);
}

Thread *lane_thread(int lane) { return &S.threads[(S.cur->tid & ~31) + lane]; }

// release_warps resumes every warp whose lanes all wait at a warp
// operation, after checking they wait at the same one with the same
// arguments. It reports whether it resumed any.
bool release_warps() {
  bool any = false;
  int n = S.block;
  for (int w = 0; w * 32 < n; w++) {
    int lo = w * 32, hi = lo + 32 < n ? lo + 32 : n;
    bool all = true, some = false;
    for (int i = lo; i < hi; i++) {
      all = all && S.threads[i].state == kAtWarp;
      some = some || S.threads[i].state == kAtWarp;
    }
    if (!some) continue;
    if (hi - lo < 32) {
      fail("warp %d has %d threads: a warp operation (%s) needs all 32", w, hi - lo, op_name(S.threads[lo].op));
      return false;
    }
    if (!all) continue;
    Thread &first = S.threads[lo];
    for (int i = lo + 1; i < hi; i++) {
      Thread &t = S.threads[i];
      bool same = t.op == first.op;
      if (same && first.op != kShfl && first.op != kSyncWarp && first.op != kMMA) same = t.p == first.p && t.ldm == first.ldm;
      if (!same) {
        fail("warp %d: lane 0 is at %s (%p, ldm %d) but lane %d at %s (%p, ldm %d)", w, op_name(first.op), first.p,
             first.ldm, i - lo, op_name(t.op), t.p, t.ldm);
        return false;
      }
    }
    for (int i = lo; i < hi; i++) S.threads[i].state = kRun;
    any = true;
  }
  return any;
}

// run_block runs one block to the end, or until it breaks a rule.
void run_block() {
  int n = S.block;
  for (int i = 0; i < n; i++) {
    Thread &t = S.threads[i];
    t.tid = i;
    t.state = kRun;
    t.op = kNone;
    getcontext(&t.ctx);
    t.ctx.uc_stack.ss_sp = S.stacks[i];
    t.ctx.uc_stack.ss_size = kStack;
    t.ctx.uc_link = &S.sched;
    makecontext(&t.ctx, entry, 0);
  }
  // Dynamic shared memory starts as NaNs, so a read before a write shows.
  for (auto &f : S.dyn) f = __builtin_nanf("");
  for (;;) {
    for (int i = 0; i < n && !S.failed; i++) {
      if (S.threads[i].state != kRun) continue;
      S.cur = &S.threads[i];
      swapcontext(&S.sched, &S.cur->ctx);
    }
    if (S.failed) return;
    int done = 0, bar = 0;
    for (int i = 0; i < n; i++) {
      done += S.threads[i].state == kDone;
      bar += S.threads[i].state == kAtBarrier;
    }
    if (done == n) return;
    if (release_warps()) continue;
    if (S.failed) return;
    if (bar == n) {
      for (int i = 0; i < n; i++) S.threads[i].state = kRun;
      continue;
    }
    int w = 0;
    while (S.threads[w].state != kAtWarp && S.threads[w].state != kAtBarrier) w++;
    fail("stuck: %d of %d threads at __syncthreads, %d exited; thread %d waits at %s", bar, n, done, w,
         S.threads[w].state == kAtBarrier ? "__syncthreads" : op_name(S.threads[w].op));
    return;
  }
}

// Kernel arguments, from the low bytes of each uint64.
template <typename T>
T *P(uint64_t v) {
  return (T *)(uintptr_t)v;
}
int I(uint64_t v) { return (int)(uint32_t)v; }
float F(uint64_t v) {
  uint32_t b = (uint32_t)v;
  float f;
  memcpy(&f, &b, 4);
  return f;
}

struct Kernel {
  const char *name;
  int nargs;
  void (*body)(const uint64_t *);
};

const Kernel kKernels[] = {
    {"gemm_f32", 9,
     [](const uint64_t *a) {
       gemm_f32(P<float>(a[0]), P<const float>(a[1]), P<const float>(a[2]), P<const float>(a[3]), P<const float>(a[4]),
                I(a[5]), I(a[6]), I(a[7]), I(a[8]));
     }},
    {"gemm_f16", 9,
     [](const uint64_t *a) {
       gemm_f16(P<gp_half>(a[0]), P<const gp_half>(a[1]), P<const gp_half>(a[2]), P<const float>(a[3]),
                P<const gp_half>(a[4]), I(a[5]), I(a[6]), I(a[7]), I(a[8]));
     }},
    {"attention_f32", 6,
     [](const uint64_t *a) {
       attention_f32(P<float>(a[0]), P<const float>(a[1]), I(a[2]), I(a[3]), I(a[4]), F(a[5]));
     }},
    {"attention_f16", 6,
     [](const uint64_t *a) {
       attention_f16(P<gp_half>(a[0]), P<const gp_half>(a[1]), I(a[2]), I(a[3]), I(a[4]), F(a[5]));
     }},
    {"layernorm_f32", 6,
     [](const uint64_t *a) {
       layernorm_f32(P<float>(a[0]), P<const float>(a[1]), P<const float>(a[2]), P<const float>(a[3]), I(a[4]), F(a[5]));
     }},
    {"layernorm_f16", 6,
     [](const uint64_t *a) {
       layernorm_f16(P<gp_half>(a[0]), P<const gp_half>(a[1]), P<const float>(a[2]), P<const float>(a[3]), I(a[4]),
                     F(a[5]));
     }},
    {"embed_layernorm_f32", 10,
     [](const uint64_t *a) {
       embed_layernorm_f32(P<float>(a[0]), P<const int>(a[1]), P<const float>(a[2]), P<const float>(a[3]),
                           P<const float>(a[4]), P<const float>(a[5]), I(a[6]), I(a[7]), I(a[8]), F(a[9]));
     }},
    {"embed_layernorm_f16", 10,
     [](const uint64_t *a) {
       embed_layernorm_f16(P<gp_half>(a[0]), P<const int>(a[1]), P<const float>(a[2]), P<const float>(a[3]),
                           P<const float>(a[4]), P<const float>(a[5]), I(a[6]), I(a[7]), I(a[8]), F(a[9]));
     }},
    {"probe_empty", 0, [](const uint64_t *) { probe_empty(); }},
};

void check_wmma(const void *p, int ldm, int elem, const char *what) {
  if ((uintptr_t)p % 32 != 0) fail("%s: pointer %p is not 32-byte aligned", what, p);
  if (ldm <= 0 || (ldm * elem) % 16 != 0) fail("%s: ldm %d is not a positive multiple of 16 bytes", what, ldm);
}

} // namespace

extern "C" {

int gp_sim_tid(void) { return S.cur->tid; }
int gp_sim_ntid(void) { return S.block; }
int gp_sim_bid_x(void) { return S.bid[0]; }
int gp_sim_bid_y(void) { return S.bid[1]; }
int gp_sim_bid_z(void) { return S.bid[2]; }
void gp_sim_sync(void) { yield(kAtBarrier); }
void gp_sim_syncwarp(void) {
  warp_wait(kSyncWarp);
  warp_wait(kSyncWarp);
}

float gp_sim_shfl_xor(float v, int m) {
  if (m < 0 || m > 31) fail("shfl_xor: lane mask %d", m);
  S.cur->v = v;
  warp_wait(kShfl);
  float r = lane_thread((S.cur->tid & 31) ^ (m & 31))->v;
  warp_wait(kShfl); // the partner has read this lane's value too
  return r;
}

float gp_sim_exp2(float x) { return exp2f(x); }
float gp_sim_rsqrt(float x) { return 1.0f / sqrtf(x); }

float gp_sim_h2f(gp_sim_half h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, x;
  if (e == 0x1f) {
    x = sign | 0x7f800000 | (m << 13);
  } else if (e != 0) {
    x = sign | ((e + 112) << 23) | (m << 13);
  } else {
    float f = (float)m * (1.0f / 16777216.0f); // m · 2^-24, exact
    memcpy(&x, &f, 4);
    x |= sign;
  }
  float f;
  memcpy(&f, &x, 4);
  return f;
}

// gp_sim_f2h rounds to the nearest half, ties to even, as PTX's
// cvt.rn.f16.f32: overflow gives infinity, NaN a quiet NaN.
gp_sim_half gp_sim_f2h(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7fffffff;
  if (ax > 0x7f800000) return (gp_sim_half)(sign | 0x7e00 | ((ax >> 13) & 0x3ff));
  if (ax >= 0x477ff000) return (gp_sim_half)(sign | 0x7c00); // ≥ 65520 rounds to infinity
  if (ax < 0x38800000) {                                      // below 2^-14: a subnormal half, or zero
    float a;
    memcpy(&a, &ax, 4);
    return (gp_sim_half)(sign | (uint32_t)nearbyintf(a * 16777216.0f));
  }
  uint32_t h = (ax - 0x38000000) >> 13, rem = ax & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
  return (gp_sim_half)(sign | h);
}

uint16_t gp_sim_f2h_bits(float f) { return gp_sim_f2h(f); }

float *gp_sim_dynamic_shared(void) { return S.dyn.data(); }

static void wmma_load(gp_sim_half *h, int *layout, const gp_sim_half *p, int ldm, int op, const char *what) {
  S.cur->p = p;
  S.cur->ldm = ldm;
  warp_wait(op);
  check_wmma(p, ldm, 2, what);
  int lane = S.cur->tid & 31;
  for (int i = 0; i < 8; i++) {
    int e = lane * 8 + i, r = e / 16, c = e % 16;
    h[i] = p[r * ldm + c]; // row-major: element (r, c) at r·ldm + c
  }
  *layout = 0;
  warp_wait(op);
}

void gp_sim_wmma_load_a(gp_sim_frag_a *f, const gp_sim_half *p, int ldm) {
  wmma_load(f->h, &f->layout, p, ldm, kLoadA, "wmma load_a");
}
void gp_sim_wmma_load_b(gp_sim_frag_b *f, const gp_sim_half *p, int ldm) {
  wmma_load(f->h, &f->layout, p, ldm, kLoadB, "wmma load_b");
}
void gp_sim_wmma_zero(gp_sim_frag_c *f) {
  for (int i = 0; i < 8; i++) f->x[i] = 0.0f;
}

// The mma: D = A·B + C over the warp's 16×16×16 tile. Each lane computes
// its own eight elements of D from every lane's A and B, in fp32.
void gp_sim_wmma_mma(gp_sim_frag_c *d, const gp_sim_frag_a *a, const gp_sim_frag_b *b, const gp_sim_frag_c *c) {
  S.cur->a = a;
  S.cur->b = b;
  warp_wait(kMMA);
  if (a->layout != 0 || b->layout != 0) fail("wmma mma: row.row on fragments loaded with another layout");
  int lane = S.cur->tid & 31;
  float out[8];
  for (int i = 0; i < 8; i++) {
    int e = lane * 8 + i, r = e / 16, col = e % 16;
    float acc = c->x[i];
    for (int k = 0; k < 16; k++) {
      int ea = r * 16 + k, eb = k * 16 + col;
      const gp_sim_frag_a *fa = (const gp_sim_frag_a *)lane_thread(ea / 8)->a;
      const gp_sim_frag_b *fb = (const gp_sim_frag_b *)lane_thread(eb / 8)->b;
      acc += gp_sim_h2f(fa->h[ea % 8]) * gp_sim_h2f(fb->h[eb % 8]);
    }
    out[i] = acc;
  }
  warp_wait(kMMA); // every lane has read every fragment before any is written
  for (int i = 0; i < 8; i++) d->x[i] = out[i];
}

void gp_sim_wmma_store(float *p, const gp_sim_frag_c *f, int ldm) {
  S.cur->p = p;
  S.cur->ldm = ldm;
  warp_wait(kStore);
  check_wmma(p, ldm, 4, "wmma store");
  int lane = S.cur->tid & 31;
  for (int i = 0; i < 8; i++) {
    int e = lane * 8 + i, r = e / 16, c = e % 16;
    p[r * ldm + c] = f->x[i];
  }
  warp_wait(kStore);
}

int gp_sim_launch(const char *name, int gx, int gy, int gz, int block, int dyn, const uint64_t *args, int nargs,
                  char *err, int errlen) {
  const Kernel *k = nullptr;
  for (const Kernel &e : kKernels)
    if (strcmp(e.name, name) == 0) k = &e;
  S.failed = false;
  S.err[0] = 0;
  if (!k) {
    snprintf(err, errlen, "no kernel %s", name);
    return -1;
  }
  if (nargs != k->nargs) {
    snprintf(err, errlen, "%s takes %d arguments, got %d", name, k->nargs, nargs);
    return -1;
  }
  if (gx < 1 || gy < 1 || gz < 1 || block < 1 || block > 1024 || dyn < 0 || dyn > 227 << 10) {
    snprintf(err, errlen, "%s: bad launch: grid (%d,%d,%d), block %d, %d bytes dynamic shared", name, gx, gy, gz,
             block, dyn);
    return -1;
  }
  while ((int)S.stacks.size() < block) S.stacks.push_back((char *)malloc(kStack));
  S.threads.assign(block, Thread{});
  S.block = block;
  S.grid[0] = gx, S.grid[1] = gy, S.grid[2] = gz;
  S.body = k->body;
  S.args = args;
  S.dyn.assign((dyn + 3) / 4, 0.0f);
  for (int z = 0; z < gz && !S.failed; z++)
    for (int y = 0; y < gy && !S.failed; y++)
      for (int x = 0; x < gx && !S.failed; x++) {
        S.bid[0] = x, S.bid[1] = y, S.bid[2] = z;
        run_block();
      }
  if (S.failed) {
    snprintf(err, errlen, "%s: %s", name, S.err);
    return -1;
  }
  return 0;
}
}
