#include "gguf/split_path.h"

#include <cstdio>

namespace kestrel {
namespace {

// Reads exactly five decimal digits.
std::optional<uint32_t> five_digits(const std::string& s, size_t at) {
  if (at + 5 > s.size()) return std::nullopt;
  uint32_t v = 0;
  for (size_t i = at; i < at + 5; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(s[i] - '0');
  }
  return v;
}

}  // namespace

std::optional<SplitName> parse_split_path(const std::string& path) {
  // Suffix is exactly "-NNNNN-of-NNNNN.gguf": 20 characters.
  static const std::string kTail = ".gguf";
  constexpr size_t kSuffix = 1 + 5 + 4 + 5 + 5;
  if (path.size() <= kSuffix) return std::nullopt;
  size_t at = path.size() - kSuffix;
  if (path[at] != '-' || path.compare(at + 6, 4, "-of-") != 0 || path.compare(path.size() - 5, 5, kTail) != 0)
    return std::nullopt;
  std::optional<uint32_t> part = five_digits(path, at + 1);
  std::optional<uint32_t> count = five_digits(path, at + 10);
  if (!part || !count || *part == 0 || *count == 0 || *part > *count) return std::nullopt;
  return SplitName{path.substr(0, at), *part, *count};
}

std::string split_path(const std::string& prefix, uint32_t part, uint32_t count) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "-%05u-of-%05u.gguf", part, count);
  return prefix + buf;
}

}  // namespace kestrel
