#pragma once
// Which type each tensor gets when llm-quantize converts a model to a target type. These are
// llama.cpp's rules (llama-quantize, as observed with llama.cpp v0.5.0 through llref) for the targets
// Kestrel can write, so the same command gives the same file layout:
//   - tensors with fewer than two non-trivial dimensions (norms, rope factors) are copied as they are;
//     so are "*_norm.weight" and the MoE router "ffn_gate_inp.weight";
//   - every other tensor gets the target type, except without --pure for a quantized target:
//       output.weight (token_embd.weight when there is no output.weight): llama.cpp uses Q6_K when the
//         row length is a multiple of 256 and the target is not Q8_0, else Q8_0. Kestrel cannot write
//         Q6_K, so it uses Q8_0 there (slightly larger and more accurate than llama.cpp's file; noted);
//       attn_v.weight of 8-expert models: Q8_0;
//   - a row length that is not a multiple of the chosen type's block size falls back to F16
//     (stories260K's ffn_down rows are 172 wide: F16 in both llama.cpp's Q8_0 and Q4_0 files).
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/tensor_type.h"

namespace kestrel::cli {

// The targets llm-quantize accepts, with ggml's llama_ftype numbers for general.file_type.
struct QuantTarget {
  std::string_view name;
  TensorType type;
  uint32_t ftype;
};

inline const std::vector<QuantTarget>& quant_targets() {
  static const std::vector<QuantTarget> targets = {
      {"f32", TensorType::F32, 0},  {"f16", TensorType::F16, 1},   {"bf16", TensorType::BF16, 32},
      {"q8_0", TensorType::Q8_0, 7}, {"q4_0", TensorType::Q4_0, 2},
  };
  return targets;
}

inline std::optional<QuantTarget> find_quant_target(std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& t : quant_targets())
    if (t.name == lower) return t;
  return std::nullopt;
}

struct ModelFacts {
  bool has_output = true;  // an output.weight tensor exists (else the embeddings are tied)
  int n_expert = 0;        // <arch>.expert_count, 0 for dense models
};

struct TensorChoice {
  TensorType type;
  bool keep_as_is = false;  // copied unchanged (type == source type)
  std::string note;         // why it differs from the target, when it does
};

inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

inline bool is_quantized_target(TensorType t) { return t == TensorType::Q8_0 || t == TensorType::Q4_0; }

inline TensorChoice choose_tensor_type(std::string_view name, const std::vector<int64_t>& ne, TensorType source,
                                       TensorType target, bool pure, const ModelFacts& facts) {
  int n_dims = 0;  // as ggml counts them: trailing dimensions of size 1 do not count
  for (size_t i = 0; i < ne.size(); ++i)
    if (ne[i] > 1) n_dims = static_cast<int>(i) + 1;
  if (n_dims < 2 || ends_with(name, "_norm.weight") || name.find("ffn_gate_inp.weight") != std::string_view::npos)
    return {source, true, ""};

  const int64_t row = ne.empty() ? 0 : ne[0];
  TensorChoice c{target, false, ""};
  if (is_quantized_target(target) && !pure) {
    const bool is_output = name == "output.weight" || (!facts.has_output && name == "token_embd.weight");
    if (is_output) {
      const auto* lt = type_layout(target);
      if (row % lt->block_size != 0) {
        c.type = TensorType::Q8_0;
      } else if (target != TensorType::Q8_0) {
        c.type = TensorType::Q8_0;
        if (row % 256 == 0) c.note = "llama.cpp uses q6_k here, which Kestrel cannot write; q8_0 instead";
      }
    } else if (name.find("attn_v.weight") != std::string_view::npos && facts.n_expert == 8) {
      c.type = TensorType::Q8_0;
    }
  }
  if (row % type_layout(c.type)->block_size != 0) {
    c.type = TensorType::F16;
    c.note = "row length " + std::to_string(row) + " is not a multiple of the block size: f16";
  }
  if (c.type == source) c.keep_as_is = true;
  return c;
}

}  // namespace kestrel::cli
