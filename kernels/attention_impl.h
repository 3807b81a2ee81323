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

template <class P, bool kF16>
void attend_head(const AttendHeadArgs& a) {
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
