// norm.cu: the embedding and layer normalisation.
//
//   layernorm:        out = (x − mean)/√(var + eps) · gamma + beta, per row
//   embed_layernorm:  the same over x = tok[ids[t]] + pos[t mod seq]
//
// mean and var are taken over the row's H values (var without Bessel's
// correction, as BERT's), in two passes for accuracy. One block per row
// (grid: rows), 128 threads; gamma, beta and the embedding tables are fp32.
#include "gp.cuh"

template <typename T, typename Row>
GP_FN void layernorm_row(T *out, Row x, const float *gamma, const float *beta, int H, float eps) {
  GP_SHARED float red[33];
  int tid = gp_tid(), n = gp_ntid();
  float s = 0.0f;
  for (int c = tid; c < H; c += n) s += x(c);
  float mean = gp_block_sum(s, red) / (float)H;
  float v = 0.0f;
  for (int c = tid; c < H; c += n) {
    float d = x(c) - mean;
    v += d * d;
  }
  float var = gp_block_sum(v, red) / (float)H;
  float rstd = gp_rsqrt(var + eps);
  for (int c = tid; c < H; c += n) gp_st(&out[c], (x(c) - mean) * rstd * gamma[c] + beta[c]);
}

template <typename T>
struct gp_row {
  const T *p;
  GP_FN_MEMBER float operator()(int c) const { return gp_ld(&p[c]); }
};

struct gp_embed_row {
  const float *tok, *pos;
  GP_FN_MEMBER float operator()(int c) const { return tok[c] + pos[c]; }
};

template <typename T>
GP_FN void layernorm(T *out, const T *in, const float *gamma, const float *beta, int H, float eps) {
  long r = gp_bid_x();
  gp_row<T> row = {in + r * H};
  layernorm_row(out + r * H, row, gamma, beta, H, eps);
}

template <typename T>
GP_FN void embed_layernorm(T *out, const int *ids, const float *tok, const float *pos, const float *gamma,
                           const float *beta, int seq, int H, int vocab, float eps) {
  long t = gp_bid_x();
  int id = ids[t];
  if (id < 0 || id >= vocab) id = 0; // the host never sends one; a bad id must not read out of bounds
  gp_embed_row row = {tok + (long)id * H, pos + (t % seq) * H};
  layernorm_row(out + t * H, row, gamma, beta, H, eps);
}

GP_KERNEL void layernorm_f32(float *out, const float *in, const float *gamma, const float *beta, int H, float eps) {
  layernorm(out, in, gamma, beta, H, eps);
}
GP_KERNEL void layernorm_f16(gp_half *out, const gp_half *in, const float *gamma, const float *beta, int H, float eps) {
  layernorm(out, in, gamma, beta, H, eps);
}
GP_KERNEL void embed_layernorm_f32(float *out, const int *ids, const float *tok, const float *pos, const float *gamma,
                                   const float *beta, int seq, int H, int vocab, float eps) {
  embed_layernorm(out, ids, tok, pos, gamma, beta, seq, H, vocab, eps);
}
GP_KERNEL void embed_layernorm_f16(gp_half *out, const int *ids, const float *tok, const float *pos,
                                   const float *gamma, const float *beta, int seq, int H, int vocab, float eps) {
  embed_layernorm(out, ids, tok, pos, gamma, beta, seq, H, vocab, eps);
}
