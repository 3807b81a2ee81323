#pragma once
// File names of split GGUF models, as llama.cpp's gguf-split writes them:
// <prefix>-00001-of-00003.gguf (part numbers 1-based in names, split.no 0-based in metadata).
#include <cstdint>
#include <optional>
#include <string>

namespace kestrel {

inline constexpr const char* kSplitNoKey = "split.no";                     // uint16, 0-based
inline constexpr const char* kSplitCountKey = "split.count";               // uint16
inline constexpr const char* kSplitTensorsCountKey = "split.tensors.count";  // int32, over all parts

struct SplitName {
  std::string prefix;  // path without "-NNNNN-of-NNNNN.gguf"
  uint32_t part = 0;   // 1-based, as in the name
  uint32_t count = 0;
};

// Parses "<prefix>-00002-of-00003.gguf"; nullopt when the name does not follow the pattern.
std::optional<SplitName> parse_split_path(const std::string& path);
// "<prefix>-<part:05d>-of-<count:05d>.gguf", part 1-based.
std::string split_path(const std::string& prefix, uint32_t part, uint32_t count);

}  // namespace kestrel
