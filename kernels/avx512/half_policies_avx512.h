#pragma once
// The F16 / BF16 step policies of the AVX-512 dot-product tiles (gemm_tile_avx512.h's policy contract),
// shared by the ggml-layout kernels (matmul_avx512.cpp) and the f16x4 / bf16x4 layout kernels
// (repack_half_avx512.cpp), so both add every output in the same order, bit for bit. Each output is one
// chain of 16 f32 lanes (VDPBF16PS: pairs of products per lane) over the row, reduced by
// _mm512_reduce_add_ps: llamafile's tinyBLAS order for F16 / BF16 on AVX-512 (one accumulator per
// output, hsum at the end), so for n_in a multiple of the step the results are llama.cpp's.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#include "kernels/avx512/gemm_amx_half_avx512.h"
#include "kernels/matmul_isa.h"

namespace kestrel::kernels {
namespace {

// F16, and BF16 without AVX512-BF16: 16 halves widened to f32 (Widen::widen) and FMA'd.
template <class Widen>
struct PolicyWidenFma {
  static constexpr int kStep = 16;
  static constexpr int64_t kStepBytes = 32;
  using W = __m512;
  using X = __m512;
  static __m512 widen(__m256i h) { return Widen::widen(h); }
  static W load_w(const char* row, int64_t s) { return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + s * 32))); }
  static X load_x(const char* row, int64_t s) { return load_w(row, s); }
  static W load_w_tail(const char* row, int64_t s, int rem) {
    return widen(_mm256_maskz_loadu_epi16(static_cast<__mmask16>((1u << rem) - 1), row + s * 32));
  }
  static X load_x_tail(const char* row, int64_t s, int rem) { return load_w_tail(row, s, rem); }
  static __m512 madd(__m512 acc, const W& w, const X& x) { return _mm512_fmadd_ps(w, x, acc); }
};
struct WidenF16 {
  static __m512 widen(__m256i h) { return _mm512_cvtph_ps(h); }
};
// bf16 is the top half of an f32.
struct WidenBF16 {
  static __m512 widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
};
using PolicyF16 = PolicyWidenFma<WidenF16>;
using PolicyBF16Convert = PolicyWidenFma<WidenBF16>;

// BF16 with VDPBF16PS: 32 pairs per instruction, products accumulated in f32.
struct PolicyBF16Dot {
  static constexpr int kStep = 32;
  static constexpr int64_t kStepBytes = 64;
  using W = __m512i;
  using X = __m512i;
  static W load_w(const char* row, int64_t s) { return _mm512_loadu_si512(row + s * 64); }
  static X load_x(const char* row, int64_t s) { return load_w(row, s); }
  static W load_w_tail(const char* row, int64_t s, int rem) {
    return _mm512_maskz_loadu_epi16(static_cast<__mmask32>((1ull << rem) - 1), row + s * 64);
  }
  static X load_x_tail(const char* row, int64_t s, int rem) { return load_w_tail(row, s, rem); }
  static __m512 madd(__m512 acc, const W& w, const X& x) {
    return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(w), reinterpret_cast<__m512bh>(x));
  }
};

// Batches from this size on take the packed F16/BF16 GEMMs on AVX-512 without AMX-BF16 (see
// gemm_f32_avx512 in matmul_avx512.cpp for the measurements behind the float thresholds).
constexpr int64_t kHalfPackedMinTokensAvx512 = 64;

// Whether a batch of n_tokens runs on the dot-product tiles (decode, small batches: every output the
// same chain as in a 1-token call) rather than a packed prompt GEMM (AMX BF16 tiles from
// kAmxHalfMinTokens on where enabled, else the FMA / VDPBF16PS panels from kHalfPackedMinTokensAvx512).
inline bool half_dot_tiles(int64_t n_tokens) {
  if (n_tokens >= kAmxHalfMinTokens && amx_bf16_enabled()) return false;
  return n_tokens < kHalfPackedMinTokensAvx512;
}

}  // namespace
}  // namespace kestrel::kernels
