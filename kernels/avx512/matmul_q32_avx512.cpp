// AVX-512 (VNNI) kernels for Q4_1 / Q5_0 / Q5_1 / IQ4_NL weights and the Q8_1 activation converter.
// Decode (few tokens): 4 rows per zmm (decode_rows4_avx512.h); the policies below (the generic
// dot-product tile of gemm_tile_avx512.h, two 32-value blocks per step: lanes 0-7 block b, lanes 8-15
// block b+1) take a job's last n_out % 4 rows. Prompt batches: the packed outer-product GEMM of
// gemm_packed_avx512.h (Q5_0 in llama.cpp's x86 order without AMX, PackedOrder::kX86Lanes). VPDPBUSD multiplies unsigned weight bytes with signed activations:
//   Q4_1 / Q5_1: values q in [0, 31] are unsigned as stored; the m_w * s_x term of each block is added
//     in lane 0 (block b) and lane 8 (block b+1) of the accumulator, whose lanes are summed at the end.
//   Q5_0: the unsigned 5-bit q is w + 16: the chain starts at -16 * sum(x) (per activation block).
//   IQ4_NL: VPSHUFB looks the nibbles up in the codebook shifted by +128 (unsigned, [1, 241]); the
//     chain starts at -128 * sum(x).
#include "kernels/avx512/decode_rows4_avx512.h"
#include "kernels/avx512/gemm_packed_avx512.h"
#include "kernels/avx512/gemm_tile_avx512.h"
#include "kernels/matmul_q32.h"
#include "kernels/quant_q32.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

// ---------------------------------------------------------------- unpacking one or two blocks

// Nibbles of blocks b (and b+1) in element order: [b 0-15, b 16-31, b+1 0-15, b+1 16-31].
__m512i nibbles2(const uint8_t* qs0, const uint8_t* qs1) {
  const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs0));
  const __m128i q1 = qs1 ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs1)) : _mm_setzero_si128();
  __m512i v = _mm512_mask_broadcast_i32x4(_mm512_broadcast_i32x4(q0), 0xFF00, q1);
  v = _mm512_mask_blend_epi64(0xCC, v, _mm512_srli_epi16(v, 4));
  return _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
}

// 0x10 in byte i where bit i of (qh1 << 32 | qh0) is set.
__m512i high_bits2(const uint8_t* qh0, const uint8_t* qh1) {
  uint32_t h0, h1 = 0;
  std::memcpy(&h0, qh0, 4);
  if (qh1) std::memcpy(&h1, qh1, 4);
  return _mm512_maskz_mov_epi8(_cvtu64_mask64(h0 | (uint64_t{h1} << 32)), _mm512_set1_epi8(0x10));
}

__m512i iq4_lookup(__m512i nibbles) {
  // kIq4nlValues + 128 as unsigned bytes, in every 128-bit lane.
  const __m128i t = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)), _mm_set1_epi8(static_cast<char>(0x80)));
  return _mm512_shuffle_epi8(_mm512_broadcast_i32x4(t), nibbles);
}

// [m_b, 0 x7, m_b+1, 0 x7]
__m512 two_lane_values(float a, float b) {
  return _mm512_maskz_mov_ps(0x0101, two_scales(a, b));
}

// Two Q8_1 activation blocks: 64 int8 values, scales and sums ([v_b x8, v_b+1 x8]).
template <bool kTwo>
void load_q8_1_pair(const char* row, int64_t b, __m512i* q, __m512* d, __m512* s) {
  const BlockQ8_1* blk = reinterpret_cast<const BlockQ8_1*>(row) + b;
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[0].qs));
  if constexpr (kTwo) {
    const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[1].qs));
    *q = _mm512_mask_broadcast_i64x4(_mm512_zextsi256_si512(lo), 0xF0, hi);
    *d = two_scales(h2f(&blk[0].d), h2f(&blk[1].d));
    *s = two_scales(h2f(&blk[0].s), h2f(&blk[1].s));
  } else {
    *q = _mm512_zextsi256_si512(lo);
    *d = two_scales(h2f(&blk[0].d), 0.0f);
    *s = two_scales(h2f(&blk[0].s), 0.0f);
  }
}

// ---------------------------------------------------------------- decode policies

template <class Block, bool kFive>
struct PolicyMin {  // Q4_1 (kFive = false), Q5_1
  static constexpr int kStep = 64;
  static constexpr int64_t kStepBytes = 2 * sizeof(Block);
  struct W {
    __m512i q;
    __m512 d, m;
  };
  struct X {
    __m512i q;
    __m512 d, s;
  };
  template <bool kTwo>
  static W load_w_impl(const char* row, int64_t b) {
    const Block* blk = reinterpret_cast<const Block*>(row) + b;
    W w;
    w.q = nibbles2(blk[0].qs, kTwo ? blk[1].qs : nullptr);
    if constexpr (kFive) w.q = _mm512_or_si512(w.q, high_bits2(blk[0].qh, kTwo ? blk[1].qh : nullptr));
    w.d = two_scales(h2f(&blk[0].d), kTwo ? h2f(&blk[1].d) : 0.0f);
    w.m = two_lane_values(h2f(&blk[0].m), kTwo ? h2f(&blk[1].m) : 0.0f);
    return w;
  }
  template <bool kTwo>
  static X load_x_impl(const char* row, int64_t b) {
    X x;
    load_q8_1_pair<kTwo>(row, b, &x.q, &x.d, &x.s);
    return x;
  }
  static W load_w(const char* row, int64_t s) { return load_w_impl<true>(row, 2 * s); }
  static X load_x(const char* row, int64_t s) { return load_x_impl<true>(row, 2 * s); }
  static W load_w_tail(const char* row, int64_t s, int) { return load_w_impl<false>(row, 2 * s); }
  static X load_x_tail(const char* row, int64_t s, int) { return load_x_impl<false>(row, 2 * s); }
  static __m512 madd(__m512 acc, const W& w, const X& x) {
    const __m512i isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w.q, x.q);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(w.d, x.d), acc);
    return _mm512_fmadd_ps(w.m, x.s, acc);
  }
};
using PolicyQ4_1 = PolicyMin<BlockQ4_1, false>;
using PolicyQ5_1 = PolicyMin<BlockQ5_1, true>;

// Q5_0 and IQ4_NL: unsigned bytes u = w + off against Q8_0 activations.
template <class Block, int kOff>
struct PolicyOffset {
  static constexpr int kStep = 64;
  static constexpr int64_t kStepBytes = 2 * sizeof(Block);
  struct W {
    __m512i q;
    __m512 d;
  };
  struct X {
    __m512i q;
    __m512i neg_corr;  // -off * sum(x) per dword lane: the accumulator input of VPDPBUSD
    __m512 d;
  };
  template <bool kTwo>
  static W load_w_impl(const char* row, int64_t b) {
    const Block* blk = reinterpret_cast<const Block*>(row) + b;
    W w;
    const __m512i n = nibbles2(blk[0].qs, kTwo ? blk[1].qs : nullptr);
    if constexpr (kOff == 16) w.q = _mm512_or_si512(n, high_bits2(blk[0].qh, kTwo ? blk[1].qh : nullptr));
    else w.q = iq4_lookup(n);
    w.d = two_scales(h2f(&blk[0].d), kTwo ? h2f(&blk[1].d) : 0.0f);
    return w;
  }
  template <bool kTwo>
  static X load_x_impl(const char* row, int64_t b) {
    X x;
    load_q8_pair<kTwo>(row, b, &x.q, &x.d);
    x.neg_corr = _mm512_sub_epi32(_mm512_setzero_si512(),
                                  _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(static_cast<char>(kOff)), x.q));
    return x;
  }
  static W load_w(const char* row, int64_t s) { return load_w_impl<true>(row, 2 * s); }
  static X load_x(const char* row, int64_t s) { return load_x_impl<true>(row, 2 * s); }
  // The missing block's activations are zero, so whatever its weight bytes are they add nothing.
  static W load_w_tail(const char* row, int64_t s, int) { return load_w_impl<false>(row, 2 * s); }
  static X load_x_tail(const char* row, int64_t s, int) { return load_x_impl<false>(row, 2 * s); }
  static __m512 madd(__m512 acc, const W& w, const X& x) {
    const __m512i isum = _mm512_dpbusd_epi32(x.neg_corr, w.q, x.q);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(w.d, x.d), acc);
  }
};
using PolicyQ5_0 = PolicyOffset<BlockQ5_0, 16>;
using PolicyIQ4_NL = PolicyOffset<BlockIQ4_NL, 128>;

// ---------------------------------------------------------------- packed GEMM unpackers (u = w + off)

void store_block(__m512i v, uint8_t* out) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm512_castsi512_si256(v)); }

void unpack_q4_1(const char* row, int64_t b, uint8_t* out, float* d, float* m) {
  const BlockQ4_1* blk = reinterpret_cast<const BlockQ4_1*>(row) + b;
  store_block(nibbles2(blk->qs, nullptr), out);
  *d = h2f(&blk->d);
  *m = h2f(&blk->m);
}
void unpack_q5_1(const char* row, int64_t b, uint8_t* out, float* d, float* m) {
  const BlockQ5_1* blk = reinterpret_cast<const BlockQ5_1*>(row) + b;
  store_block(_mm512_or_si512(nibbles2(blk->qs, nullptr), high_bits2(blk->qh, nullptr)), out);
  *d = h2f(&blk->d);
  *m = h2f(&blk->m);
}
void unpack_q5_0(const char* row, int64_t b, uint8_t* out, float* d, float*) {
  const BlockQ5_0* blk = reinterpret_cast<const BlockQ5_0*>(row) + b;
  store_block(_mm512_or_si512(nibbles2(blk->qs, nullptr), high_bits2(blk->qh, nullptr)), out);
  *d = h2f(&blk->d);
}
void unpack_iq4_nl(const char* row, int64_t b, uint8_t* out, float* d, float*) {
  const BlockIQ4_NL* blk = reinterpret_cast<const BlockIQ4_NL*>(row) + b;
  store_block(iq4_lookup(nibbles2(blk->qs, nullptr)), out);
  *d = h2f(&blk->d);
}

}  // namespace

void quantize_row_q8_1_avx512(const float* x, void* dst, int64_t n) {
  BlockQ8_1* y = static_cast<BlockQ8_1*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    const float d = quantize_block_q8(x, y[b].qs);
    y[b].d = fp32_to_fp16(d);
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs));
    const int sum = _mm512_reduce_add_epi32(_mm512_madd_epi16(_mm512_cvtepi8_epi16(q), _mm512_set1_epi16(1)));
    y[b].s = fp32_to_fp16(static_cast<float>(sum) * d);
  }
}

void gemm_q4_1_avx512(const GemmArgs& a) {
  if (a.n_tokens >= kPackedMinTokens) gemm_packed<unpack_q4_1, ActQ8_1, true>(a, 0);
  else gemm_rows4<Rows4Q4_1, PolicyQ4_1>(a);
}
void gemm_q5_1_avx512(const GemmArgs& a) {
  if (a.n_tokens >= kPackedMinTokens) gemm_packed<unpack_q5_1, ActQ8_1, true>(a, 0);
  else gemm_rows4<Rows4Q5_1, PolicyQ5_1>(a);
}
void gemm_q5_0_avx512(const GemmArgs& a) {
  if (a.n_tokens >= kPackedMinTokens) gemm_packed<unpack_q5_0, ActQ8_0, false, pack_panel<unpack_q5_0>, PackedOrder::kX86Lanes>(a, 16);
  else gemm_rows4<Rows4Q5_0, PolicyQ5_0>(a);
}
void gemm_iq4_nl_avx512(const GemmArgs& a) {
  if (a.n_tokens >= kPackedMinTokens) gemm_packed<unpack_iq4_nl, ActQ8_0, false>(a, 128);
  else gemm_rows4<Rows4IQ4_NL, PolicyIQ4_NL>(a);
}

}  // namespace kestrel::kernels
