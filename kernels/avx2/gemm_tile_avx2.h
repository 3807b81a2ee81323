#pragma once
// Shared by the AVX2 matmul translation units (kernels/avx2/*.cpp, all built with the same flags): the
// exact Q8 activation rounding and the register-tiled dot-product GEMM driven by a per-type policy.
// Everything is in an anonymous namespace: each TU gets its own copy, so no AVX2 code can be merged
// by the linker into a function that non-AVX2 code calls.
//
// A policy P provides: kStep values per full step, kStepBytes weight bytes per step, register bundles
// W and X, load_w/load_x(row, step), load_w_tail/load_x_tail(row, step, rem) for n_in % kStep values
// (zero-filled; never called for block types, whose n_in is a multiple of kStep), and
// madd(acc, w, x) -> acc + the step's products.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/matmul_isa.h"

namespace kestrel::kernels {
namespace {

// One Q8_0/Q8_1 activation block exactly as ggml's x86 quantize_row_q8_0 writes it (ActRule::kX86,
// kernels/quant_act.h): d = amax / 127, q = round-half-even(x * (127 / amax)), packed with signed
// saturation. Returns d (as float; the caller stores it as fp16).
inline float quantize_block_q8(const float* x, int8_t* qs) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256 v[4];
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_loadu_ps(x + 8 * i);
    m = _mm256_max_ps(m, _mm256_and_ps(v[i], abs_mask));
  }
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const float amax = _mm_cvtss_f32(m4);
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  const __m256 vid = _mm256_set1_ps(id);
  __m256i q[4];
  for (int i = 0; i < 4; ++i)
    q[i] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[i], vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  // Packing works within 128-bit lanes; the final permute restores element order.
  const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
  const __m256i ordered = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), ordered);
  return d;
}

inline float h2f(const void* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <class P, int R, int T>
void tile(const GemmArgs& a, int64_t r0, int64_t t0) {
  const char* wr[R];
  const char* xr[T];
  for (int r = 0; r < R; ++r) wr[r] = static_cast<const char*>(a.w) + (r0 + r) * a.w_row_bytes;
  for (int t = 0; t < T; ++t) xr[t] = static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes;
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();

  const int64_t steps = a.n_in / P::kStep;
  const int rem = static_cast<int>(a.n_in % P::kStep);
  for (int64_t s = 0; s < steps; ++s) {
    // Prefetch the next row tile's bytes at this position so DRAM streaming overlaps the arithmetic
    // (the hardware prefetchers alone leave decode well below memory bandwidth).
    if ((s & 1) == 0)
      for (int r = 0; r < R; ++r)
        _mm_prefetch(wr[r] + s * P::kStepBytes + R * static_cast<int64_t>(a.w_row_bytes), _MM_HINT_T0);
    typename P::W w[R];
    for (int r = 0; r < R; ++r) w[r] = P::load_w(wr[r], s);
    for (int t = 0; t < T; ++t) {
      const typename P::X x = P::load_x(xr[t], s);
      for (int r = 0; r < R; ++r) acc[r][t] = P::madd(acc[r][t], w[r], x);
    }
  }
  if (rem != 0) {
    typename P::W w[R];
    for (int r = 0; r < R; ++r) w[r] = P::load_w_tail(wr[r], steps, rem);
    for (int t = 0; t < T; ++t) {
      const typename P::X x = P::load_x_tail(xr[t], steps, rem);
      for (int r = 0; r < R; ++r) acc[r][t] = P::madd(acc[r][t], w[r], x);
    }
  }
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) a.y[(t0 + t) * a.ldy + r0 + r] = hsum(acc[r][t]);
}

template <class P, int R, int T>
void tile_rows_of(const GemmArgs& a, int64_t r0, int64_t t0, int tt) {
  switch (tt) {
    case 1: tile<P, R, 1>(a, r0, t0); break;
    case 2: if constexpr (T >= 2) tile<P, R, 2>(a, r0, t0); break;
    case 3: if constexpr (T >= 3) tile<P, R, 3>(a, r0, t0); break;
    case 4: if constexpr (T >= 4) tile<P, R, 4>(a, r0, t0); break;
  }
}

template <class P, int R, int T>
void gemm(const GemmArgs& a) {
  static_assert(T >= 1 && T <= 4, "token tile 1..4");
  int64_t r0 = a.row_begin;
  for (; r0 + R <= a.row_end; r0 += R)
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += T)
      tile_rows_of<P, R, T>(a, r0, t0, static_cast<int>(a.n_tokens - t0 < T ? a.n_tokens - t0 : T));
  for (; r0 < a.row_end; ++r0)
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += T)
      tile_rows_of<P, 1, T>(a, r0, t0, static_cast<int>(a.n_tokens - t0 < T ? a.n_tokens - t0 : T));
}

}  // namespace
}  // namespace kestrel::kernels
