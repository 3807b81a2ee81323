#pragma once
// The online-softmax attention of one (query token, query head), written once and instantiated by each
// ISA file with its own vector primitives. Everything here is a template over the primitives type P,
// which each ISA file defines in an anonymous namespace: the instantiations therefore have internal
// linkage and code compiled with AVX-512 flags can never be picked by the linker for the scalar path.
//
// P provides (n = head_dim, any n >= 1):
//   float dot_f32(const float* q, const float* k, int64_t n)
//   float dot_f16(const float* q, const uint16_t* k, int64_t n)     // k widened to F32
//   void  dot_rows_f32(const float* q, const float* k, int64_t stride, int nb, int64_t n, float* out)
//                                                  // out[j] = dot(q, k + j * stride), j < nb
//   void  dot_rows_f16(const float* q, const uint16_t* k, int64_t stride, int nb, int64_t n, float* out)
//   void  round_to_f16(const float* x, float* dst, int64_t n)       // dst = fp16(x) as floats (RNE)
//   void  axpy_rows_f32(float* acc, const float* p, const float* v, int64_t stride, int nb, int64_t n)
//                                                  // acc += sum_j p[j] * v[j * stride ..], j = 0, 1, ..
//   void  axpy_rows_f16(float* acc, const float* p, const uint16_t* v, int64_t stride, int nb, int64_t n)
//   void  scale(float* acc, float c, int64_t n)                     // acc *= c
//   float exp_sub_sum(float* s, int64_t n, float m)                 // s = exp(s - m); returns their sum
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/ops_isa.h"

namespace kestrel::kernels::attention_detail {

// Scores are computed for a block of positions at a time so the running maximum (and the rescale of
// the accumulator) changes at most once per block instead of once per position.
inline constexpr int kBlock = 32;

// ---------------------------------------------------------------- llama.cpp's order (F32 cache)
// What llama.cpp's x86 CPU graph computes with flash attention off and an F32 cache (ggml-cpu, an
// AVX-512 build such as its zen4 / sapphirerapids variants), operation for operation:
//   kq    = mul_mat(K, q): q is a permuted view, so no llamafile call; ggml_vec_dot_f32 per (cell, token):
//           4 accumulators of 16 lanes over 64-element steps, x0+x2, x1+x3, x0+x1, _mm512_reduce_add_ps
//   soft_max_ext: w = kq * scale (+ the 0 / -inf mask); max; e = ggml_v_expf(w - max) per 16 cells with
//           sum += (double) _mm512_reduce_add_ps(e); p = e * (float) (1.0 / sum)
//   kqv   = mul_mat(V^T, p) over the n_kv cells: a batch (n >= 2 tokens) goes to llamafile's tinyBLAS
//           (one 16-lane FMA accumulator per output, lane = cell % 16, then _mm512_reduce_add_ps), one
//           token to ggml_vec_dot_f32 (lane = cell % 64 as above).
// Cell = position (one sequence filling its cache from cell 0); masked cells add exact zeros, so only
// positions [first, first + n_pos) are visited, in the same lanes. Every FMA and add below is the one
// llama.cpp does on the same lane, written as scalar code (std::fma), so every ISA's instantiation gives
// the same bits; the compiler vectorizes the per-element loops. _mm512_reduce_add_ps adds halves: 8, 4,
// 2, 1. Anonymous namespace: each ISA file compiles its own copy with its own flags (see above).
namespace {
namespace ggml_order {

inline float tree16(const float* v) {
  float b[8], c[4];
  for (int i = 0; i < 8; ++i) b[i] = v[i + 8] + v[i];
  for (int i = 0; i < 4; ++i) c[i] = b[i + 4] + b[i];
  return (c[0] + c[2]) + (c[1] + c[3]);
}

// ggml_vec_dot_f32 on AVX-512. The remainder (n % 64, none for head_dim 64/128/256) is fused here;
// llama.cpp's compiler decides for its `sumf += x[i]*y[i]`.
inline float vec_dot_f32(const float* x, const float* y, int64_t n) {
  float acc[64] = {};
  const int64_t np = n & ~int64_t{63};
  for (int64_t i = 0; i < np; i += 64)
    for (int l = 0; l < 64; ++l) acc[l] = std::fma(x[i + l], y[i + l], acc[l]);
  float r[16];
  for (int l = 0; l < 16; ++l) r[l] = (acc[l] + acc[32 + l]) + (acc[16 + l] + acc[48 + l]);
  float sum = tree16(r);
  for (int64_t i = np; i < n; ++i) sum = std::fma(x[i], y[i], sum);
  return sum;
}

// ggml_v_expf (vec.h, AVX-512 variant) for one lane: the same FMAs, scalef as ldexp.
inline float v_expf(float x) {
  const float r = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, r);
  const float n = z - r;
  if (std::fabs(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                           u, std::fma(0x1.ffffecp-1f, b, 1.0f));
  return std::ldexp(j, static_cast<int>(n));
}

}  // namespace ggml_order
}  // namespace

template <class P>  // P unused: a template so each ISA file instantiates its own copy
void attend_head_ggml(const AttendHeadArgs& a) {
  const float* k = static_cast<const float*>(a.k);
  const float* v = static_cast<const float*>(a.v);
  const int64_t hd = a.head_dim, lanes = a.ggml_lanes;
  const int64_t last = a.first + a.n_pos;
  const int64_t c0 = a.first / 16 * 16, c1 = (last + 15) / 16 * 16;  // whole 16-cell chunks
  float* w = a.scratch + attend_scratch_floats(a.n_q, hd);          // w[j - c0]: cell j's score, then p
  float* part = w + (c1 - c0);                                       // lanes x hd partial sums
  const float inv_cap = a.softcap > 0.0f ? 1.0f / a.softcap : 0.0f;
  auto row = [&](int64_t j) { return a.ring > 0 ? j % a.ring : j; };
  for (int64_t g = 0; g < a.n_q; ++g) {
    const float* qg = a.q + g * hd;
    for (int64_t j = c0; j < c1; ++j) w[j - c0] = -INFINITY;
    float mx = -INFINITY;
    for (int64_t j = a.first; j < last; ++j) {
      float s = ggml_order::vec_dot_f32(k + row(j) * a.stride, qg, hd);
      if (a.softcap > 0.0f) s = a.softcap * __builtin_tanhf(s * inv_cap);
      s *= a.scale;
      w[j - c0] = s;
      mx = s > mx ? s : mx;
    }
    double sum = 0;
    for (int64_t c = c0; c < c1; c += 16) {
      float* e = w + (c - c0);
      for (int l = 0; l < 16; ++l) e[l] = ggml_order::v_expf(e[l] - mx);
      sum += static_cast<double>(ggml_order::tree16(e));
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t j = a.first; j < last; ++j) w[j - c0] *= inv;
    for (int64_t i = 0; i < lanes * hd; ++i) part[i] = 0.0f;
    for (int64_t j = a.first; j < last; ++j) {
      float* pr = part + (j % lanes) * hd;
      const float* vr = v + row(j) * a.stride;
      const float pj = w[j - c0];
      for (int64_t d = 0; d < hd; ++d) pr[d] = std::fma(pj, vr[d], pr[d]);
    }
    float* out = a.out + g * hd;
    float r[16];
    for (int64_t d = 0; d < hd; ++d) {
      const float* pd = part + d;
      if (lanes == 16) {
        for (int l = 0; l < 16; ++l) r[l] = pd[l * hd];
      } else {
        for (int l = 0; l < 16; ++l) r[l] = (pd[l * hd] + pd[(32 + l) * hd]) + (pd[(16 + l) * hd] + pd[(48 + l) * hd]);
      }
      out[d] = ggml_order::tree16(r);
    }
  }
}

template <class P, bool kF16>
void attend_head(const AttendHeadArgs& a) {
  if constexpr (!kF16) {
    if (a.ggml_lanes) return attend_head_ggml<P>(a);
  }
  using KvT = std::conditional_t<kF16, uint16_t, float>;
  const KvT* k = static_cast<const KvT*>(a.k);
  const KvT* v = static_cast<const KvT*>(a.v);
  const int64_t hd = a.head_dim, nq = a.n_q;
  // Scratch: per query head its running maximum and sum, then (F16 cache) the F16-rounded queries.
  float* m = a.scratch;       // running maximum of the scores
  float* l = a.scratch + nq;  // running sum of exp(score - m)
  const float* q = a.q;
  if constexpr (kF16) {
    // llama.cpp (flash attention off) converts q to F16 for the K.q product of an F16 cache.
    float* q16 = a.scratch + 2 * nq;
    P::round_to_f16(a.q, q16, nq * hd);
    q = q16;
  }
  for (int64_t g = 0; g < nq; ++g) m[g] = -INFINITY, l[g] = 0.0f;
  for (int64_t d = 0; d < nq * hd; ++d) a.out[d] = 0.0f;

  // Block by block; within a block every query head of the group uses the same K and V rows, which
  // are in L1 after the first head, so the cache is streamed from memory once per group.
  // Positions first .. first+n_pos-1 live in cache rows (first + j) % ring (ring 0: row = position);
  // a block never crosses the end of a ring, so each block is contiguous rows.
  float s[kBlock];
  const float inv_cap = a.softcap > 0.0f ? 1.0f / a.softcap : 0.0f;
  for (int64_t j0 = 0; j0 < a.n_pos;) {
    const int64_t row0 = a.ring > 0 ? (a.first + j0) % a.ring : a.first + j0;
    int64_t len = a.n_pos - j0 < kBlock ? a.n_pos - j0 : kBlock;
    if (a.ring > 0 && a.ring - row0 < len) len = a.ring - row0;
    const int nb = static_cast<int>(len);
    for (int64_t g = 0; g < nq; ++g) {
      const float* qg = q + g * hd;
      float* acc = a.out + g * hd;
      if constexpr (kF16) P::dot_rows_f16(qg, k + row0 * a.stride, a.stride, nb, hd, s);
      else P::dot_rows_f32(qg, k + row0 * a.stride, a.stride, nb, hd, s);
      // Soft-capping (Gemma 2) acts on the raw K.q before the scale, as llama.cpp's graph does:
      // cap * tanh(s * (1/cap)).
      if (a.softcap > 0.0f)
        for (int j = 0; j < nb; ++j) s[j] = a.softcap * __builtin_tanhf(s[j] * inv_cap);
      float bmax = -INFINITY;
      for (int j = 0; j < nb; ++j) {
        s[j] *= a.scale;
        if (s[j] > bmax) bmax = s[j];
      }
      if (bmax > m[g]) {
        if (l[g] > 0.0f) {
          const float c = __builtin_expf(m[g] - bmax);  // builtin: no out-of-line std:: copy per ISA
          l[g] *= c;
          P::scale(acc, c, hd);
        }
        m[g] = bmax;
      }
      l[g] += P::exp_sub_sum(s, nb, m[g]);
      // The whole block's weighted V rows at once: SIMD variants keep a slice of acc in registers
      // across the block's rows instead of loading and storing it once per row.
      if constexpr (kF16) P::axpy_rows_f16(acc, s, v + row0 * a.stride, a.stride, nb, hd);
      else P::axpy_rows_f32(acc, s, v + row0 * a.stride, a.stride, nb, hd);
    }
    j0 += len;
  }
  for (int64_t g = 0; g < nq; ++g) P::scale(a.out + g * hd, 1.0f / l[g], hd);
}

}  // namespace kestrel::kernels::attention_detail
