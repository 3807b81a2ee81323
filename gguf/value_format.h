#pragma once
// Human-readable rendering of metadata values, gguf-dump style: strings quoted and escaped, arrays as
// [ a, b, ... ] (N items) when longer than max_items (0 = print everything).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gguf/gguf_value.h"

namespace kestrel {

std::string format_value(const Value& v, size_t max_items = 0);
// "uint32", "string", "array[string]", "array[array[int32]]" — needs the items for nested arrays.
std::string format_type(const Value& v);
// A tensor shape in ggml order as "[64, 172]", for error messages and listings.
std::string format_shape(const std::vector<int64_t>& ne);

}  // namespace kestrel
