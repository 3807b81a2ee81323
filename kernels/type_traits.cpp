// The compute traits table and the scalar fp16/bf16 conversions.
#include "kernels/type_traits.h"

#include <cmath>
#include <cstring>

#include "kernels/quant.h"
#include "kernels/quant_q32.h"
#include "kernels/quant_k.h"
#include "kernels/quant_q2k_q3k_iq4xs.h"

namespace kestrel::kernels {
namespace {

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

void f32_to_float(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, n * sizeof(float)); }
void f32_from_float(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, n * sizeof(float)); }
void f16_to_float(const void* src, float* dst, int64_t n) { fp16_to_fp32_row(static_cast<const uint16_t*>(src), dst, n); }
void f16_from_float(const float* src, void* dst, int64_t n) { fp32_to_fp16_row_ref(src, static_cast<uint16_t*>(dst), n); }
void bf16_to_float(const void* src, float* dst, int64_t n) { bf16_to_fp32_row(static_cast<const uint16_t*>(src), dst, n); }
void bf16_from_float(const float* src, void* dst, int64_t n) { fp32_to_bf16_row_ref(src, static_cast<uint16_t*>(dst), n); }
void q8_0_to_float(const void* src, float* dst, int64_t n) { dequantize_row_q8_0(static_cast<const BlockQ8_0*>(src), dst, n); }
void q8_0_from_float(const float* src, void* dst, int64_t n) { quantize_row_q8_0_ref(src, static_cast<BlockQ8_0*>(dst), n); }
void q4_0_to_float(const void* src, float* dst, int64_t n) { dequantize_row_q4_0(static_cast<const BlockQ4_0*>(src), dst, n); }
void q4_0_from_float(const float* src, void* dst, int64_t n) { quantize_row_q4_0_ref(src, static_cast<BlockQ4_0*>(dst), n); }
void q4_K_to_float(const void* src, float* dst, int64_t n) { dequantize_row_q4_K(static_cast<const BlockQ4_K*>(src), dst, n); }
void q4_K_from_float(const float* src, void* dst, int64_t n) { quantize_row_q4_K_ref(src, static_cast<BlockQ4_K*>(dst), n); }
void q5_K_to_float(const void* src, float* dst, int64_t n) { dequantize_row_q5_K(static_cast<const BlockQ5_K*>(src), dst, n); }
void q5_K_from_float(const float* src, void* dst, int64_t n) { quantize_row_q5_K_ref(src, static_cast<BlockQ5_K*>(dst), n); }
void q6_K_to_float(const void* src, float* dst, int64_t n) { dequantize_row_q6_K(static_cast<const BlockQ6_K*>(src), dst, n); }
void q6_K_from_float(const float* src, void* dst, int64_t n) { quantize_row_q6_K_ref(src, static_cast<BlockQ6_K*>(dst), n); }
void q2_K_to_float(const void* src, float* dst, int64_t n) { dequantize_row_q2_K(static_cast<const BlockQ2_K*>(src), dst, n); }
void q2_K_from_float(const float* src, void* dst, int64_t n) { quantize_row_q2_K_ref(src, static_cast<BlockQ2_K*>(dst), n); }
void q3_K_to_float(const void* src, float* dst, int64_t n) { dequantize_row_q3_K(static_cast<const BlockQ3_K*>(src), dst, n); }
void q3_K_from_float(const float* src, void* dst, int64_t n) { quantize_row_q3_K_ref(src, static_cast<BlockQ3_K*>(dst), n); }
void iq4_xs_to_float(const void* src, float* dst, int64_t n) { dequantize_row_iq4_xs(static_cast<const BlockIQ4_XS*>(src), dst, n); }
void iq4_xs_from_float(const float* src, void* dst, int64_t n) { quantize_row_iq4_xs_ref(src, static_cast<BlockIQ4_XS*>(dst), n); }
void q8_K_to_float(const void* src, float* dst, int64_t n) { dequantize_row_q8_K(static_cast<const BlockQ8_K*>(src), dst, n); }
void q8_K_from_float(const float* src, void* dst, int64_t n) { quantize_row_q8_K_ref(src, static_cast<BlockQ8_K*>(dst), n); }

// The 32-value block types of kernels/quant_q32.h: to_float / from_float straight from their blocks.
template <class Block, void (*Deq)(const Block*, float*, int64_t)>
void block_to_float(const void* src, float* dst, int64_t n) { Deq(static_cast<const Block*>(src), dst, n); }
template <class Block, void (*Quant)(const float*, Block*, int64_t)>
void block_from_float(const float* src, void* dst, int64_t n) { Quant(src, static_cast<Block*>(dst), n); }
template <class Block, void (*Deq)(const Block*, float*, int64_t), void (*Quant)(const float*, Block*, int64_t)>
constexpr TypeTraits block_traits(TensorType t, TensorType vec_dot, bool activation_only = false) {
  return {t, kQK, sizeof(Block), block_to_float<Block, Deq>, block_from_float<Block, Quant>, vec_dot, activation_only};
}

const TypeTraits kTraits[] = {
    {TensorType::F32, 1, 4, f32_to_float, f32_from_float, TensorType::F32},
    {TensorType::F16, 1, 2, f16_to_float, f16_from_float, TensorType::F16},
    {TensorType::BF16, 1, 2, bf16_to_float, bf16_from_float, TensorType::BF16},
    {TensorType::Q8_0, kQK, sizeof(BlockQ8_0), q8_0_to_float, q8_0_from_float, TensorType::Q8_0},
    {TensorType::Q4_0, kQK, sizeof(BlockQ4_0), q4_0_to_float, q4_0_from_float, TensorType::Q8_0},
    block_traits<BlockQ4_1, dequantize_row_q4_1, quantize_row_q4_1_ref>(TensorType::Q4_1, TensorType::Q8_1),
    block_traits<BlockQ5_0, dequantize_row_q5_0, quantize_row_q5_0_ref>(TensorType::Q5_0, TensorType::Q8_0),
    block_traits<BlockQ5_1, dequantize_row_q5_1, quantize_row_q5_1_ref>(TensorType::Q5_1, TensorType::Q8_1),
    block_traits<BlockIQ4_NL, dequantize_row_iq4_nl, quantize_row_iq4_nl_ref>(TensorType::IQ4_NL, TensorType::Q8_0),
    // Q8_1 is an activation format (vec_dot_type of Q4_1/Q5_1); llama.cpp never stores weights in it.
    block_traits<BlockQ8_1, dequantize_row_q8_1, quantize_row_q8_1_ref>(TensorType::Q8_1, TensorType::Q8_1, true),
    {TensorType::Q4_K, kQK_K, sizeof(BlockQ4_K), q4_K_to_float, q4_K_from_float, TensorType::Q8_K},
    {TensorType::Q5_K, kQK_K, sizeof(BlockQ5_K), q5_K_to_float, q5_K_from_float, TensorType::Q8_K},
    {TensorType::Q6_K, kQK_K, sizeof(BlockQ6_K), q6_K_to_float, q6_K_from_float, TensorType::Q8_K},
    {TensorType::Q2_K, kQK_K, sizeof(BlockQ2_K), q2_K_to_float, q2_K_from_float, TensorType::Q8_K},
    {TensorType::Q3_K, kQK_K, sizeof(BlockQ3_K), q3_K_to_float, q3_K_from_float, TensorType::Q8_K},
    {TensorType::IQ4_XS, kQK_K, sizeof(BlockIQ4_XS), iq4_xs_to_float, iq4_xs_from_float, TensorType::Q8_K},
    {TensorType::Q8_K, kQK_K, sizeof(BlockQ8_K), q8_K_to_float, q8_K_from_float, TensorType::Q8_K, true},
};

}  // namespace

const TypeTraits* type_traits(TensorType t) {
  for (const TypeTraits& tr : kTraits)
    if (tr.type == t) return &tr;
  return nullptr;
}

bool is_computable(TensorType t) {
  const TypeTraits* tr = type_traits(t);
  return tr != nullptr && !tr->activation_only;
}

std::string computable_type_names() {
  std::string out;
  for (const TypeTraits& tr : kTraits) {
    if (tr.activation_only) continue;
    if (!out.empty()) out += ", ";
    out += type_name(tr.type);
  }
  return out;
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  const uint32_t mant = h & 0x3FF;
  if (exp == 0x1F) return bits_float(sign | 0x7F800000u | (mant << 13));  // inf / NaN (payload kept)
  if (exp == 0) {                                                         // zero / subnormal: mant * 2^-24
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  return bits_float(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t fp32_to_fp16(float f) {
  const uint32_t x = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  uint32_t ax = x & 0x7FFFFFFFu;
  if (ax > 0x7F800000u) return sign | 0x7E00;     // NaN -> quiet NaN (as ggml's portable converter)
  if (ax >= 0x477FF000u) return sign | 0x7C00;    // >= 65520 rounds (to even) to infinity
  if (ax < 0x38800000u) {                         // below 2^-14: half subnormal or zero.
    // Adding 0.5 leaves the value in a float whose ulp is 2^-24 (the half subnormal step), so the
    // hardware's round-to-nearest-even does the rounding; a carry into 0x400 is the smallest normal.
    const float t = bits_float(ax) + 0.5f;
    return sign | static_cast<uint16_t>(float_bits(t) - 0x3F000000u);
  }
  ax += 0xFFFu + ((ax >> 13) & 1u);  // round to nearest, ties to even, on the 13 dropped bits
  ax -= 112u << 23;                  // rebias the exponent from 127 to 15
  return sign | static_cast<uint16_t>(ax >> 13);
}

float bf16_to_fp32(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

uint16_t fp32_to_bf16(float f) {
  const uint32_t x = float_bits(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet NaN
  return static_cast<uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);                 // RNE
}

}  // namespace kestrel::kernels
