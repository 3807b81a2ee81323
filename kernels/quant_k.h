#pragma once
// ggml's K-quant block layouts (super-blocks of 256 values) and their reference (scalar) conversions.
// Bit-exact with ggml-common.h; the quantizers are byte-identical to llama.cpp's reference quantizers
// without importance matrix (quantize_row_q4_K_ref etc.), which is what `llama-quantize` writes when
// no imatrix is given. Declarations only (no inline code) so ISA-specific translation units can
// include this header safely (see quant.h).
#include <cstdint>

namespace kestrel::kernels {

constexpr int kQK_K = 256;        // values per K-quant super-block
constexpr int kKScaleSize = 12;   // bytes of packed 6-bit scales + mins (Q4_K, Q5_K)

// Q4_K: 8 sub-blocks of 32 values, each with a 6-bit scale sc_j and 6-bit min m_j:
//   x = d * sc_j * q - dmin * m_j, q in [0, 15].
// scales[12]: j < 4: sc_j = scales[j] & 63, m_j = scales[j + 4] & 63;
//             j >= 4: sc_j = (scales[j + 4] & 15) | (scales[j - 4] >> 6) << 4,
//                     m_j = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4.
// qs: 4 chunks of 32 bytes; chunk c byte l holds value 64c + l (low nibble) and 64c + 32 + l (high).
struct BlockQ4_K {
  uint16_t d;     // f16 super-block scale of the scales
  uint16_t dmin;  // f16 super-block scale of the mins
  uint8_t scales[kKScaleSize];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144, "Q4_K block must be 144 bytes (ggml layout)");

// Q5_K: Q4_K plus a fifth bit per value: value 64c + l has high bit qh[l] >> (2c) & 1, value
// 64c + 32 + l has qh[l] >> (2c + 1) & 1. q in [0, 31].
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 176, "Q5_K block must be 176 bytes (ggml layout)");

// Q6_K: 16 sub-blocks of 16 values with signed 8-bit scales: x = d * scales[i / 16] * (q - 32),
// q in [0, 63]. Two halves of 128 values; in half h (ql + 64h, qh + 32h), for l < 32:
//   value 128h + l      = ql[l]      & 15 | (qh[l] >> 0 & 3) << 4
//   value 128h + 32 + l = ql[l + 32] & 15 | (qh[l] >> 2 & 3) << 4
//   value 128h + 64 + l = ql[l]      >> 4 | (qh[l] >> 4 & 3) << 4
//   value 128h + 96 + l = ql[l + 32] >> 4 | (qh[l] >> 6 & 3) << 4
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block must be 210 bytes (ggml layout)");

// Q8_K: the activation format of the K-quant dot products. float d, x = d * qs[i], and bsums[k] =
// sum of qs[16k .. 16k + 15] (the min and offset terms of the dot products need them).
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 292, "Q8_K block must be 292 bytes (ggml layout)");

// Reference quantizers (n a multiple of 256), llama.cpp's algorithms and float operation order:
//   Q4_K/Q5_K: per sub-block make_qkx2_quants (weighted scale + min search), scales and mins to 6 bits
//              against the super-block's largest, then values re-rounded with the stored scales.
//   Q6_K: per 16-value sub-block make_qx_quants (rmse search, weights x^2), scales to int8 against
//         the largest |scale|.
//   Q8_K: d = max / -127 (max = signed value of largest magnitude), q = nearest_int(x * -127 / max),
//         nearest_int = round half to even (ggml's float magic-number trick).
void quantize_row_q4_K_ref(const float* x, BlockQ4_K* y, int64_t n);
void quantize_row_q5_K_ref(const float* x, BlockQ5_K* y, int64_t n);
void quantize_row_q6_K_ref(const float* x, BlockQ6_K* y, int64_t n);
void quantize_row_q8_K_ref(const float* x, BlockQ8_K* y, int64_t n);
void dequantize_row_q4_K(const BlockQ4_K* x, float* y, int64_t n);
void dequantize_row_q5_K(const BlockQ5_K* x, float* y, int64_t n);
void dequantize_row_q6_K(const BlockQ6_K* x, float* y, int64_t n);
void dequantize_row_q8_K(const BlockQ8_K* x, float* y, int64_t n);

// The 8 (scale, min) pairs of a Q4_K/Q5_K block's packed scales[12] (layout above).
void unpack_scales_mins_k4(const uint8_t* scales, uint8_t sc[8], uint8_t m[8]);

}  // namespace kestrel::kernels
