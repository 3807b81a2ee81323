// NEON (+dotprod) Q2_K / Q3_K / IQ4_XS x Q8_K kernels (twins: kernels/scalar/matmul_lowbit_scalar.cpp).
//
// SDOT (vdotq_s32) takes signed bytes on both sides, so weights are unpacked to their signed levels
// once per row and super-block (shared by up to 4 tokens) and no offset correction is needed:
//   Q2_K:   levels 0..3 times the 4-bit sub-block scale fit in a byte (<= 45), so the scale is folded
//           into the weights (VMUL.8) and a super-block is 16 SDOTs into one accumulator; the min term
//           sum_j m_j * bsum_j is a 16-bit multiply-accumulate of the Q8_K bsums.
//   Q3_K:   levels -4..3 (times a scale of -32 would need 9 bits, so not folded): one SDOT per
//           16-value sub-block, then a multiply-accumulate by its scale.
//   IQ4_XS: grid values by TBL; two SDOTs per 32-value sub-block, multiply-accumulate by its scale.
// Each super-block's integer sum is reduced (ADDV) and scaled in scalar float with the scalar twin's
// formula and order, so results equal the scalar kernel's up to the compiler's FMA contraction.
#include <arm_neon.h>

#include <cstddef>
#include <cstring>

#include "kernels/matmul_isa.h"
#include "kernels/quant_q2k_q3k_iq4xs.h"

namespace kestrel::kernels {
namespace {

float h2f(const char* p) {
  __fp16 h;
  std::memcpy(&h, p, sizeof h);
  return static_cast<float>(h);
}

// 2-bit levels as 16 vectors of 16 (sub-block j = values 16j..16j+15).
void unpack_2bit(const uint8_t* qs, int8x16_t* q) {
  const uint8x16_t m3 = vdupq_n_u8(3);
  for (int h = 0; h < 2; ++h) {
    const uint8x16_t a = vld1q_u8(qs + 32 * h), b = vld1q_u8(qs + 32 * h + 16);
    for (int s = 0; s < 4; ++s) {
      const int g = 4 * h + s;
      const int8x16_t sh = vdupq_n_s8(static_cast<int8_t>(-2 * s));
      q[2 * g] = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(a, sh), m3));
      q[2 * g + 1] = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(b, sh), m3));
    }
  }
}

const BlockQ8_K* xblock(const char* row, int64_t b) { return reinterpret_cast<const BlockQ8_K*>(row) + b; }

struct KQ2 {
  static constexpr size_t kBlockBytes = sizeof(BlockQ2_K);
  struct Row {
    int8x16_t q[16];  // level * scale
    int16x8_t mins[2];
    float d, dmin;
  };
  static void load(const char* blk, Row& w) {
    const uint8_t* b = reinterpret_cast<const uint8_t*>(blk);
    unpack_2bit(b + offsetof(BlockQ2_K, qs), w.q);
    const uint8x16_t s = vld1q_u8(b + offsetof(BlockQ2_K, scales));
    for (int j = 0; j < 16; ++j)
      w.q[j] = vmulq_s8(w.q[j], vdupq_n_s8(static_cast<int8_t>(b[offsetof(BlockQ2_K, scales) + j] & 0xF)));
    const uint8x16_t m = vshrq_n_u8(s, 4);
    w.mins[0] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(m)));
    w.mins[1] = vreinterpretq_s16_u16(vmovl_high_u8(m));
    w.d = h2f(blk + offsetof(BlockQ2_K, d));
    w.dmin = h2f(blk + offsetof(BlockQ2_K, dmin));
  }
  static float dot(const Row& w, const BlockQ8_K* x) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int j = 0; j < 16; ++j) acc = vdotq_s32(acc, w.q[j], vld1q_s8(x->qs + 16 * j));
    const int16x8_t b0 = vld1q_s16(x->bsums), b1 = vld1q_s16(x->bsums + 8);
    int32x4_t m = vmull_s16(vget_low_s16(b0), vget_low_s16(w.mins[0]));
    m = vmlal_high_s16(m, b0, w.mins[0]);
    m = vmlal_s16(m, vget_low_s16(b1), vget_low_s16(w.mins[1]));
    m = vmlal_high_s16(m, b1, w.mins[1]);
    const float dall = x->d * w.d, dmin = x->d * w.dmin;
    return dall * static_cast<float>(vaddvq_s32(acc)) - dmin * static_cast<float>(vaddvq_s32(m));
  }
};

struct KQ3 {
  static constexpr size_t kBlockBytes = sizeof(BlockQ3_K);
  struct Row {
    int8x16_t q[16];
    int8_t sc[16];
    float d;
  };
  static void load(const char* blk, Row& w) {
    const uint8_t* b = reinterpret_cast<const uint8_t*>(blk);
    unpack_2bit(b + offsetof(BlockQ3_K, qs), w.q);
    // Value 32g + l has its high bit at hmask[l] bit g; a clear bit subtracts 4.
    const uint8x16_t h0 = vld1q_u8(b + offsetof(BlockQ3_K, hmask)), h1 = vld1q_u8(b + offsetof(BlockQ3_K, hmask) + 16);
    for (int g = 0; g < 8; ++g) {
      const uint8x16_t bit = vdupq_n_u8(static_cast<uint8_t>(1 << g));
      const uint8x16_t off0 = vandq_u8(vmvnq_u8(vtstq_u8(h0, bit)), vdupq_n_u8(4));
      const uint8x16_t off1 = vandq_u8(vmvnq_u8(vtstq_u8(h1, bit)), vdupq_n_u8(4));
      w.q[2 * g] = vsubq_s8(w.q[2 * g], vreinterpretq_s8_u8(off0));
      w.q[2 * g + 1] = vsubq_s8(w.q[2 * g + 1], vreinterpretq_s8_u8(off1));
    }
    q3_K_scales(blk, w.sc);
    w.d = h2f(blk + offsetof(BlockQ3_K, d));
  }
  static float dot(const Row& w, const BlockQ8_K* x) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int j = 0; j < 16; ++j)
      acc = vmlaq_n_s32(acc, vdotq_s32(vdupq_n_s32(0), w.q[j], vld1q_s8(x->qs + 16 * j)), w.sc[j]);
    return (w.d * x->d) * static_cast<float>(vaddvq_s32(acc));
  }
};

struct KIQ4XS {
  static constexpr size_t kBlockBytes = sizeof(BlockIQ4_XS);
  struct Row {
    int8x16_t v[16];  // values 16j..16j+15
    int8_t sc[8];
    float d;
  };
  static void load(const char* blk, Row& w) {
    const uint8_t* qs = reinterpret_cast<const uint8_t*>(blk) + offsetof(BlockIQ4_XS, qs);
    const int8x16_t table = vld1q_s8(kIq4nlValues);
    for (int ib = 0; ib < 8; ++ib) {
      const uint8x16_t q = vld1q_u8(qs + 16 * ib);
      w.v[2 * ib] = vqtbl1q_s8(table, vandq_u8(q, vdupq_n_u8(0x0F)));
      w.v[2 * ib + 1] = vqtbl1q_s8(table, vshrq_n_u8(q, 4));
    }
    iq4_xs_scales(blk, w.sc);
    w.d = h2f(blk + offsetof(BlockIQ4_XS, d));
  }
  static float dot(const Row& w, const BlockQ8_K* x) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int ib = 0; ib < 8; ++ib) {
      int32x4_t s = vdotq_s32(vdupq_n_s32(0), w.v[2 * ib], vld1q_s8(x->qs + 32 * ib));
      s = vdotq_s32(s, w.v[2 * ib + 1], vld1q_s8(x->qs + 32 * ib + 16));
      acc = vmlaq_n_s32(acc, s, w.sc[ib]);
    }
    return (w.d * x->d) * static_cast<float>(vaddvq_s32(acc));
  }
};

constexpr int kTokenTile = 4;

// One weight row against up to kTokenTile tokens: each super-block is unpacked once per T tokens.
template <class K, int T>
void row_tokens(const GemmArgs& a, int64_t r, int64_t t0) {
  const char* wr = static_cast<const char*>(a.w) + r * a.w_row_bytes;
  float s[T] = {};
  typename K::Row w;
  for (int64_t b = 0; b < a.n_in / kQK_K; ++b) {
    K::load(wr + b * K::kBlockBytes, w);
    for (int t = 0; t < T; ++t) s[t] += K::dot(w, xblock(static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes, b));
  }
  for (int t = 0; t < T; ++t) a.y[(t0 + t) * a.ldy + r] = s[t];
}

template <class K>
void gemm(const GemmArgs& a) {
  for (int64_t r = a.row_begin; r < a.row_end; ++r) {
    int64_t t0 = 0;
    for (; t0 + kTokenTile <= a.n_tokens; t0 += kTokenTile) row_tokens<K, kTokenTile>(a, r, t0);
    switch (a.n_tokens - t0) {
      case 1: row_tokens<K, 1>(a, r, t0); break;
      case 2: row_tokens<K, 2>(a, r, t0); break;
      case 3: row_tokens<K, 3>(a, r, t0); break;
      default: break;
    }
  }
}

}  // namespace

void set_lowbit_kernels_neon(MatmulKernels& k) {
  k.gemm_q2_K = gemm<KQ2>;
  k.gemm_q3_K = gemm<KQ3>;
  k.gemm_iq4_xs = gemm<KIQ4XS>;
}

}  // namespace kestrel::kernels
