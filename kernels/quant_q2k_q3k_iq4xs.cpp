// Reference Q2_K / Q3_K / IQ4_XS conversions. The quantizers reproduce llama.cpp's no-imatrix path
// (quantize_row_q2_K_ref, quantize_row_q3_K_ref, quantize_iq4_xs with no weights) step for step: the
// same float operations in the same order (this file is built with -ffp-contract=off so no FMA fuses
// two roundings into one), the same integer truncations, and the same quirks (e.g. a Q3_K sub-block
// whose scale rounds to zero keeps its first-pass levels). Any change here changes file bytes.
#include "kernels/quant_q2k_q3k_iq4xs.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "kernels/quant_fit.h"
#include "kernels/quant_q32.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {

const int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

namespace {

// Signed scale for n values on levels -nmax..nmax-1 refined by coordinate descent on an x^2-weighted
// error (ggml's make_q3_quants with do_rmse). Levels + nmax go to L.
float fit_scale_symmetric_descent(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  const float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx > 0) {
        float sl2 = suml2 - w * L[i] * L[i];
        const int new_l = std::clamp(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
        if (new_l != L[i]) {
          slx += w * x[i] * new_l;
          sl2 += w * new_l * new_l;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (n_changed == 0) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// 2-bit levels of elements 0..255 into the qs layout shared by Q2_K and Q3_K.
template <class Level>
void pack_2bit(const Level* L, uint8_t* qs) {
  for (int h = 0; h < kQK_K; h += 128)
    for (int l = 0; l < 32; ++l)
      qs[h / 4 + l] = static_cast<uint8_t>(L[h + l] | (L[h + l + 32] << 2) | (L[h + l + 64] << 4) | (L[h + l + 96] << 6));
}

int q2_level(const uint8_t* qs, int e) { return (qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3; }

}  // namespace

void q3_K_scales(const void* block, int8_t out[16]) {
  // Words of 4 scales at once (little-endian): scale j's low nibble is byte j % 8 of the first 8
  // bytes (high nibble for j >= 8), its high 2 bits byte j % 4 of the last 4 at bit 2 * (j / 4).
  const uint8_t* s = static_cast<const uint8_t*>(block) + offsetof(BlockQ3_K, scales);
  uint32_t a0, a1, h;
  std::memcpy(&a0, s, 4);
  std::memcpy(&a1, s + 4, 4);
  std::memcpy(&h, s + 8, 4);
  constexpr uint32_t kLo4 = 0x0F0F0F0Fu, kLo2 = 0x03030303u;
  const uint32_t w[4] = {(a0 & kLo4) | ((h & kLo2) << 4), (a1 & kLo4) | (((h >> 2) & kLo2) << 4),
                         ((a0 >> 4) & kLo4) | (((h >> 4) & kLo2) << 4), ((a1 >> 4) & kLo4) | (((h >> 6) & kLo2) << 4)};
  uint8_t u[16];
  std::memcpy(u, w, sizeof u);
  for (int j = 0; j < 16; ++j) out[j] = static_cast<int8_t>(u[j] - 32);
}

void iq4_xs_scales(const void* block, int8_t out[8]) {
  const uint8_t* b = static_cast<const uint8_t*>(block);
  uint16_t h;
  std::memcpy(&h, b + offsetof(BlockIQ4_XS, scales_h), 2);
  const uint8_t* l = b + offsetof(BlockIQ4_XS, scales_l);
  for (int ib = 0; ib < 8; ++ib) {
    const int ls = ((l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((h >> (2 * ib)) & 3) << 4);
    out[ib] = static_cast<int8_t>(ls - 32);
  }
}

void quantize_row_q2_K_ref(const float* x, BlockQ2_K* y, int64_t n) {
  constexpr float kQ4Scale = 15.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    BlockQ2_K& o = y[b];
    uint8_t L[kQK_K];
    float scales[16], mins[16], w[16];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) w[l] = std::fabs(x[16 * j + l]);
      scales[j] = fit_scale_min(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, FitError::kAbsolute);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
      const float iscale = kQ4Scale / max_scale;
      for (int j = 0; j < 16; ++j) o.scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
      o.d = fp32_to_fp16(max_scale / kQ4Scale);
    } else {
      for (int j = 0; j < 16; ++j) o.scales[j] = 0;
      o.d = fp32_to_fp16(0.0f);
    }
    if (max_min > 0) {
      const float iscale = kQ4Scale / max_min;
      for (int j = 0; j < 16; ++j) o.scales[j] = static_cast<uint8_t>(o.scales[j] | (nearest_int(iscale * mins[j]) << 4));
      o.dmin = fp32_to_fp16(max_min / kQ4Scale);
    } else {
      o.dmin = fp32_to_fp16(0.0f);
    }
    // Requantize against the stored (fp16, 4-bit) scales; a zero scale keeps the first-pass levels.
    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_fp32(o.d) * (o.scales[j] & 0xF);
      if (d == 0.0f) continue;
      const float dm = fp16_to_fp32(o.dmin) * (o.scales[j] >> 4);
      for (int i = 0; i < 16; ++i) L[16 * j + i] = static_cast<uint8_t>(std::clamp(nearest_int((x[16 * j + i] + dm) / d), 0, 3));
    }
    pack_2bit(L, o.qs);
  }
}

void quantize_row_q3_K_ref(const float* x, BlockQ3_K* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    BlockQ3_K& o = y[b];
    int8_t L[kQK_K];
    float scales[16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = fit_scale_symmetric_descent(16, 4, x + 16 * j, L + 16 * j);
      const float s = std::fabs(scales[j]);
      if (s > amax) {
        amax = s;
        max_scale = scales[j];
      }
    }
    std::memset(o.scales, 0, sizeof o.scales);
    if (max_scale != 0.0f) {
      const float iscale = -32.0f / max_scale;
      for (int j = 0; j < 16; ++j) {
        // ggml stores nearest_int into an int8_t before clamping; |iscale * scale| <= 32 so no wrap.
        const int l = std::clamp<int>(static_cast<int8_t>(nearest_int(iscale * scales[j])), -32, 31) + 32;
        if (j < 8) o.scales[j] = static_cast<uint8_t>(l & 0xF);
        else o.scales[j - 8] = static_cast<uint8_t>(o.scales[j - 8] | ((l & 0xF) << 4));
        o.scales[j % 4 + 8] = static_cast<uint8_t>(o.scales[j % 4 + 8] | ((l >> 4) << (2 * (j / 4))));
      }
      o.d = fp32_to_fp16(1 / iscale);
    } else {
      o.d = fp32_to_fp16(0.0f);
    }
    int8_t sc[16];
    q3_K_scales(&o, sc);
    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_fp32(o.d) * sc[j];
      if (d == 0.0f) continue;  // keeps the levels of fit_scale_symmetric_descent (ggml does the same)
      for (int i = 0; i < 16; ++i) L[16 * j + i] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * j + i] / d), -4, 3) + 4);
    }
    std::memset(o.hmask, 0, sizeof o.hmask);
    for (int e = 0; e < kQK_K; ++e) {
      if (L[e] > 3) {
        o.hmask[e % 32] = static_cast<uint8_t>(o.hmask[e % 32] | (1 << (e / 32)));
        L[e] = static_cast<int8_t>(L[e] - 4);
      }
    }
    pack_2bit(L, o.qs);
  }
}

void quantize_row_iq4_xs_ref(const float* x, BlockIQ4_XS* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    BlockIQ4_XS& o = y[b];
    uint8_t L[kQK_K];
    float scales[8];
    std::memset(o.qs, 0, sizeof o.qs);
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < 8; ++ib) {
      // Each sub-block is fitted exactly as an IQ4_NL block (kernels/quant_q32.cpp).
      const float d = scales[ib] = iq4_nl_block_scale(x + 32 * ib);
      if (std::fabs(d) > amax_scale) {
        amax_scale = std::fabs(d);
        max_scale = d;
      }
    }
    // One fp16 super-scale; the 6-bit sub-scales and the levels use the unrounded float d (as ggml).
    o.scales_h = 0;
    const float d = -max_scale / 32;
    o.d = fp32_to_fp16(d);
    const float id = d != 0.0f ? 1 / d : 0.0f;
    for (int ib = 0; ib < 8; ++ib) {
      const int l = std::clamp(nearest_int(id * scales[ib]), -32, 31);
      const float dl = d * l;
      const float idl = dl != 0.0f ? 1 / dl : 0.0f;
      for (int j = 0; j < 32; ++j) L[32 * ib + j] = static_cast<uint8_t>(iq4_nl_nearest(idl * x[32 * ib + j]));
      const int ls = l + 32;
      if (ib % 2 == 0) o.scales_l[ib / 2] = static_cast<uint8_t>(ls & 0xF);
      else o.scales_l[ib / 2] = static_cast<uint8_t>(o.scales_l[ib / 2] | ((ls & 0xF) << 4));
      o.scales_h = static_cast<uint16_t>(o.scales_h | ((ls >> 4) << (2 * ib)));
    }
    for (int ib = 0; ib < 8; ++ib)
      for (int j = 0; j < 16; ++j) o.qs[16 * ib + j] = static_cast<uint8_t>(L[32 * ib + j] | (L[32 * ib + 16 + j] << 4));
  }
}

void dequantize_row_q2_K(const BlockQ2_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, y += kQK_K) {
    const float d = fp16_to_fp32(x[b].d), dmin = fp16_to_fp32(x[b].dmin);
    for (int e = 0; e < kQK_K; ++e) {
      const uint8_t sc = x[b].scales[e / 16];
      const float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
      y[e] = dl * q2_level(x[b].qs, e) - ml;
    }
  }
}

void dequantize_row_q3_K(const BlockQ3_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, y += kQK_K) {
    const float d = fp16_to_fp32(x[b].d);
    int8_t sc[16];
    q3_K_scales(&x[b], sc);
    for (int e = 0; e < kQK_K; ++e) {
      const int hbit = (x[b].hmask[e % 32] >> (e / 32)) & 1;
      const float dl = d * sc[e / 16];
      y[e] = dl * (q2_level(x[b].qs, e) - (hbit ? 0 : 4));
    }
  }
}

void dequantize_row_iq4_xs(const BlockIQ4_XS* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, y += kQK_K) {
    const float d = fp16_to_fp32(x[b].d);
    int8_t sc[8];
    iq4_xs_scales(&x[b], sc);
    for (int ib = 0; ib < 8; ++ib) {
      const float dl = d * sc[ib];
      const uint8_t* qs = x[b].qs + 16 * ib;
      for (int j = 0; j < 16; ++j) {
        y[32 * ib + j] = dl * kIq4nlValues[qs[j] & 0xF];
        y[32 * ib + j + 16] = dl * kIq4nlValues[qs[j] >> 4];
      }
    }
  }
}

}  // namespace kestrel::kernels
