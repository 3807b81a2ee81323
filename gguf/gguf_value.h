#pragma once
// A GGUF metadata value: one of the 13 GGUF value types, arrays possibly nested.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kestrel {

enum class ValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
std::string_view value_type_name(ValueType t);  // "uint32", "string", "array", ...

struct Value {
  ValueType type = ValueType::UINT8;
  // Scalars: integers are stored widened (u64 for unsigned, i64 for signed), floats as double.
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string str;
  // Arrays: element type and items (each item is a Value of elem_type; nested arrays allowed).
  ValueType elem_type = ValueType::UINT8;
  std::vector<Value> items;

  static Value u32(uint32_t v);
  static Value i32(int32_t v);
  static Value f32(float v);
  static Value boolean(bool v);
  static Value string(std::string v);
  static Value of(ValueType t, uint64_t bits_or_int);  // any integer type
  static Value array(ValueType elem, std::vector<Value> items);
  static Value string_array(const std::vector<std::string>& v);
  static Value f32_array(const std::vector<float>& v);
  static Value i32_array(const std::vector<int32_t>& v);
};

// Deep equality: same type and the same value (floats compared by value, NaN equal to NaN).
bool operator==(const Value& a, const Value& b);

struct KeyValue {
  std::string key;
  Value value;
};

}  // namespace kestrel
