// AVX2 + FMA + F16C matmul kernels. Same structure as the AVX-512 ones (see matmul_avx512.cpp): dot
// products along the row with an R rows x T tokens register tile, 16 ymm registers so smaller tiles.
//
// Integer paths (no VNNI here) use VPMADDUBSW (u8 x s8 -> s16 pairs) then VPMADDWD with ones -> s32:
//   Q4_0: nibbles [0,15] x activations [-127,127]: a pair sum is at most 2*15*127, no saturation;
//     the -8 offset is removed in 16 bits with 8*(x0+x1), computed once per token and block.
//   Q8_0: |w| x sign(x, w) (ggml's trick): at most 2*128*127 = 32512, no saturation.
//
// All helpers are in an anonymous namespace so no AVX2 code can be shared with other TUs.
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2/gemm_tile_avx2.h"
#include "kernels/matmul_isa.h"
#include "kernels/matmul_packed_half.h"
#include "kernels/matmul_q32.h"
#include "kernels/quant.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

// ---------------------------------------------------------------- activation converters

void quantize_row_q8_0_avx2(const float* x, void* dst, int64_t n) {
  BlockQ8_0* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) y[b].d = fp32_to_fp16(quantize_block_q8(x, y[b].qs));
}

void fp32_to_fp16_row_avx2(const float* x, void* dst, int64_t n) {
  uint16_t* y = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) != 0) {
      // NaNs: the reference writes sign | 0x7E00, the hardware keeps payloads.
      for (int j = 0; j < 8; ++j) y[i + j] = fp32_to_fp16(x[i + j]);
      continue;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  for (; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void fp32_to_bf16_row_avx2(const float* x, void* dst, int64_t n) {
  uint16_t* y = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF))), 16);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF)), _mm256_set1_epi32(0x7F800000));
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
    const __m256i v = _mm256_blendv_epi8(r, quiet, nan);
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(v, v), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_castsi256_si128(packed));
  }
  for (; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}

// ---------------------------------------------------------------- helpers

// Loads rem (< 8) 16-bit values, zero-filled to 8.
__m128i load_u16_tail(const char* p, int rem) {
  uint16_t buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::memcpy(buf, p, static_cast<size_t>(rem) * 2);
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf));
}

// ---------------------------------------------------------------- per-type step policies

struct PolicyF32 {
  static constexpr int kStep = 8;
  static constexpr int64_t kStepBytes = 32;
  using W = __m256;
  using X = __m256;
  static W load_w(const char* row, int64_t s) { return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + s * 8); }
  static X load_x(const char* row, int64_t s) { return load_w(row, s); }
  static W load_w_tail(const char* row, int64_t s, int rem) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_maskload_ps(reinterpret_cast<const float*>(row) + s * 8, mask);
  }
  static X load_x_tail(const char* row, int64_t s, int rem) { return load_w_tail(row, s, rem); }
  static __m256 madd(__m256 acc, const W& w, const X& x) { return _mm256_fmadd_ps(w, x, acc); }
};

struct PolicyF16 {
  static constexpr int kStep = 8;
  static constexpr int64_t kStepBytes = 16;
  using W = __m256;
  using X = __m256;
  static W load_w(const char* row, int64_t s) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + s * 16)));
  }
  static X load_x(const char* row, int64_t s) { return load_w(row, s); }
  static W load_w_tail(const char* row, int64_t s, int rem) { return _mm256_cvtph_ps(load_u16_tail(row + s * 16, rem)); }
  static X load_x_tail(const char* row, int64_t s, int rem) { return load_w_tail(row, s, rem); }
  static __m256 madd(__m256 acc, const W& w, const X& x) { return _mm256_fmadd_ps(w, x, acc); }
};

struct PolicyBF16 {
  static constexpr int kStep = 8;
  static constexpr int64_t kStepBytes = 16;
  using W = __m256;
  using X = __m256;
  static __m256 widen(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
  static W load_w(const char* row, int64_t s) { return widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + s * 16))); }
  static X load_x(const char* row, int64_t s) { return load_w(row, s); }
  static W load_w_tail(const char* row, int64_t s, int rem) { return widen(load_u16_tail(row + s * 16, rem)); }
  static X load_x_tail(const char* row, int64_t s, int rem) { return load_w_tail(row, s, rem); }
  static __m256 madd(__m256 acc, const W& w, const X& x) { return _mm256_fmadd_ps(w, x, acc); }
};

struct PolicyQ4_0 {
  static constexpr int kStep = 32;
  static constexpr int64_t kStepBytes = sizeof(BlockQ4_0);
  struct W {
    __m256i q;  // unsigned nibbles: elements 0-15 (low nibbles) then 16-31 (high nibbles)
    __m256 d;
  };
  struct X {
    __m256i q;
    __m256i corr16;  // 8 * (x[2i] + x[2i+1]) per 16-bit lane
    __m256 d;
  };
  static W load_w(const char* row, int64_t s) {
    const BlockQ4_0* blk = reinterpret_cast<const BlockQ4_0*>(row) + s;
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs));
    const __m128i m = _mm_set1_epi8(0x0F);
    W w;
    w.q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
    w.d = _mm256_set1_ps(h2f(&blk->d));
    return w;
  }
  static X load_x(const char* row, int64_t s) {
    const BlockQ8_0* blk = reinterpret_cast<const BlockQ8_0*>(row) + s;
    X x;
    x.q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs));
    x.corr16 = _mm256_maddubs_epi16(_mm256_set1_epi8(8), x.q);
    x.d = _mm256_set1_ps(h2f(&blk->d));
    return x;
  }
  static W load_w_tail(const char* row, int64_t s, int) { return load_w(row, s); }  // never called: n_in % 32 == 0
  static X load_x_tail(const char* row, int64_t s, int) { return load_x(row, s); }
  static __m256 madd(__m256 acc, const W& w, const X& x) {
    const __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(w.q, x.q), x.corr16);
    const __m256i isum = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(w.d, x.d), acc);
  }
};

struct PolicyQ8_0 {
  static constexpr int kStep = 32;
  static constexpr int64_t kStepBytes = sizeof(BlockQ8_0);
  struct W {
    __m256i q;
    __m256i absq;
    __m256 d;
  };
  struct X {
    __m256i q;
    __m256 d;
  };
  static W load_w(const char* row, int64_t s) {
    const BlockQ8_0* blk = reinterpret_cast<const BlockQ8_0*>(row) + s;
    W w;
    w.q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs));
    w.absq = _mm256_sign_epi8(w.q, w.q);
    w.d = _mm256_set1_ps(h2f(&blk->d));
    return w;
  }
  static X load_x(const char* row, int64_t s) {
    const BlockQ8_0* blk = reinterpret_cast<const BlockQ8_0*>(row) + s;
    X x;
    x.q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs));
    x.d = _mm256_set1_ps(h2f(&blk->d));
    return x;
  }
  static W load_w_tail(const char* row, int64_t s, int) { return load_w(row, s); }  // never called
  static X load_x_tail(const char* row, int64_t s, int) { return load_x(row, s); }
  static __m256 madd(__m256 acc, const W& w, const X& x) {
    const __m256i p16 = _mm256_maddubs_epi16(w.absq, _mm256_sign_epi8(x.q, w.q));
    const __m256i isum = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(w.d, x.d), acc);
  }
};

void gemm_f32_avx2(const GemmArgs& a) { gemm<PolicyF32, 2, 4>(a); }
// Prompt batches: kernels/matmul_packed_half.h (f32 panels of 2 x 8 rows, 6-token tiles: 12 ymm
// accumulators) with these widening functions.
template <__m256 (*Widen)(__m128i)>
void widen_half_avx2(const char* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_store_ps(dst + i, Widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i))));
  if (i < n) {
    alignas(32) float buf[8];
    _mm256_store_ps(buf, Widen(load_u16_tail(src + 2 * i, static_cast<int>(n - i))));
    for (int64_t j = i; j < n; ++j) dst[j] = buf[j - i];
  }
}
__m256 widen_f16x8(__m128i h) { return _mm256_cvtph_ps(h); }
using PackedF16Avx2 = PackedHalfGemm<xsimd::fma3<xsimd::avx2>, 2, 6, widen_half_avx2<widen_f16x8>>;
using PackedBF16Avx2 = PackedHalfGemm<xsimd::fma3<xsimd::avx2>, 2, 6, widen_half_avx2<PolicyBF16::widen>>;

void gemm_f16_avx2(const GemmArgs& a) {
  if (a.n_tokens >= kPackedHalfMinTokens) PackedF16Avx2::run(a);
  else gemm<PolicyF16, 2, 4>(a);
}
void gemm_bf16_avx2(const GemmArgs& a) {
  if (a.n_tokens >= kPackedHalfMinTokens) PackedBF16Avx2::run(a);
  else gemm<PolicyBF16, 2, 4>(a);
}
void gemm_q8_0_avx2(const GemmArgs& a) { gemm<PolicyQ8_0, 2, 3>(a); }
void gemm_q4_0_avx2(const GemmArgs& a) { gemm<PolicyQ4_0, 2, 3>(a); }

MatmulKernels make_table() {
  MatmulKernels k{};
  k.name = "avx2";
  k.quantize_row_q8_0 = quantize_row_q8_0_avx2;
  k.fp32_to_fp16_row = fp32_to_fp16_row_avx2;
  k.fp32_to_bf16_row = fp32_to_bf16_row_avx2;
  k.gemm_f32 = gemm_f32_avx2;
  k.gemm_f16 = gemm_f16_avx2;
  k.gemm_bf16 = gemm_bf16_avx2;
  k.gemm_q8_0 = gemm_q8_0_avx2;
  k.gemm_q4_0 = gemm_q4_0_avx2;
  k.quantize_row_q8_1 = quantize_row_q8_1_avx2;
  k.gemm_q4_1 = gemm_q4_1_avx2;
  k.gemm_q5_0 = gemm_q5_0_avx2;
  k.gemm_q5_1 = gemm_q5_1_avx2;
  k.gemm_iq4_nl = gemm_iq4_nl_avx2;
  set_kquant_kernels_avx2(k);
  set_lowbit_kernels_avx2(k);
  return k;
}

}  // namespace

const MatmulKernels* avx2_matmul_kernels() {
  static const MatmulKernels k = make_table();
  return &k;
}

}  // namespace kestrel::kernels
