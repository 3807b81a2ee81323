#pragma once
// GGUF on-disk constants and small helpers shared by the reader and the writer.
// Layout (little-endian): "GGUF", u32 version, u64 n_tensors, u64 n_kv, n_kv x {string key, u32 type,
// value}, n_tensors x {string name, u32 n_dims, n_dims x i64 ne, u32 type, u64 offset}, padding to the
// alignment, then the data section. A string is u64 length + bytes; an array is u32 element type,
// u64 count, items.
#include <cstdint>
#include <optional>

#include "gguf/gguf_value.h"

namespace kestrel::gguf_format {

inline constexpr uint8_t kMagic[4] = {'G', 'G', 'U', 'F'};
inline constexpr uint32_t kVersion = 3;             // what the writer produces
inline constexpr uint64_t kDefaultAlignment = 32;   // when general.alignment is absent
inline constexpr uint32_t kMaxDims = 4;             // GGML_MAX_DIMS
inline constexpr const char* kAlignmentKey = "general.alignment";
inline constexpr uint32_t kMaxValueType = static_cast<uint32_t>(ValueType::FLOAT64);
// Arrays may nest; deeper nesting is rejected so a hostile file cannot exhaust the stack.
inline constexpr int kMaxArrayDepth = 16;

// Bytes of one scalar of a fixed-size value type; 0 for string and array.
inline uint64_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
    case ValueType::STRING: case ValueType::ARRAY: return 0;
  }
  return 0;
}

inline bool is_power_of_two(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

// x rounded up to a multiple of the power of two a; nullopt on overflow.
inline std::optional<uint64_t> align_up(uint64_t x, uint64_t a) {
  uint64_t r = 0;
  if (__builtin_add_overflow(x, a - 1, &r)) return std::nullopt;
  return r & ~(a - 1);
}

}  // namespace kestrel::gguf_format
