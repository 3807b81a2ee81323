// NEON matmul kernels (AArch64 ASIMD + dot product), the twins of kernels/scalar/matmul_scalar.cpp:
//   Q8_0 / Q4_0: per block, SDOT (vdotq_s32) of the int8 weights (Q4_0 nibbles unpacked to [-8, 7])
//                with the Q8_0 activations, scaled by d_w * d_x and accumulated in F32 lanes.
//   F16:  weights and F16 activations widened to F32 (FCVTL), F32 FMA.
//   BF16: weights and BF16 activations widened by a 16-bit shift, F32 FMA.
//   F32:  F32 FMA.
// Tiling: one weight row against up to 4 token rows at once, so each weight block is loaded once per
// 4 tokens in prompt processing; decode (1 token) streams the weights through the same code.
// Activation converters write exactly the bytes of the scalar reference converters.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "kernels/matmul_isa.h"
#include "kernels/matmul_packed_half.h"
#include "kernels/matmul_q32.h"
#include "kernels/neon/gemm_rows_neon.h"
#include "kernels/quant.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

// ---- activation converters ----

void quantize_row_q8_0_neon(const float* x, void* dst, int64_t n) {
  BlockQ8_0* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    int8_t q[kQK];
    y[b].d = fp32_to_fp16(quantize_block_q8(x, q));
    std::memcpy(y[b].qs, q, kQK);
  }
}

void fp32_to_fp16_row_neon(const float* x, void* dst, int64_t n) {
  uint16_t* y = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t v = vld1q_f32(x + i);
    uint16x4_t h = vreinterpret_u16_f16(vcvt_f16_f32(v));  // RNE, overflow to inf, half subnormals
    // NaN: the reference writes sign | 0x7E00 whatever the payload; FCVTN keeps payload bits.
    const uint16x4_t is_nan = vmovn_u32(vmvnq_u32(vceqq_f32(v, v)));
    const uint16x4_t qnan = vorr_u16(vand_u16(h, vdup_n_u16(0x8000)), vdup_n_u16(0x7E00));
    h = vbsl_u16(is_nan, qnan, h);
    vst1_u16(y + i, h);
  }
  for (; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void fp32_to_bf16_row_neon(const float* x, void* dst, int64_t n) {
  uint16_t* y = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint32x4_t u = vreinterpretq_u32_f32(vld1q_f32(x + i));
    // RNE: (u + 0x7FFF + ((u >> 16) & 1)) >> 16; NaN: (u >> 16) | 0x40 (kept quiet).
    const uint32x4_t lsb = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1));
    const uint32x4_t rne = vshrq_n_u32(vaddq_u32(vaddq_u32(u, vdupq_n_u32(0x7FFF)), lsb), 16);
    const uint32x4_t nan = vorrq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(0x40));
    const uint32x4_t is_nan = vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7FFFFFFF)), vdupq_n_u32(0x7F800000));
    vst1_u16(y + i, vmovn_u32(vbslq_u32(is_nan, nan, rne)));
  }
  for (; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}

// ---- dot products of one weight row with NT activation rows ----

struct DotF32 {
  template <int NT>
  static void run(const char* wp, const char* const* xp, int64_t n, float* out) {
    const float* w = reinterpret_cast<const float*>(wp);
    float32x4_t a0[NT], a1[NT];
    for (int t = 0; t < NT; ++t) a0[t] = a1[t] = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const float32x4_t w0 = vld1q_f32(w + i), w1 = vld1q_f32(w + i + 4);
      for (int t = 0; t < NT; ++t) {
        const float* x = reinterpret_cast<const float*>(xp[t]);
        a0[t] = vfmaq_f32(a0[t], w0, vld1q_f32(x + i));
        a1[t] = vfmaq_f32(a1[t], w1, vld1q_f32(x + i + 4));
      }
    }
    for (int t = 0; t < NT; ++t) {
      const float* x = reinterpret_cast<const float*>(xp[t]);
      float s = vaddvq_f32(vaddq_f32(a0[t], a1[t]));
      for (int64_t j = i; j < n; ++j) s += w[j] * x[j];
      out[t] = s;
    }
  }
};

inline float32x4_t widen_f16(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
inline float32x4_t widen_bf16(const uint16_t* p) {
  return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

// F16 and BF16 differ only in how 4 halves are widened and how a tail element is converted.
template <float32x4_t (*Widen)(const uint16_t*), float (*ToF32)(uint16_t)>
struct DotHalf {
  template <int NT>
  static void run(const char* wp, const char* const* xp, int64_t n, float* out) {
    const uint16_t* w = reinterpret_cast<const uint16_t*>(wp);
    float32x4_t a0[NT], a1[NT];
    for (int t = 0; t < NT; ++t) a0[t] = a1[t] = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const float32x4_t w0 = Widen(w + i), w1 = Widen(w + i + 4);
      for (int t = 0; t < NT; ++t) {
        const uint16_t* x = reinterpret_cast<const uint16_t*>(xp[t]);
        a0[t] = vfmaq_f32(a0[t], w0, Widen(x + i));
        a1[t] = vfmaq_f32(a1[t], w1, Widen(x + i + 4));
      }
    }
    for (int t = 0; t < NT; ++t) {
      const uint16_t* x = reinterpret_cast<const uint16_t*>(xp[t]);
      float s = vaddvq_f32(vaddq_f32(a0[t], a1[t]));
      for (int64_t j = i; j < n; ++j) s += ToF32(w[j]) * ToF32(x[j]);
      out[t] = s;
    }
  }
};
using DotF16 = DotHalf<widen_f16, fp16_to_fp32>;
using DotBF16 = DotHalf<widen_bf16, bf16_to_fp32>;

// Q8_0 and Q4_0 differ only in how a weight block becomes 32 int8 values (two registers).
struct WeightsQ8_0 {
  static constexpr int64_t kBlockBytes = sizeof(BlockQ8_0);
  static void load(const char* blk, int8x16_t& w0, int8x16_t& w1) {
    const int8_t* qs = reinterpret_cast<const int8_t*>(blk + 2);
    w0 = vld1q_s8(qs);
    w1 = vld1q_s8(qs + 16);
  }
};
struct WeightsQ4_0 {
  static constexpr int64_t kBlockBytes = sizeof(BlockQ4_0);
  static void load(const char* blk, int8x16_t& w0, int8x16_t& w1) {
    // Byte j: element j in the low nibble, element j + 16 in the high nibble; values are nibble - 8.
    const uint8x16_t q = vld1q_u8(reinterpret_cast<const uint8_t*>(blk + 2));
    const int8x16_t eight = vdupq_n_s8(8);
    w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))), eight);
    w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
  }
};

template <class W>
struct DotQuant {
  template <int NT>
  static void run(const char* wp, const char* const* xp, int64_t n, float* out) {
    float32x4_t acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = vdupq_n_f32(0.0f);
    const int64_t nb = n / kQK;
    for (int64_t b = 0; b < nb; ++b) {
      const char* wb = wp + b * W::kBlockBytes;
      int8x16_t w0, w1;
      W::load(wb, w0, w1);
      const float dw = load_f16_scale(wb);
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

// Prompt batches of F16/BF16 weights: kernels/matmul_packed_half.h (f32 panels of 4 x 4 rows, 6-token
// tiles: 24 of the 32 q registers accumulate) with these widening functions (FCVTL / 16-bit shift).
template <float32x4_t (*Widen)(const uint16_t*), float (*ToF32)(uint16_t)>
void widen_half_neon(const char* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint16_t h[4];
    std::memcpy(h, src + 2 * i, 8);
    vst1q_f32(dst + i, Widen(h));
  }
  for (; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = ToF32(h);
  }
}
using PackedF16Neon = PackedHalfGemm<xsimd::neon64, 4, 6, widen_half_neon<widen_f16, fp16_to_fp32>>;
using PackedBF16Neon = PackedHalfGemm<xsimd::neon64, 4, 6, widen_half_neon<widen_bf16, bf16_to_fp32>>;

template <class Dot, class Packed>
void gemm_half(const GemmArgs& a) {
  if (a.n_tokens >= kPackedHalfMinTokens) Packed::run(a);
  else gemm<Dot>(a);
}

MatmulKernels make_table() {
  MatmulKernels k{};
  k.name = "neon";
  k.quantize_row_q8_0 = quantize_row_q8_0_neon;
  k.fp32_to_fp16_row = fp32_to_fp16_row_neon;
  k.fp32_to_bf16_row = fp32_to_bf16_row_neon;
  k.gemm_f32 = gemm<DotF32>;
  k.gemm_f16 = gemm_half<DotF16, PackedF16Neon>;
  k.gemm_bf16 = gemm_half<DotBF16, PackedBF16Neon>;
  k.gemm_q8_0 = gemm<DotQuant<WeightsQ8_0>>;
  k.gemm_q4_0 = gemm<DotQuant<WeightsQ4_0>>;
  k.quantize_row_q8_1 = quantize_row_q8_1_neon;
  k.gemm_q4_1 = gemm_q4_1_neon;
  k.gemm_q5_0 = gemm_q5_0_neon;
  k.gemm_q5_1 = gemm_q5_1_neon;
  k.gemm_iq4_nl = gemm_iq4_nl_neon;
  set_kquant_kernels_neon(k);
  set_lowbit_kernels_neon(k);
  return k;
}

}  // namespace

const MatmulKernels* neon_matmul_kernels() {
  static const MatmulKernels k = make_table();
  return &k;
}

}  // namespace kestrel::kernels
