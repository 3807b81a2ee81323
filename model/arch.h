#pragma once
// Per-architecture choices of the shared decoder-only transformer loop (model/forward.cpp). Adding an
// architecture (Qwen2, Gemma, Phi-3, GPT-2, StarCoder2, ...) means adding one ArchSpec description in
// arch.cpp (and, where it needs a step the loop lacks, one new enum value handled in the loop), never a
// copy of the loop.
#include <string>
#include <string_view>
#include <vector>

#include "kernels/ops.h"

namespace kestrel {

enum class NormKind { RmsNorm, LayerNorm };
enum class FfnKind { SwiGlu, Gelu };  // SwiGlu: down(silu(gate(x)) * up(x)); Gelu: down(gelu(up(x)))

// Tensor names. "{}" stands for the layer index (e.g. "blk.{}.attn_q.weight").
struct ArchTensorNames {
  std::string tok_embd = "token_embd.weight";
  std::string output_norm = "output_norm.weight";
  std::string output = "output.weight";
  std::string rope_freqs = "rope_freqs.weight";
  std::string attn_norm = "blk.{}.attn_norm.weight";
  std::string wq = "blk.{}.attn_q.weight";
  std::string wk = "blk.{}.attn_k.weight";
  std::string wv = "blk.{}.attn_v.weight";
  std::string wo = "blk.{}.attn_output.weight";
  std::string bq = "blk.{}.attn_q.bias";
  std::string bk = "blk.{}.attn_k.bias";
  std::string bv = "blk.{}.attn_v.bias";
  std::string ffn_norm = "blk.{}.ffn_norm.weight";
  std::string ffn_gate = "blk.{}.ffn_gate.weight";
  std::string ffn_up = "blk.{}.ffn_up.weight";
  std::string ffn_down = "blk.{}.ffn_down.weight";
};

struct ArchSpec {
  std::string name;               // general.architecture, also the metadata key prefix ("llama.")
  kernels::RopeMode rope_mode = kernels::RopeMode::Normal;
  NormKind norm = NormKind::RmsNorm;
  FfnKind ffn = FfnKind::SwiGlu;
  bool qkv_bias = false;          // Q/K/V projections have biases (Qwen2)
  bool tied_embeddings_ok = true; // no output.weight -> reuse token_embd.weight
  bool rope_freqs_ok = false;     // optional rope_freqs.weight (Llama 3.1 factors)
  bool moe_ok = false;            // expert_count > 0 allowed (Mixtral uses the llama arch)
  ArchTensorNames names;
};

// The description of a supported architecture, or nullptr.
const ArchSpec* find_arch(std::string_view name);
// Names of the supported architectures, for error messages ("llama").
std::string supported_arch_names();

// "blk.{}.attn_q.weight" with layer 3 -> "blk.3.attn_q.weight".
std::string layer_tensor_name(const std::string& pattern, int layer);

}  // namespace kestrel
