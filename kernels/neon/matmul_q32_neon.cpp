// NEON (dotprod) kernels for Q4_1 / Q5_0 / Q5_1 / IQ4_NL weights and the Q8_1 activation converter.
// Per block, the 32 weight values become two int8x16 registers in element order, SDOT (vdotq_s32)
// multiplies them with the activations, and the block's integer sum is scaled by d_w * d_x into F32
// lanes; Q4_1/Q5_1 add m_w * s_x per block. Q5_0 values are q - 16 in [-16, 15]; Q4_1/Q5_1 values
// q in [0, 31]; IQ4_NL values are looked up in the codebook with TBL. Tiling: gemm_rows_neon.h.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "kernels/matmul_q32.h"
#include "kernels/neon/gemm_rows_neon.h"
#include "kernels/quant_q32.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

// Low nibbles (elements 0-15) and high nibbles (16-31) of a 16-byte nibble array.
inline void nibbles(const uint8_t* qs, uint8x16_t& lo, uint8x16_t& hi) {
  const uint8x16_t q = vld1q_u8(qs);
  lo = vandq_u8(q, vdupq_n_u8(0x0F));
  hi = vshrq_n_u8(q, 4);
}

// 0x10 in byte j where bit j of the 16 bits (b0 | b1 << 8) is set.
inline uint8x16_t bits_to_0x10(uint8_t b0, uint8_t b1) {
  static const uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t v = vcombine_u8(vdup_n_u8(b0), vdup_n_u8(b1));
  return vandq_u8(vtstq_u8(v, vld1q_u8(kBit)), vdupq_n_u8(0x10));
}

inline void five_bit(const uint8_t* qs, const uint8_t* qh, uint8x16_t& lo, uint8x16_t& hi) {
  nibbles(qs, lo, hi);
  lo = vorrq_u8(lo, bits_to_0x10(qh[0], qh[1]));
  hi = vorrq_u8(hi, bits_to_0x10(qh[2], qh[3]));
}

struct WeightsQ4_1 {
  static constexpr int64_t kBlockBytes = sizeof(BlockQ4_1);
  static void load(const char* blk, int8x16_t& w0, int8x16_t& w1, float& d, float& m) {
    uint8x16_t lo, hi;
    nibbles(reinterpret_cast<const uint8_t*>(blk + 4), lo, hi);
    w0 = vreinterpretq_s8_u8(lo);
    w1 = vreinterpretq_s8_u8(hi);
    d = load_f16_scale(blk);
    m = load_f16_scale(blk + 2);
  }
};
struct WeightsQ5_1 {
  static constexpr int64_t kBlockBytes = sizeof(BlockQ5_1);
  static void load(const char* blk, int8x16_t& w0, int8x16_t& w1, float& d, float& m) {
    uint8x16_t lo, hi;
    const uint8_t* b = reinterpret_cast<const uint8_t*>(blk);
    five_bit(b + 8, b + 4, lo, hi);
    w0 = vreinterpretq_s8_u8(lo);
    w1 = vreinterpretq_s8_u8(hi);
    d = load_f16_scale(blk);
    m = load_f16_scale(blk + 2);
  }
};
struct WeightsQ5_0 {
  static constexpr int64_t kBlockBytes = sizeof(BlockQ5_0);
  static void load(const char* blk, int8x16_t& w0, int8x16_t& w1, float& d) {
    uint8x16_t lo, hi;
    const uint8_t* b = reinterpret_cast<const uint8_t*>(blk);
    five_bit(b + 6, b + 2, lo, hi);
    const int8x16_t sixteen = vdupq_n_s8(16);
    w0 = vsubq_s8(vreinterpretq_s8_u8(lo), sixteen);
    w1 = vsubq_s8(vreinterpretq_s8_u8(hi), sixteen);
    d = load_f16_scale(blk);
  }
};
struct WeightsIQ4_NL {
  static constexpr int64_t kBlockBytes = sizeof(BlockIQ4_NL);
  static void load(const char* blk, int8x16_t& w0, int8x16_t& w1, float& d) {
    uint8x16_t lo, hi;
    nibbles(reinterpret_cast<const uint8_t*>(blk + 2), lo, hi);
    const int8x16_t table = vld1q_s8(kIq4nlValues);
    w0 = vqtbl1q_s8(table, lo);
    w1 = vqtbl1q_s8(table, hi);
    d = load_f16_scale(blk);
  }
};

// Weights against Q8_0 activations (34-byte blocks, values at +2).
template <class W>
struct DotQ8_0 {
  template <int NT>
  static void run(const char* wp, const char* const* xp, int64_t n, float* out) {
    float32x4_t acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < n / kQK; ++b) {
      int8x16_t w0, w1;
      float dw;
      W::load(wp + b * W::kBlockBytes, w0, w1, dw);
      for (int t = 0; t < NT; ++t) {
        const char* xb = xp[t] + b * static_cast<int64_t>(sizeof(BlockQ8_0));
        const int8_t* xq = reinterpret_cast<const int8_t*>(xb + 2);
        int32x4_t s = vdotq_s32(vdupq_n_s32(0), w0, vld1q_s8(xq));
        s = vdotq_s32(s, w1, vld1q_s8(xq + 16));
        acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(s), dw * load_f16_scale(xb));
      }
    }
    for (int t = 0; t < NT; ++t) out[t] = vaddvq_f32(acc[t]);
  }
};

// Weights with a minimum against Q8_1 activations (36-byte blocks: d, s, values at +4).
template <class W>
struct DotQ8_1 {
  template <int NT>
  static void run(const char* wp, const char* const* xp, int64_t n, float* out) {
    float32x4_t acc[NT];
    float macc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = vdupq_n_f32(0.0f), macc[t] = 0.0f;
    for (int64_t b = 0; b < n / kQK; ++b) {
      int8x16_t w0, w1;
      float dw, mw;
      W::load(wp + b * W::kBlockBytes, w0, w1, dw, mw);
      for (int t = 0; t < NT; ++t) {
        const char* xb = xp[t] + b * static_cast<int64_t>(sizeof(BlockQ8_1));
        const int8_t* xq = reinterpret_cast<const int8_t*>(xb + 4);
        int32x4_t s = vdotq_s32(vdupq_n_s32(0), w0, vld1q_s8(xq));
        s = vdotq_s32(s, w1, vld1q_s8(xq + 16));
        acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(s), dw * load_f16_scale(xb));
        macc[t] += mw * load_f16_scale(xb + 2);
      }
    }
    for (int t = 0; t < NT; ++t) out[t] = vaddvq_f32(acc[t]) + macc[t];
  }
};

}  // namespace

void quantize_row_q8_1_neon(const float* x, void* dst, int64_t n) {
  BlockQ8_1* y = static_cast<BlockQ8_1*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    int8_t q[kQK];
    const float d = quantize_block_q8(x, q);
    std::memcpy(y[b].qs, q, kQK);
    const int16x8_t s16 = vaddq_s16(vpaddlq_s8(vld1q_s8(q)), vpaddlq_s8(vld1q_s8(q + 16)));
    const int sum = vaddlvq_s16(s16);
    y[b].d = fp32_to_fp16(d);
    y[b].s = fp32_to_fp16(static_cast<float>(sum) * d);
  }
}

void gemm_q4_1_neon(const GemmArgs& a) { gemm<DotQ8_1<WeightsQ4_1>>(a); }
void gemm_q5_1_neon(const GemmArgs& a) { gemm<DotQ8_1<WeightsQ5_1>>(a); }
void gemm_q5_0_neon(const GemmArgs& a) { gemm<DotQ8_0<WeightsQ5_0>>(a); }
void gemm_iq4_nl_neon(const GemmArgs& a) { gemm<DotQ8_0<WeightsIQ4_NL>>(a); }

}  // namespace kestrel::kernels
