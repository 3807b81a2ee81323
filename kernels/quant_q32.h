#pragma once
// The other 32-value ggml block types: Q4_1, Q5_0, Q5_1, IQ4_NL (weights) and Q8_1 (the activation
// type ggml pairs with Q4_1/Q5_1). Layouts are bit-exact with ggml; the reference quantizers follow
// ggml's rounding so quantized files are byte-identical to llama.cpp's (no importance matrix).
// Declarations only, so ISA-specific translation units can include this header safely.
#include <cstdint>

#include "kernels/quant.h"
#include "kernels/quant_q2k_q3k_iq4xs.h"

namespace kestrel::kernels {

// Q4_1: fp16 scale d and minimum m, then nibbles as in Q4_0 (byte j: element j low, j + 16 high);
// x[i] = d * q + m, q in [0, 15].
struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ4_1) == 20, "Q4_1 block must be 20 bytes (ggml layout)");

// Q5_0: fp16 d, 32 high bits (bit i = bit 4 of element i), low nibbles as in Q4_0; x[i] = d * (q - 16).
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ5_0) == 22, "Q5_0 block must be 22 bytes (ggml layout)");

// Q5_1: fp16 d and m, high bits and nibbles as in Q5_0; x[i] = d * q + m, q in [0, 31].
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ5_1) == 24, "Q5_1 block must be 24 bytes (ggml layout)");

// Q8_1: as Q8_0 plus s = fp16(d * sum(qs)), so a dot with Q4_1/Q5_1 weights adds m * s per block.
struct BlockQ8_1 {
  uint16_t d, s;
  int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8_1) == 36, "Q8_1 block must be 36 bytes (ggml layout)");

// IQ4_NL: fp16 d, nibbles (Q4_0 order) indexing the non-linear grid kIq4nlValues (shared with IQ4_XS,
// kernels/quant_q2k_q3k_iq4xs.h); x[i] = d * kIq4nlValues[q].
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockIQ4_NL) == 18, "IQ4_NL block must be 18 bytes (ggml layout)");

// ggml's IQ4_NL fit of one 32-value block without importance matrix (also the sub-block step of
// IQ4_XS): weights x^2, the least-squares scale of the grid mapping the extreme value to -127, then 15
// trial scales around it, keeping the best weighted fit. 0 for an all-zero block (amax < 1e-15).
float iq4_nl_block_scale(const float* x);
// Index of the grid value nearest to v (ggml's best_index_int8 on kIq4nlValues).
int iq4_nl_nearest(float v);

// Reference quantizers (ggml's rounding, no importance matrix). n is a multiple of 32.
//   Q4_1 / Q5_1: d = (max - min) / (2^bits - 1), m = min, q = trunc((x - min) / d + 0.5) (Q4_1 capped at 15).
//   Q5_0: as Q4_0 with 5 bits: d = m / -16, q = min(31, trunc(x / d + 16.5)).
//   Q8_1: as Q8_0, plus s.
//   IQ4_NL: what llama-quantize writes (ggml's quantize_iq4_nl without weights): weights x^2, a
//     least-squares scale refined over 15 trial scales, then every value to the nearest codebook entry.
void quantize_row_q4_1_ref(const float* x, BlockQ4_1* y, int64_t n);
void quantize_row_q5_0_ref(const float* x, BlockQ5_0* y, int64_t n);
void quantize_row_q5_1_ref(const float* x, BlockQ5_1* y, int64_t n);
void quantize_row_q8_1_ref(const float* x, BlockQ8_1* y, int64_t n);
void quantize_row_iq4_nl_ref(const float* x, BlockIQ4_NL* y, int64_t n);
void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t n);
void dequantize_row_q5_0(const BlockQ5_0* x, float* y, int64_t n);
void dequantize_row_q5_1(const BlockQ5_1* x, float* y, int64_t n);
void dequantize_row_q8_1(const BlockQ8_1* x, float* y, int64_t n);
void dequantize_row_iq4_nl(const BlockIQ4_NL* x, float* y, int64_t n);

// The 5-bit values of a Q5_0/Q5_1 block, element order (0..31), in [0, 31].
void unpack_q5_values(const uint8_t qs[16], const uint8_t qh[4], uint8_t out[32]);

}  // namespace kestrel::kernels
