#pragma once
// Compute traits of the types Kestrel can do arithmetic with: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0,
// Q5_1, IQ4_NL (and Q8_1, an activation format).
// Block layouts are bit-exact with ggml; from_float follows ggml's reference rounding so quantizing an
// F32 tensor is byte-identical to llama.cpp's quantizer. vec_dot_type is the type activations are
// converted to before the dot product (as ggml does: F16 for F16 weights, Q8_0 for Q8_0/Q4_0/Q5_0/IQ4_NL,
// Q8_1 for Q4_1/Q5_1, ...).
#include <cstdint>

#include "gguf/tensor_type.h"

namespace kestrel::kernels {

struct TypeTraits {
  TensorType type;
  uint32_t block_size;
  uint32_t block_bytes;
  void (*to_float)(const void* src, float* dst, int64_t n);    // n multiple of block_size
  void (*from_float)(const float* src, void* dst, int64_t n);  // reference (scalar) rounding
  TensorType vec_dot_type;
};

// nullptr when Kestrel cannot compute with the type (e.g. K-quants, IQ types).
const TypeTraits* type_traits(TensorType t);
// Q8_1 / Q8_K have traits as activation formats (the vec_dot_type of other types), but ggml never
// multiplies weights stored in them.
inline bool is_activation_only(TensorType t) { return t == TensorType::Q8_1 || t == TensorType::Q8_K; }
// A weight of this type can be multiplied (matmul) and read (get_rows).
inline bool is_computable(TensorType t) { return type_traits(t) != nullptr && !is_activation_only(t); }

// fp16 / bf16 scalar conversions (round-to-nearest-even, as ggml).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

}  // namespace kestrel::kernels
