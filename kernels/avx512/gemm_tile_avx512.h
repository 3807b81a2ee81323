#pragma once
// Shared by the AVX-512 matmul translation units (kernels/avx512/*.cpp, all built with the same flags):
// exact Q8 activation rounding, helpers, and the register-tiled dot-product GEMM driven by a per-type
// step policy. Everything is in an anonymous namespace: each TU gets its own copy, so no AVX-512 code
// can be merged by the linker into a function that non-AVX-512 code calls.
//
// A policy P provides: kStep values per full step, kStepBytes weight bytes per step, register bundles
// W and X, load_w/load_x(row, step), load_w_tail/load_x_tail(row, step, rem) for the n_in % kStep
// remaining values (zero-filled), and madd(acc, w, x) -> acc + the step's products. Block policies
// take two 32-value blocks per step (lanes 0-7 block b, lanes 8-15 block b+1); their tail is one block.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "kernels/aligned_buffer.h"
#include "kernels/matmul_isa.h"
#include "kernels/quant.h"

namespace kestrel::kernels {
namespace {

// One Q8_0/Q8_1 activation block as ggml's x86 quantize_row_q8_0 writes it (ActRule::kX86,
// kernels/quant_act.h): d = amax / 127, q = round-half-even(x * (127 / amax)), VCVTPS2DQ's INT32_MIN for
// NaN / out of range, saturated to int8. Returns d (the caller stores it as fp16).
inline float quantize_block_q8(const float* x, int8_t* qs) {
  const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  const __m512 vid = _mm512_set1_ps(id);
  const __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs), _mm512_cvtsepi32_epi8(q0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 16), _mm512_cvtsepi32_epi8(q1));
  return d;
}

__attribute__((always_inline)) inline float h2f(const void* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// [a x8, b x8]
inline __m512 two_scales(float a, float b) {
  return _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(a), _mm512_set1_ps(b));
}

// Two Q8_0 activation blocks (b, b+1): 64 int8 values and their scales. `two` = false zeroes block b+1.
template <bool kTwo>
void load_q8_pair(const char* row, int64_t b, __m512i* q, __m512* d) {
  const BlockQ8_0* blk = reinterpret_cast<const BlockQ8_0*>(row) + b;
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[0].qs));
  if constexpr (kTwo) {
    const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[1].qs));
    *q = _mm512_mask_broadcast_i64x4(_mm512_zextsi256_si512(lo), 0xF0, hi);
    *d = two_scales(h2f(&blk[0].d), h2f(&blk[1].d));
  } else {
    *q = _mm512_zextsi256_si512(lo);
    *d = two_scales(h2f(&blk[0].d), 0.0f);
  }
}

// The token loop of the packed kernels: f.template operator()<T>(t0) for every full tile of T tokens,
// then f.template operator()<n>(t0) once for the n = n_tokens % T left (f: a lambda template <int TT>).
template <int T, class F>
__attribute__((always_inline)) inline void token_tiles(int64_t n_tokens, F&& f) {
  int64_t t0 = 0;
  for (; t0 + T <= n_tokens; t0 += T) f.template operator()<T>(t0);
  const int n = static_cast<int>(n_tokens - t0);
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((n == I + 1 ? f.template operator()<I + 1>(t0) : void()), ...);
  }(std::make_integer_sequence<int, T - 1>{});
}

template <class P, int R, int T>
void tile(const GemmArgs& a, int64_t r0, int64_t t0) {
  const char* wr[R];
  const char* xr[T];
  for (int r = 0; r < R; ++r) wr[r] = static_cast<const char*>(a.w) + (r0 + r) * a.w_row_bytes;
  for (int t = 0; t < T; ++t) xr[t] = static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes;
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();

  const int64_t steps = a.n_in / P::kStep;
  const int rem = static_cast<int>(a.n_in % P::kStep);
  constexpr int64_t kStepBytes = P::kStepBytes;
  for (int64_t s = 0; s < steps; ++s) {
    // Prefetch the next row tile's bytes at this position (see q4_rows4_tile): overlaps DRAM with math.
    for (int r = 0; r < R; ++r) _mm_prefetch(wr[r] + s * kStepBytes + R * static_cast<int64_t>(a.w_row_bytes), _MM_HINT_T0);
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
    for (int r = 0; r < R; ++r) a.y[(t0 + t) * a.ldy + r0 + r] = _mm512_reduce_add_ps(acc[r][t]);
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

// Row tiles outer, token tiles inner: R weight rows stay in L1 while the token block's activations
// (sized by matmul.cpp to fit L2) stream past them.
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
