#pragma once
// Human-readable rendering of metadata values, gguf-dump style: strings quoted and escaped, arrays as
// [ a, b, ... ] (N items) when longer than max_items (0 = print everything).
#include <cstddef>
#include <string>

#include "gguf/gguf_value.h"

namespace kestrel {

std::string format_value(const Value& v, size_t max_items = 0);
// "uint32", "string", "array[string]", "array[array[int32]]" — needs the items for nested arrays.
std::string format_type(const Value& v);

}  // namespace kestrel
