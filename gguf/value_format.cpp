#include "gguf/value_format.h"

#include <cstdio>

namespace kestrel {
namespace {

// Quotes a string, escaping quotes, backslashes and control bytes so each value stays on one line.
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string format_float(double f) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", f);
  return buf;
}

}  // namespace

std::string format_value(const Value& v, size_t max_items) {
  switch (v.type) {
    case ValueType::UINT8: case ValueType::UINT16: case ValueType::UINT32: case ValueType::UINT64:
      return std::to_string(v.u);
    case ValueType::INT8: case ValueType::INT16: case ValueType::INT32: case ValueType::INT64:
      return std::to_string(v.i);
    case ValueType::FLOAT32: case ValueType::FLOAT64: return format_float(v.f);
    case ValueType::BOOL: return v.b ? "true" : "false";
    case ValueType::STRING: return quote(v.str);
    case ValueType::ARRAY: {
      if (v.items.empty()) return "[]";
      size_t shown = (max_items == 0 || v.items.size() <= max_items) ? v.items.size() : max_items;
      std::string out = "[ ";
      for (size_t i = 0; i < shown; ++i) {
        if (i) out += ", ";
        out += format_value(v.items[i], max_items);
      }
      if (shown < v.items.size()) out += ", ... ] (" + std::to_string(v.items.size()) + " items)";
      else out += " ]";
      return out;
    }
  }
  return "?";
}

std::string format_type(const Value& v) {
  if (v.type != ValueType::ARRAY) return std::string(value_type_name(v.type));
  if (v.elem_type == ValueType::ARRAY && !v.items.empty()) return "array[" + format_type(v.items.front()) + "]";
  return "array[" + std::string(value_type_name(v.elem_type)) + "]";
}

std::string format_shape(const std::vector<int64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

}  // namespace kestrel
