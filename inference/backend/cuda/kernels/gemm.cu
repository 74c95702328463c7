// gemm.cu: C = A·B + bias, then an epilogue, for the encoder's dense
// layers and the probe's GEMM. A is M×K, B is K×N (the weights, stored
// input-major), C and the residual R are M×N, all row-major and densely
// packed; bias has N values in fp32. Any M, N and K work: tiles are loaded
// with bounds checks and zero padding, so nothing needs to be a multiple
// of 16.
//
// Epilogue flags, applied in this order to v = A·B + bias:
//   GP_EPI_GELU      v = gelu(v)
//   GP_EPI_RESIDUAL  v = v + R
#include "gp.cuh"

#define GP_EPI_GELU 1
#define GP_EPI_RESIDUAL 2

template <typename T>
GP_FN void gp_epilogue(T *C, const float *bias, const T *R, int N, int flags, int m, int n, float v) {
  v += bias[n];
  if (flags & GP_EPI_GELU) v = gp_gelu(v);
  if (flags & GP_EPI_RESIDUAL) v += gp_ld(&R[(long)m * N + n]);
  gp_st(&C[(long)m * N + n], v);
}

// gemm_f32: fp32 on the CUDA cores. A block of 256 threads computes a
// 64×64 tile of C, each thread 4×4 values 16 apart (so a warp reads
// consecutive shared-memory words), stepping K 16 at a time. Grid:
// (ceil(N/64), ceil(M/64)).
#define F32_BM 64
#define F32_BN 64
#define F32_BK 16

GP_KERNEL void gemm_f32(float *C, const float *A, const float *B, const float *bias, const float *R,
                        int M, int N, int K, int flags) {
  GP_SHARED float As[F32_BK][F32_BM + 1]; // transposed: As[k][m]
  GP_SHARED float Bs[F32_BK][F32_BN + 1];
  int tid = gp_tid();
  int tx = tid % 16, ty = tid / 16;
  int m0 = gp_bid_y() * F32_BM, n0 = gp_bid_x() * F32_BN;
  float acc[4][4];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
  for (int k0 = 0; k0 < K; k0 += F32_BK) {
    for (int e = tid; e < F32_BM * F32_BK; e += 256) {
      int r = e / F32_BK, c = e % F32_BK;
      int gm = m0 + r, gk = k0 + c;
      As[c][r] = (gm < M && gk < K) ? A[(long)gm * K + gk] : 0.0f;
    }
    for (int e = tid; e < F32_BK * F32_BN; e += 256) {
      int r = e / F32_BN, c = e % F32_BN;
      int gk = k0 + r, gn = n0 + c;
      Bs[r][c] = (gk < K && gn < N) ? B[(long)gk * N + gn] : 0.0f;
    }
    gp_sync();
    for (int kk = 0; kk < F32_BK; kk++) {
      float a[4], b[4];
      for (int i = 0; i < 4; i++) a[i] = As[kk][ty + 16 * i];
      for (int j = 0; j < 4; j++) b[j] = Bs[kk][tx + 16 * j];
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
    }
    gp_sync();
  }
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) {
      int m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
      if (m < M && n < N) gp_epilogue(C, bias, R, N, flags, m, n, acc[i][j]);
    }
}

// gemm_f16: fp16 operands on the tensor cores (WMMA m16n16k16), fp32
// accumulation, fp16 out. A block of 128 threads (4 warps, 2×2) computes a
// 64×64 tile of C, each warp 32×32 as 2×2 fragments, stepping K 32 at a
// time through shared memory. The accumulators go through shared memory
// for the epilogue, so the fragments' register layout never matters.
// Alignment, as WMMA requires: every fragment pointer is 32-byte aligned
// (arrays aligned to 32, fragment rows and columns at multiples of 16) and
// the leading dimensions are multiples of 16 bytes (40 and 72 halves, 68
// floats; the padding also spreads rows over the memory banks).
// Grid: (ceil(N/64), ceil(M/64)).
#define F16_BM 64
#define F16_BN 64
#define F16_BK 32
#define F16_LDA (F16_BK + 8)
#define F16_LDB (F16_BN + 8)
#define F16_LDC (F16_BN + 4)

GP_KERNEL void gemm_f16(gp_half *C, const gp_half *A, const gp_half *B, const float *bias, const gp_half *R,
                        int M, int N, int K, int flags) {
  GP_SHARED GP_ALIGN(32) gp_half As[F16_BM][F16_LDA];
  GP_SHARED GP_ALIGN(32) gp_half Bs[F16_BK][F16_LDB];
  GP_SHARED GP_ALIGN(32) float Cs[F16_BM][F16_LDC];
  int tid = gp_tid(), warp = tid / 32;
  int wm = (warp / 2) * 32, wn = (warp % 2) * 32;
  int m0 = gp_bid_y() * F16_BM, n0 = gp_bid_x() * F16_BN;
  gp_frag_c acc[2][2];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) gp_wmma_zero(&acc[i][j]);
  for (int k0 = 0; k0 < K; k0 += F16_BK) {
    for (int e = tid; e < F16_BM * F16_BK; e += 128) {
      int r = e / F16_BK, c = e % F16_BK;
      int gm = m0 + r, gk = k0 + c;
      As[r][c] = (gm < M && gk < K) ? A[(long)gm * K + gk] : (gp_half)0;
    }
    for (int e = tid; e < F16_BK * F16_BN; e += 128) {
      int r = e / F16_BN, c = e % F16_BN;
      int gk = k0 + r, gn = n0 + c;
      Bs[r][c] = (gk < K && gn < N) ? B[(long)gk * N + gn] : (gp_half)0;
    }
    gp_sync();
    for (int kk = 0; kk < F16_BK; kk += 16) {
      gp_frag_a a[2];
      gp_frag_b b[2];
      for (int i = 0; i < 2; i++) gp_wmma_load_a(&a[i], &As[wm + 16 * i][kk], F16_LDA);
      for (int j = 0; j < 2; j++) gp_wmma_load_b(&b[j], &Bs[kk][wn + 16 * j], F16_LDB);
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) gp_wmma_mma(&acc[i][j], &a[i], &b[j], &acc[i][j]);
    }
    gp_sync();
  }
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) gp_wmma_store(&Cs[wm + 16 * i][wn + 16 * j], &acc[i][j], F16_LDC);
  gp_sync();
  for (int e = tid; e < F16_BM * F16_BN; e += 128) {
    int r = e / F16_BN, c = e % F16_BN;
    int m = m0 + r, n = n0 + c;
    if (m < M && n < N) gp_epilogue(C, bias, R, N, flags, m, n, Cs[r][c]);
  }
}
