#pragma once
// Per-architecture choices of the shared decoder-only transformer loop (model/forward.cpp). Adding an
// architecture means adding one ArchSpec description in arch.cpp (and, where it needs a step the loop
// lacks, one new field handled in the loop), never a copy of the loop. The facts of each description
// follow llama.cpp's graph for that architecture (src/models/<arch>.cpp), so the same file gives the
// same numbers.
#include <string>
#include <string_view>
#include <vector>

#include "kernels/ops.h"

namespace kestrel {

enum class NormKind { RmsNorm, LayerNorm };  // LayerNorm: mean-centred, optional bias (GPT-2, StarCoder2)
enum class FfnKind {
  SwiGlu,  // down(silu(gate(x)) * up(x))
  GeGlu,   // down(gelu_tanh(gate(x)) * up(x))  (Gemma)
  Gelu,    // down(gelu_tanh(up(x)))            (GPT-2, StarCoder2)
};

// Tensor names. "{}" stands for the layer index (e.g. "blk.{}.attn_q.weight").
struct ArchTensorNames {
  std::string tok_embd = "token_embd.weight";
  std::string pos_embd = "position_embd.weight";
  std::string output_norm = "output_norm.weight";
  std::string output_norm_b = "output_norm.bias";
  std::string output = "output.weight";
  std::string rope_freqs = "rope_freqs.weight";
  std::string rope_long = "rope_factors_long.weight";
  std::string rope_short = "rope_factors_short.weight";
  std::string attn_norm = "blk.{}.attn_norm.weight";
  std::string attn_norm_b = "blk.{}.attn_norm.bias";
  std::string wqkv = "blk.{}.attn_qkv.weight";
  std::string bqkv = "blk.{}.attn_qkv.bias";
  std::string wq = "blk.{}.attn_q.weight";
  std::string wk = "blk.{}.attn_k.weight";
  std::string wv = "blk.{}.attn_v.weight";
  std::string wo = "blk.{}.attn_output.weight";
  std::string bq = "blk.{}.attn_q.bias";
  std::string bk = "blk.{}.attn_k.bias";
  std::string bv = "blk.{}.attn_v.bias";
  std::string bo = "blk.{}.attn_output.bias";
  std::string q_norm = "blk.{}.attn_q_norm.weight";
  std::string k_norm = "blk.{}.attn_k_norm.weight";
  std::string attn_post_norm = "blk.{}.post_attention_norm.weight";
  std::string ffn_norm = "blk.{}.ffn_norm.weight";
  std::string ffn_norm_b = "blk.{}.ffn_norm.bias";
  std::string ffn_gate = "blk.{}.ffn_gate.weight";
  std::string ffn_up = "blk.{}.ffn_up.weight";
  std::string ffn_up_b = "blk.{}.ffn_up.bias";
  std::string ffn_down = "blk.{}.ffn_down.weight";
  std::string ffn_down_b = "blk.{}.ffn_down.bias";
  std::string ffn_post_norm = "blk.{}.post_ffw_norm.weight";
};

struct ArchSpec {
  std::string name;               // general.architecture, also the metadata key prefix ("llama.")
  kernels::RopeMode rope_mode = kernels::RopeMode::Normal;
  bool rope = true;               // false: learned absolute position embeddings (GPT-2's position_embd)
  NormKind norm = NormKind::RmsNorm;
  FfnKind ffn = FfnKind::SwiGlu;
  bool qkv_bias = false;          // Q/K/V biases required (Qwen2); other archs use them when present
  bool layer_biases = false;      // norm, output-projection and FFN biases required (GPT-2, StarCoder2)
  bool fused_qkv = false;         // attn_qkv.weight [n_embd, q + 2 kv] required (GPT-2); Phi-3 may have either
  bool fused_qkv_ok = false;      // attn_qkv.weight used when present, separate Q/K/V otherwise
  bool fused_gate_up = false;     // ffn_up.weight is [n_embd, 2 n_ff]: gate rows, then up rows (Phi-3)
  bool tied_embeddings_ok = true; // no output.weight -> reuse token_embd.weight
  bool always_tied = false;       // output.weight is never read (Gemma 1/2: llama.cpp ignores it)
  bool rope_freqs_ok = false;     // optional rope_freqs.weight (Llama 3.1 factors)
  bool rope_factors_ok = false;   // optional rope_factors_long/short.weight (Phi-3 LongRoPE)
  bool moe_ok = false;            // expert_count > 0 allowed (Mixtral uses the llama arch)
  bool embd_scale = false;        // token embeddings * sqrt(n_embd) (Gemma)
  bool qk_norm = false;           // per-head RMSNorm of Q and K before RoPE (Gemma 3, Qwen3)
  bool post_norms = false;        // RMSNorm of the attention and FFN outputs before each residual add
                                  // (Gemma 2/3: post_attention_norm, post_ffw_norm)
  bool q_prescale = false;        // Q is multiplied by the attention scale before K.q, which then has
                                  // scale 1 (Gemma, Phi-3: the order of llama.cpp's graph, so an F16
                                  // cache sees the same rounded query)
  // Query scale 1/sqrt(n_embd / n_head) instead of 1/sqrt(head_dim) for these block counts (Gemma 2
  // and 3 27B, as llama.cpp decides from the layer count).
  std::vector<int> attn_scale_embd_per_head_layers;
  // Sliding-window attention (Gemma 2/3). swa_pattern n: every n-th layer is global, the others local
  // (llama.cpp's set_swa_pattern; the file's attention.sliding_window_pattern overrides it). swa_window:
  // window when the file has no attention.sliding_window (0: no window unless the file has one).
  // swa_rope_base: RoPE base of local layers when rope.freq_base_swa is absent (0: the global base);
  // swa_rope_scale_global: local layers use the global rope scaling (Gemma 2) instead of none (Gemma 3).
  bool swa = false;
  int swa_pattern = 0;
  int swa_window = 0;
  float swa_rope_base = 0.0f;
  bool swa_rope_scale_global = false;
  bool attn_softcap_ok = false;   // <arch>.attn_logit_softcapping is read (Gemma 2)
  bool final_softcap_ok = false;  // <arch>.final_logit_softcapping is read (Gemma 2/3)
  ArchTensorNames names;
};

// The description of a supported architecture, or nullptr.
const ArchSpec* find_arch(std::string_view name);
// Names of the supported architectures, for error messages ("llama, gemma3, ...").
std::string supported_arch_names();

// "blk.{}.attn_q.weight" with layer 3 -> "blk.3.attn_q.weight".
std::string layer_tensor_name(const std::string& pattern, int layer);

}  // namespace kestrel
