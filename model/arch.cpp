#include "model/arch.h"

namespace kestrel {
namespace {

// Llama 1/2/3/3.1/3.2, Mistral and Mixtral all use general.architecture = "llama". GGUF converters
// permute the Q/K rows so that RoPE rotates adjacent pairs (ggml's "normal" mode).
ArchSpec make_llama() {
  ArchSpec a;
  a.name = "llama";
  a.rope_mode = kernels::RopeMode::Normal;
  a.norm = NormKind::RmsNorm;
  a.ffn = FfnKind::SwiGlu;
  a.qkv_bias = false;
  a.tied_embeddings_ok = true;
  a.rope_freqs_ok = true;
  a.moe_ok = true;
  return a;
}

const std::vector<ArchSpec>& registry() {
  static const std::vector<ArchSpec> archs = {make_llama()};
  return archs;
}

}  // namespace

const ArchSpec* find_arch(std::string_view name) {
  for (const ArchSpec& a : registry())
    if (a.name == name) return &a;
  return nullptr;
}

std::string supported_arch_names() {
  std::string s;
  for (const ArchSpec& a : registry()) s += (s.empty() ? "" : ", ") + a.name;
  return s;
}

std::string layer_tensor_name(const std::string& pattern, int layer) {
  std::string out = pattern;
  size_t p = out.find("{}");
  if (p != std::string::npos) out.replace(p, 2, std::to_string(layer));
  return out;
}

}  // namespace kestrel
