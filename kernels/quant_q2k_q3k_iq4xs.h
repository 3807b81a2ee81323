#pragma once
// ggml block layouts and reference conversions of the low-bit super-block types Q2_K, Q3_K and IQ4_XS
// (256 elements per block). The quantizers follow llama.cpp's reference quantizer without importance
// matrix (what `llama-quantize --pure` writes for q2_k / q3_k_* / iq4_xs), operation for operation, so
// the bytes are identical. Declarations only, so ISA translation units can include this header.
#include <cstdint>

#include "kernels/quant_k.h"  // kQK_K (elements per K-quant / IQ super-block), Q8_K

namespace kestrel::kernels {

// Q2_K: 16 sub-blocks of 16. scales[j] = 4-bit scale (low nibble) | 4-bit min (high nibble);
// qs: 2-bit values, byte l of each 32-byte half h holds elements 128h + l + 32s at bits 2s..2s+1.
// x = d * sc * q - dmin * m.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  uint16_t d;
  uint16_t dmin;
};
static_assert(sizeof(BlockQ2_K) == 84, "Q2_K block must be 84 bytes (ggml layout)");

// Q3_K: 16 sub-blocks of 16 with signed 6-bit scales (stored + 32: low nibbles in scales[0..7], high
// 2 bits in scales[8..11]); 3-bit values = 2 low bits in qs (as Q2_K) + a high bit in hmask (element e
// at hmask[e % 32] bit e / 32; a clear bit means -4). x = d * (sc - 32) * (q - 4 * !hbit).
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110, "Q3_K block must be 110 bytes (ggml layout)");

// IQ4_XS: 8 sub-blocks of 32 with 6-bit scales (stored + 32: low nibbles in scales_l, high 2 bits in
// scales_h); 4-bit indices into kIq4nlValues, laid out as Q4_0 per sub-block (element j in the low
// nibble of byte j, element j + 16 in the high nibble). x = d * (ls - 32) * kIq4nlValues[q].
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[kQK_K / 64];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockIQ4_XS) == 136, "IQ4_XS block must be 136 bytes (ggml layout)");

// The non-linear 4-bit grid shared by IQ4_NL and IQ4_XS (ggml's kvalues_iq4nl).
extern const int8_t kIq4nlValues[16];

// Reference quantizers (n multiple of 256) and dequantizers.
void quantize_row_q2_K_ref(const float* x, BlockQ2_K* y, int64_t n);
void quantize_row_q3_K_ref(const float* x, BlockQ3_K* y, int64_t n);
void quantize_row_iq4_xs_ref(const float* x, BlockIQ4_XS* y, int64_t n);
void dequantize_row_q2_K(const BlockQ2_K* x, float* y, int64_t n);
void dequantize_row_q3_K(const BlockQ3_K* x, float* y, int64_t n);
void dequantize_row_iq4_xs(const BlockIQ4_XS* x, float* y, int64_t n);

// The 16 signed 6-bit sub-block scales of the Q3_K block at `block` (any alignment), minus 32 (i.e.
// in [-32, 31]); the same for the 8 sub-block scales of an IQ4_XS block.
void q3_K_scales(const void* block, int8_t out[16]);
void iq4_xs_scales(const void* block, int8_t out[8]);

}  // namespace kestrel::kernels
