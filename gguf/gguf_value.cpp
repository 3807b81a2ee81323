#include "gguf/gguf_value.h"

#include <cmath>
#include <cstring>

namespace kestrel {

std::string_view value_type_name(ValueType t) {
  switch (t) {
    case ValueType::UINT8: return "uint8";
    case ValueType::INT8: return "int8";
    case ValueType::UINT16: return "uint16";
    case ValueType::INT16: return "int16";
    case ValueType::UINT32: return "uint32";
    case ValueType::INT32: return "int32";
    case ValueType::FLOAT32: return "float32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::UINT64: return "uint64";
    case ValueType::INT64: return "int64";
    case ValueType::FLOAT64: return "float64";
  }
  return "unknown";
}

Value Value::u32(uint32_t v) { return of(ValueType::UINT32, v); }
Value Value::i32(int32_t v) { return of(ValueType::INT32, static_cast<uint64_t>(static_cast<int64_t>(v))); }

Value Value::f32(float v) {
  Value x;
  x.type = ValueType::FLOAT32;
  x.f = v;
  return x;
}

Value Value::boolean(bool v) {
  Value x;
  x.type = ValueType::BOOL;
  x.b = v;
  return x;
}

Value Value::string(std::string v) {
  Value x;
  x.type = ValueType::STRING;
  x.str = std::move(v);
  return x;
}

// Integers are truncated to the width of t (signed ones sign-extended); for float types the argument
// is the IEEE bit pattern; bool is "nonzero".
Value Value::of(ValueType t, uint64_t v) {
  Value x;
  x.type = t;
  switch (t) {
    case ValueType::UINT8: x.u = static_cast<uint8_t>(v); break;
    case ValueType::UINT16: x.u = static_cast<uint16_t>(v); break;
    case ValueType::UINT32: x.u = static_cast<uint32_t>(v); break;
    case ValueType::UINT64: x.u = v; break;
    case ValueType::INT8: x.i = static_cast<int8_t>(static_cast<uint8_t>(v)); break;
    case ValueType::INT16: x.i = static_cast<int16_t>(static_cast<uint16_t>(v)); break;
    case ValueType::INT32: x.i = static_cast<int32_t>(static_cast<uint32_t>(v)); break;
    case ValueType::INT64: x.i = static_cast<int64_t>(v); break;
    case ValueType::FLOAT32: {
      uint32_t bits = static_cast<uint32_t>(v);
      float f;
      std::memcpy(&f, &bits, sizeof f);
      x.f = f;
      break;
    }
    case ValueType::FLOAT64: std::memcpy(&x.f, &v, sizeof x.f); break;
    case ValueType::BOOL: x.b = v != 0; break;
    case ValueType::STRING:
    case ValueType::ARRAY: break;
  }
  return x;
}

Value Value::array(ValueType elem, std::vector<Value> items) {
  Value x;
  x.type = ValueType::ARRAY;
  x.elem_type = elem;
  x.items = std::move(items);
  return x;
}

Value Value::string_array(const std::vector<std::string>& v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (const std::string& s : v) items.push_back(string(s));
  return array(ValueType::STRING, std::move(items));
}

Value Value::f32_array(const std::vector<float>& v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (float f : v) items.push_back(f32(f));
  return array(ValueType::FLOAT32, std::move(items));
}

Value Value::i32_array(const std::vector<int32_t>& v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (int32_t x : v) items.push_back(i32(x));
  return array(ValueType::INT32, std::move(items));
}

bool operator==(const Value& a, const Value& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case ValueType::UINT8:
    case ValueType::UINT16:
    case ValueType::UINT32:
    case ValueType::UINT64: return a.u == b.u;
    case ValueType::INT8:
    case ValueType::INT16:
    case ValueType::INT32:
    case ValueType::INT64: return a.i == b.i;
    case ValueType::FLOAT32:
    case ValueType::FLOAT64: return a.f == b.f || (std::isnan(a.f) && std::isnan(b.f));
    case ValueType::BOOL: return a.b == b.b;
    case ValueType::STRING: return a.str == b.str;
    case ValueType::ARRAY: return a.elem_type == b.elem_type && a.items == b.items;
  }
  return false;
}

}  // namespace kestrel
