// attention.cu: multi-head self-attention over the fused QKV projection.
//
// qkv is [tokens][3·H] (token t = b·seq + s; Q in columns [0, H), K in
// [H, 2H), V in [2H, 3H); head h owns columns h·dh to (h+1)·dh of each),
// out is [tokens][H]. For each head and query s:
//   out[s] = Σ_j softmax_j(q_s·k_j / √dh) · v_j
// computed in fp32 whatever the storage type, the softmax shifted by its
// maximum. Scores are kept in the log2 domain (scaled by log2 e) so the
// exponential is one ex2.
//
// Grid: (ceil(seq/16), heads, batch); 128 threads, one warp per query,
// each warp taking every fourth of the block's 16 queries. Dynamic shared
// memory: 4·(dh + seq) floats, each warp's query vector and scores.
#include "gp.cuh"

#define ATT_QUERIES 16
#define ATT_WARPS 4

template <typename T>
GP_FN void attention(T *out, const T *qkv, int seq, int heads, int dh, float scale) {
  GP_DYNAMIC_SHARED(smem);
  int H = heads * dh, ld = 3 * H;
  int lane = gp_tid() & 31, w = gp_tid() >> 5;
  int h = gp_bid_y(), b = gp_bid_z();
  int q0 = gp_bid_x() * ATT_QUERIES;
  float *qs = smem + w * (dh + seq), *sc = qs + dh;
  const T *base = qkv + (long)b * seq * ld + h * dh;
  const T *K = base + H, *V = base + 2 * H;
  int qend = q0 + ATT_QUERIES < seq ? q0 + ATT_QUERIES : seq;
  for (int q = q0 + w; q < qend; q += ATT_WARPS) { // uniform per warp
    for (int d = lane; d < dh; d += 32) qs[d] = gp_ld(&base[(long)q * ld + d]) * (scale * GP_LOG2E);
    gp_syncwarp();
    float mx = -3.0e38f;
    for (int j = lane; j < seq; j += 32) {
      const T *k = K + (long)j * ld;
      float s = 0.0f;
      for (int d = 0; d < dh; d++) s += qs[d] * gp_ld(&k[d]);
      sc[j] = s;
      mx = s > mx ? s : mx;
    }
    mx = gp_warp_max(mx);
    float sum = 0.0f;
    for (int j = lane; j < seq; j += 32) {
      float p = gp_exp2(sc[j] - mx);
      sc[j] = p;
      sum += p;
    }
    sum = gp_warp_sum(sum);
    gp_syncwarp();
    float inv = 1.0f / sum;
    T *o = out + ((long)b * seq + q) * H + h * dh;
    for (int d = lane; d < dh; d += 32) {
      float acc = 0.0f;
      for (int j = 0; j < seq; j++) acc += sc[j] * gp_ld(&V[(long)j * ld + d]);
      gp_st(&o[d], acc * inv);
    }
    gp_syncwarp(); // qs and sc are rewritten by the next query
  }
}

GP_KERNEL void attention_f32(float *out, const float *qkv, int seq, int heads, int dh, float scale) {
  attention(out, qkv, seq, heads, dh, scale);
}

GP_KERNEL void attention_f16(gp_half *out, const gp_half *qkv, int seq, int heads, int dh, float scale) {
  attention(out, qkv, seq, heads, dh, scale);
}
