#pragma once
// Binds a model's tensors by name (from its ArchSpec) to typed, shape-checked views the forward pass
// reads. Errors name the tensor: missing, wrong shape (expected vs actual) or a type Kestrel cannot
// compute with (e.g. Q4_K is parsed but has no kernels yet).
#include <memory>
#include <vector>

#include "gguf/status.h"
#include "gguf/weight_store.h"
#include "model/arch.h"
#include "model/llm.h"
#include "model/moe.h"

namespace kestrel {

struct LayerWeights {
  const TensorView* attn_norm = nullptr;  // [n_embd] F32
  const TensorView* attn_norm_b = nullptr;  // LayerNorm bias (optional)
  const TensorView* wqkv = nullptr;       // fused [n_embd, q + 2 kv] (GPT-2, Phi-3); then wq/wk/wv are null
  const TensorView* bqkv = nullptr;
  const TensorView* wq = nullptr;         // [n_embd, n_head*head_dim]
  const TensorView* wk = nullptr;         // [n_embd, n_head_kv*head_dim]
  const TensorView* wv = nullptr;         // [n_embd, n_head_kv*head_dim]
  const TensorView* wo = nullptr;         // [n_head*head_dim, n_embd]
  const TensorView* bq = nullptr;         // biases: required by ArchSpec::qkv_bias, else used when present
  const TensorView* bk = nullptr;
  const TensorView* bv = nullptr;
  const TensorView* bo = nullptr;
  const TensorView* q_norm = nullptr;     // [head_dim] per-head RMSNorm (ArchSpec::qk_norm)
  const TensorView* k_norm = nullptr;
  const TensorView* attn_post_norm = nullptr;  // [n_embd] (ArchSpec::post_norms)
  const TensorView* ffn_norm = nullptr;   // [n_embd] F32
  const TensorView* ffn_norm_b = nullptr;
  const TensorView* ffn_gate = nullptr;   // [n_embd, n_ff] (gated FFNs)
  const TensorView* ffn_up = nullptr;     // [n_embd, n_ff] ([n_embd, 2 n_ff] with ArchSpec::fused_gate_up)
  const TensorView* ffn_up_b = nullptr;
  const TensorView* ffn_down = nullptr;   // [n_ff, n_embd]
  const TensorView* ffn_down_b = nullptr;
  const TensorView* ffn_post_norm = nullptr;  // [n_embd] (ArchSpec::post_norms)
  MoeLayer moe;                           // n_expert > 0: router + experts (model/moe.h)
};

struct ModelWeights {
  const TensorView* tok_embd = nullptr;     // [n_embd, n_vocab]
  const TensorView* pos_embd = nullptr;     // [n_embd, n_ctx_train] learned positions (GPT-2)
  const TensorView* output_norm = nullptr;  // [n_embd] F32
  const TensorView* output_norm_b = nullptr;
  const TensorView* output = nullptr;       // [n_embd, n_vocab]; == tok_embd when tied
  const TensorView* rope_freqs = nullptr;   // [n_rot/2] F32, optional
  const TensorView* rope_long = nullptr;    // [n_rot/2] F32, optional LongRoPE factors (Phi-3)
  const TensorView* rope_short = nullptr;
  std::vector<LayerWeights> layers;
};

// Binds every tensor; sets cfg.tied_embeddings and cfg.has_rope_freqs from what the file holds.
Result<ModelWeights> bind_weights(const WeightStore& ws, const ArchSpec& arch, ModelConfig& cfg);

}  // namespace kestrel
