#pragma once
// ggml block layouts and the reference (scalar) conversions between them and float. These define the
// bytes: every SIMD converter must produce exactly what these produce. Declarations only (no inline
// code) so ISA-specific translation units can include this header safely.
#include <cstdint>

namespace kestrel::kernels {

constexpr int kQK = 32;  // elements per Q8_0 / Q4_0 block

// Q8_0: fp16 scale d, then 32 signed 8-bit values; x[i] = d * qs[i].
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block must be 34 bytes (ggml layout)");

// Q4_0: fp16 scale d, then 16 bytes of nibbles. Byte j holds element j in its low nibble and element
// j + 16 in its high nibble; x[i] = d * (nibble - 8).
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block must be 18 bytes (ggml layout)");

// Reference quantizers (ggml's rounding). n is a multiple of 32.
//   Q8_0: d = amax / 127, q = roundf(x / d) (x * (1/d), half away from zero).
//   Q4_0: m = the value of largest magnitude (with its sign), d = m / -8, q = min(15, (int)(x/d + 8.5)).
void quantize_row_q8_0_ref(const float* x, BlockQ8_0* y, int64_t n);
void quantize_row_q4_0_ref(const float* x, BlockQ4_0* y, int64_t n);
void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n);
void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n);

// Rows of 16-bit floats (any n).
void fp32_to_fp16_row_ref(const float* x, uint16_t* y, int64_t n);
void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n);
void fp32_to_bf16_row_ref(const float* x, uint16_t* y, int64_t n);
void bf16_to_fp32_row(const uint16_t* x, float* y, int64_t n);

}  // namespace kestrel::kernels
