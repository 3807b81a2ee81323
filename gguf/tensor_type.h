#pragma once
// ggml tensor type ids and their storage layout (block size in elements, bytes per block), as GGUF
// files use them. This is format knowledge only: the compute traits (to_float, dot products) live in
// kernels/type_traits.h and exist only for the types Kestrel can compute with.
#include <cstdint>
#include <cstddef>
#include <optional>
#include <string_view>

namespace kestrel {

enum class TensorType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
  // Newer ids present in the llama.cpp release used as reference (ggml v0.5.0): parsed and reported.
  NVFP4 = 40, Q1_0 = 41, Q2_0 = 42,
};

struct TypeLayout {
  TensorType type;
  std::string_view name;   // ggml's name, e.g. "q4_0"
  uint32_t block_size;     // elements per block
  uint32_t block_bytes;    // bytes per block
};

// Layout of a ggml type id, or nullptr when the id is unknown (removed or newer than Kestrel).
const TypeLayout* type_layout(uint32_t id);
inline const TypeLayout* type_layout(TensorType t) { return type_layout(static_cast<uint32_t>(t)); }
std::string_view type_name(TensorType t);                    // "q4_0"; "unknown" for bad ids
std::optional<TensorType> type_from_name(std::string_view);  // case-insensitive "Q8_0"/"q8_0"/"f16"

// Every known type, in id order (for tests and tools that enumerate them).
const TypeLayout* all_type_layouts(size_t* count);

// Bytes of n elements of type t; nullopt when n is not a multiple of the block size or it overflows.
std::optional<uint64_t> bytes_for(TensorType t, uint64_t n);

}  // namespace kestrel
