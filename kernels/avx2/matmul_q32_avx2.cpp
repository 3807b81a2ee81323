// AVX2 kernels for Q4_1 / Q5_0 / Q5_1 / IQ4_NL weights and the Q8_1 activation converter. Same register
// tiles as the Q4_0/Q8_0 kernels (gemm_tile_avx2.h); each step is one 32-value block, unpacked to 32
// bytes in element order and multiplied with VPMADDUBSW (u8 x s8 -> s16 pairs) + VPMADDWD (-> s32):
//   Q4_1 / Q5_1: values q in [0, 31] are unsigned already: pairs <= 2*31*127, no saturation. The
//     block's m_w * s_x term is added in lane 0 of the accumulator (the lanes are summed at the end).
//   Q5_0: unsigned 5-bit q (value q - 16); the offset comes off in 16 bits with 16*(x0+x1).
//   IQ4_NL: nibbles looked up in the codebook with VPSHUFB (signed, |v| <= 127), then ggml's sign
//     trick |w| x sign(x, w): pairs <= 2*127*127 = 32258, no saturation.
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2/gemm_tile_avx2.h"
#include "kernels/matmul_q32.h"
#include "kernels/quant_q32.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

// 16 packed bytes of nibbles -> 32 bytes: low nibbles (elements 0-15), then high nibbles (16-31).
__m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}

// Bit 4 of each of the 32 elements (0x10 where bit i of qh is set), ggml's bytes-from-bits expansion.
__m256i high_bits(const uint8_t* qh) {
  uint32_t h;
  std::memcpy(&h, qh, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(h)),
      _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i bit = _mm256_or_si256(spread, _mm256_set1_epi64x(0x7FBFDFEFF7FBFDFE));
  return _mm256_and_si256(_mm256_cmpeq_epi8(bit, _mm256_set1_epi8(-1)), _mm256_set1_epi8(0x10));
}

__m256i isum_u8_s8(__m256i u, __m256i s) { return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)); }

struct XQ8_0 {
  __m256i q;
  __m256 d;
};
XQ8_0 load_q8_0(const char* row, int64_t s) {
  const BlockQ8_0* blk = reinterpret_cast<const BlockQ8_0*>(row) + s;
  return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs)), _mm256_set1_ps(h2f(&blk->d))};
}

struct XQ8_1 {
  __m256i q;
  __m256 d;
  __m256 s;
};
XQ8_1 load_q8_1(const char* row, int64_t s) {
  const BlockQ8_1* blk = reinterpret_cast<const BlockQ8_1*>(row) + s;
  return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs)), _mm256_set1_ps(h2f(&blk->d)),
          _mm256_set1_ps(h2f(&blk->s))};
}

// Q4_1 and Q5_1: unsigned values, scale d and minimum m (in lane 0 only).
struct WMin {
  __m256i q;
  __m256 d;
  __m256 m;
};

template <class Block, bool kFive>
struct PolicyMin {
  static constexpr int kStep = 32;
  static constexpr int64_t kStepBytes = sizeof(Block);
  using W = WMin;
  using X = XQ8_1;
  static W load_w(const char* row, int64_t s) {
    const Block* blk = reinterpret_cast<const Block*>(row) + s;
    __m256i q = unpack_nibbles(blk->qs);
    if constexpr (kFive) q = _mm256_or_si256(q, high_bits(blk->qh));
    return {q, _mm256_set1_ps(h2f(&blk->d)), _mm256_setr_ps(h2f(&blk->m), 0, 0, 0, 0, 0, 0, 0)};
  }
  static X load_x(const char* row, int64_t s) { return load_q8_1(row, s); }
  static W load_w_tail(const char* row, int64_t s, int) { return load_w(row, s); }  // never called
  static X load_x_tail(const char* row, int64_t s, int) { return load_x(row, s); }
  static __m256 madd(__m256 acc, const W& w, const X& x) {
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum_u8_s8(w.q, x.q)), _mm256_mul_ps(w.d, x.d), acc);
    return _mm256_fmadd_ps(w.m, x.s, acc);
  }
};
using PolicyQ4_1 = PolicyMin<BlockQ4_1, false>;
using PolicyQ5_1 = PolicyMin<BlockQ5_1, true>;

struct PolicyQ5_0 {
  static constexpr int kStep = 32;
  static constexpr int64_t kStepBytes = sizeof(BlockQ5_0);
  struct W {
    __m256i q;  // unsigned 5-bit values
    __m256 d;
  };
  struct X {
    __m256i q;
    __m256i corr16;  // 16 * (x[2i] + x[2i+1]) per 16-bit lane
    __m256 d;
  };
  static W load_w(const char* row, int64_t s) {
    const BlockQ5_0* blk = reinterpret_cast<const BlockQ5_0*>(row) + s;
    return {_mm256_or_si256(unpack_nibbles(blk->qs), high_bits(blk->qh)), _mm256_set1_ps(h2f(&blk->d))};
  }
  static X load_x(const char* row, int64_t s) {
    const XQ8_0 x = load_q8_0(row, s);
    return {x.q, _mm256_maddubs_epi16(_mm256_set1_epi8(16), x.q), x.d};
  }
  static W load_w_tail(const char* row, int64_t s, int) { return load_w(row, s); }  // never called
  static X load_x_tail(const char* row, int64_t s, int) { return load_x(row, s); }
  static __m256 madd(__m256 acc, const W& w, const X& x) {
    const __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(w.q, x.q), x.corr16);
    const __m256i isum = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(w.d, x.d), acc);
  }
};

struct PolicyIQ4_NL {
  static constexpr int kStep = 32;
  static constexpr int64_t kStepBytes = sizeof(BlockIQ4_NL);
  struct W {
    __m256i q;  // codebook values (signed)
    __m256 d;
  };
  using X = XQ8_0;
  static W load_w(const char* row, int64_t s) {
    const BlockIQ4_NL* blk = reinterpret_cast<const BlockIQ4_NL*>(row) + s;
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
    return {_mm256_shuffle_epi8(table, unpack_nibbles(blk->qs)), _mm256_set1_ps(h2f(&blk->d))};
  }
  static X load_x(const char* row, int64_t s) { return load_q8_0(row, s); }
  static W load_w_tail(const char* row, int64_t s, int) { return load_w(row, s); }  // never called
  static X load_x_tail(const char* row, int64_t s, int) { return load_x(row, s); }
  static __m256 madd(__m256 acc, const W& w, const X& x) {
    const __m256i isum = isum_u8_s8(_mm256_sign_epi8(w.q, w.q), _mm256_sign_epi8(x.q, w.q));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(w.d, x.d), acc);
  }
};

}  // namespace

void quantize_row_q8_1_avx2(const float* x, void* dst, int64_t n) {
  BlockQ8_1* y = static_cast<BlockQ8_1*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    const float d = quantize_block_q8(x, y[b].qs);
    y[b].d = fp32_to_fp16(d);
    // sum of the 32 int8 values: (q + 128) summed with SAD against zero, minus 32 * 128.
    const __m256i u = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs)),
                                       _mm256_set1_epi8(static_cast<char>(0x80)));
    const __m256i sad = _mm256_sad_epu8(u, _mm256_setzero_si256());
    const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
    const int sum = static_cast<int>(_mm_cvtsi128_si32(s2) + _mm_extract_epi32(s2, 2)) - 32 * 128;
    y[b].s = fp32_to_fp16(static_cast<float>(sum) * d);
  }
}

void gemm_q4_1_avx2(const GemmArgs& a) { gemm<PolicyQ4_1, 2, 3>(a); }
void gemm_q5_1_avx2(const GemmArgs& a) { gemm<PolicyQ5_1, 2, 3>(a); }
void gemm_q5_0_avx2(const GemmArgs& a) { gemm<PolicyQ5_0, 2, 3>(a); }
void gemm_iq4_nl_avx2(const GemmArgs& a) { gemm<PolicyIQ4_NL, 2, 3>(a); }

}  // namespace kestrel::kernels
