// NEON + dot-product K-quant kernels: Q4_K, Q5_K, Q6_K weights x Q8_K activations, and the Q8_K
// converter. The twins are kernels/scalar/matmul_kquants_scalar.cpp.
//
// A super-block is unpacked once into 16 registers of 16 values (unsigned 0..63, so they are valid
// int8) in natural order, shared by up to 4 tokens. Per sub-block SDOT (vdotq_s32) gives 4 int32
// partial sums, multiplied by the sub-block scale into the super-block's integer sum (MLA by scalar).
// The min (Q4_K/Q5_K) or -32 offset (Q6_K) correction is sum_k sub[k] * bsums[k] over the activation
// block's 16 sums, so per token and super-block: acc += isum * (d*dx) - corr * (dsub*dx).
#include <arm_neon.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/matmul_isa.h"
#include "kernels/quant_k.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

float h2f(const void* p) {
  __fp16 h;
  std::memcpy(&h, p, sizeof h);
  return static_cast<float>(h);
}

// ---------------------------------------------------------------- Q8_K activation converter

void quantize_row_q8_K_neon(const float* x, void* dst, int64_t n) {
  BlockQ8_K* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int i = 0; i < kQK_K; i += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + i)));
    const float amax = vmaxvq_f32(m);
    if (!amax) {
      std::memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    float max = 0;  // the first value whose magnitude is amax (the reference's choice), with its sign
    for (int i = 0; i < kQK_K; ++i)
      if (std::fabs(x[i]) == amax) {
        max = x[i];
        break;
      }
    const float iscale = -127.f / max;
    for (int k = 0; k < 16; ++k) {
      // nearest_int = round half to even of the single-rounded product (FCVTNS).
      int16x8_t h[2];
      for (int j = 0; j < 2; ++j) {
        const int32x4_t q0 = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 16 * k + 8 * j), iscale)), vdupq_n_s32(127));
        const int32x4_t q1 = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 16 * k + 8 * j + 4), iscale)), vdupq_n_s32(127));
        h[j] = vcombine_s16(vmovn_s32(q0), vmovn_s32(q1));
      }
      vst1q_s8(y[b].qs + 16 * k, vcombine_s8(vmovn_s16(h[0]), vmovn_s16(h[1])));
      y[b].bsums[k] = static_cast<int16_t>(vaddvq_s16(vaddq_s16(h[0], h[1])));
    }
    y[b].d = 1 / iscale;
  }
}

// ---------------------------------------------------------------- per-type super-block unpacking

struct Unpacked {
  int8x16_t v[16];   // values 16g .. 16g + 15
  int32_t sc[16];    // scale of group g (Q4_K/Q5_K: of its 32-value sub-block g / 2)
  int16_t sub[16];   // factor of bsums[k]
  float d, dsub;
};

void k4_scales(const uint8_t* packed, Unpacked* u) {
  uint8_t sc[8], m[8];
  unpack_scales_mins_k4(packed, sc, m);
  for (int g = 0; g < 16; ++g) {
    u->sc[g] = sc[g / 2];
    u->sub[g] = m[g / 2];
  }
}

// Group g of Q4_K/Q5_K nibbles: chunk g / 4, bytes 16 (g % 2) .. of it, low nibbles for g % 4 < 2.
uint8x16_t k4_nibbles(const uint8_t* qs, int g) {
  const uint8x16_t q = vld1q_u8(qs + 32 * (g / 4) + 16 * (g % 2));
  return (g % 4) < 2 ? vandq_u8(q, vdupq_n_u8(0x0F)) : vshrq_n_u8(q, 4);
}

void unpack_q4_K(const char* row, int64_t b, Unpacked* u) {
  BlockQ4_K blk;
  std::memcpy(&blk, row + b * static_cast<int64_t>(sizeof blk), sizeof blk);
  for (int g = 0; g < 16; ++g) u->v[g] = vreinterpretq_s8_u8(k4_nibbles(blk.qs, g));
  k4_scales(blk.scales, u);
  u->d = h2f(&blk.d);
  u->dsub = h2f(&blk.dmin);
}

void unpack_q5_K(const char* row, int64_t b, Unpacked* u) {
  BlockQ5_K blk;
  std::memcpy(&blk, row + b * static_cast<int64_t>(sizeof blk), sizeof blk);
  const uint8x16_t qh[2] = {vld1q_u8(blk.qh), vld1q_u8(blk.qh + 16)};
  for (int g = 0; g < 16; ++g) {
    // Fifth bit of value 16g + l: bit g / 2 of qh[16 (g % 2) + l].
    const uint8x16_t bit = vandq_u8(vshlq_u8(qh[g % 2], vdupq_n_s8(static_cast<int8_t>(4 - g / 2))), vdupq_n_u8(0x10));
    u->v[g] = vreinterpretq_s8_u8(vorrq_u8(k4_nibbles(blk.qs, g), bit));
  }
  k4_scales(blk.scales, u);
  u->d = h2f(&blk.d);
  u->dsub = h2f(&blk.dmin);
}

void unpack_q6_K(const char* row, int64_t b, Unpacked* u) {
  BlockQ6_K blk;
  std::memcpy(&blk, row + b * static_cast<int64_t>(sizeof blk), sizeof blk);
  for (int g = 0; g < 16; ++g) {
    // Value 16g + l: half h, quarter q (which 32 of the 128), and 16-byte part r of that quarter.
    const int h = g / 8, q = (g % 8) / 2, r = g % 2;
    const uint8x16_t l = vld1q_u8(blk.ql + 64 * h + 32 * (q & 1) + 16 * r);
    const uint8x16_t hb = vld1q_u8(blk.qh + 32 * h + 16 * r);
    const uint8x16_t lo = q < 2 ? vandq_u8(l, vdupq_n_u8(0x0F)) : vshrq_n_u8(l, 4);
    const uint8x16_t hi = vandq_u8(vshlq_u8(hb, vdupq_n_s8(static_cast<int8_t>(4 - 2 * q))), vdupq_n_u8(0x30));
    u->v[g] = vreinterpretq_s8_u8(vorrq_u8(lo, hi));
    u->sc[g] = blk.scales[g];
    u->sub[g] = blk.scales[g];
  }
  u->d = h2f(&blk.d);
  u->dsub = 32.0f * u->d;
}

// ---------------------------------------------------------------- tiles

using UnpackFn = void (*)(const char*, int64_t, Unpacked*);

template <UnpackFn Unpack, bool kIntOffset, int T>
void row_tile(const GemmArgs& a, int64_t r, int64_t t0) {
  const char* w = static_cast<const char*>(a.w) + r * a.w_row_bytes;
  const BlockQ8_K* x[T];
  for (int t = 0; t < T; ++t) x[t] = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes);
  float32x4_t acc[T];
  for (int t = 0; t < T; ++t) acc[t] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < a.n_in / kQK_K; ++b) {
    Unpacked u;
    Unpack(w, b, &u);
    const int16x8_t sub0 = vld1q_s16(u.sub), sub1 = vld1q_s16(u.sub + 8);
    for (int t = 0; t < T; ++t) {
      const BlockQ8_K& xb = x[t][b];
      int32x4_t isum = vdupq_n_s32(0);
      for (int g = 0; g < 16; ++g) {
        const int32x4_t dot = vdotq_s32(vdupq_n_s32(0), u.v[g], vld1q_s8(xb.qs + 16 * g));
        isum = vmlaq_n_s32(isum, dot, u.sc[g]);
      }
      const int16x8_t bs0 = vld1q_s16(xb.bsums), bs1 = vld1q_s16(xb.bsums + 8);
      int32x4_t corr = vmull_s16(vget_low_s16(bs0), vget_low_s16(sub0));
      corr = vmlal_s16(corr, vget_high_s16(bs0), vget_high_s16(sub0));
      corr = vmlal_s16(corr, vget_low_s16(bs1), vget_low_s16(sub1));
      corr = vmlal_s16(corr, vget_high_s16(bs1), vget_high_s16(sub1));
      if constexpr (kIntOffset) {
        // Q6_K: the -32 offset in integers (exact; both terms are ~30x the result).
        acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(vsubq_s32(isum, vshlq_n_s32(corr, 5))), u.d * xb.d);
      } else {
        acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(isum), u.d * xb.d);
        acc[t] = vfmsq_n_f32(acc[t], vcvtq_f32_s32(corr), u.dsub * xb.d);
      }
    }
  }
  for (int t = 0; t < T; ++t) a.y[(t0 + t) * a.ldy + r] = vaddvq_f32(acc[t]);
}

template <UnpackFn Unpack, bool kIntOffset = false>
void gemm(const GemmArgs& a) {
  for (int64_t t0 = 0; t0 < a.n_tokens; t0 += 4) {
    const int64_t nt = a.n_tokens - t0 < 4 ? a.n_tokens - t0 : 4;
    for (int64_t r = a.row_begin; r < a.row_end; ++r) {
      switch (nt) {
        case 4: row_tile<Unpack, kIntOffset, 4>(a, r, t0); break;
        case 3: row_tile<Unpack, kIntOffset, 3>(a, r, t0); break;
        case 2: row_tile<Unpack, kIntOffset, 2>(a, r, t0); break;
        default: row_tile<Unpack, kIntOffset, 1>(a, r, t0); break;
      }
    }
  }
}

}  // namespace

void set_kquant_kernels_neon(MatmulKernels& k) {
  k.quantize_row_q8_K = quantize_row_q8_K_neon;
  k.gemm_q4_K = gemm<unpack_q4_K>;
  k.gemm_q5_K = gemm<unpack_q5_K>;
  k.gemm_q6_K = gemm<unpack_q6_K, true>;
}

}  // namespace kestrel::kernels
