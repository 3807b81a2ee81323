#pragma once
// A model file's type mixture in one line, e.g. "Q4_K_M: 20×q4_K, 3×q6_K, 7×f32, 4.89 bpw": the file type
// (general.file_type, llama-quantize's name), tensors per type (most first), and bits per weight over
// all tensors (tensor bytes x 8 / elements, as llama.cpp's BPW). Used by llm-gguf and llm-bench.
#include <cstdint>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/tensor_type.h"

namespace kestrel::cli {

struct TensorStat {
  TensorType type;
  uint64_t elements, bytes;
};

struct Mixture {
  std::string file_type;                            // "Q4_K_M"; "" when general.file_type is absent/unknown
  std::vector<std::pair<std::string, int>> counts;  // type name -> tensors, most first
  uint64_t elements = 0, bytes = 0;
  double bpw() const { return elements ? 8.0 * static_cast<double>(bytes) / static_cast<double>(elements) : 0.0; }
  std::string summary() const;
};

Mixture mixture_of(const GGUFFile& metadata, const std::vector<TensorStat>& tensors);

}  // namespace kestrel::cli
