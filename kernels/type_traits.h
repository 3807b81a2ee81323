#pragma once
// Compute traits of the types Kestrel can do arithmetic with: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0,
// Q5_1, IQ4_NL, the K-quants Q4_K, Q5_K, Q6_K, Q2_K, Q3_K, IQ4_XS, and the activation formats Q8_1 / Q8_K
// (not weight types).
// Block layouts are bit-exact with ggml; from_float follows ggml's reference rounding so quantizing an
// F32 tensor is byte-identical to llama.cpp's quantizer. vec_dot_type is the type activations are
// converted to before the dot product (as ggml does: F16 for F16 weights, Q8_0 for Q8_0/Q4_0/Q5_0/IQ4_NL,
// Q8_1 for Q4_1/Q5_1, ...).
#include <cstdint>
#include <string>

#include "gguf/tensor_type.h"

namespace kestrel::kernels {

struct TypeTraits {
  TensorType type;
  uint32_t block_size;
  uint32_t block_bytes;
  void (*to_float)(const void* src, float* dst, int64_t n);    // n multiple of block_size
  void (*from_float)(const float* src, void* dst, int64_t n);  // reference (scalar) rounding
  TensorType vec_dot_type;
  // True for formats that only exist as converted activations (Q8_K): readable and writable, but no
  // matmul takes them as weights (as in ggml).
  bool activation_only = false;
};

// nullptr when Kestrel cannot compute with the type (e.g. K-quants, IQ types).
const TypeTraits* type_traits(TensorType t);
// True when matmul accepts the type as weights.
bool is_computable(TensorType t);
// Those types' names for error messages, e.g. "f32, f16, bf16, q8_0, q4_0, q4_K, ...".
std::string computable_type_names();

// fp16 / bf16 scalar conversions (round-to-nearest-even, as ggml).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

}  // namespace kestrel::kernels
