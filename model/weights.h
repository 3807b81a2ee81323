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
  const TensorView* wq = nullptr;         // [n_embd, n_head*head_dim]
  const TensorView* wk = nullptr;         // [n_embd, n_head_kv*head_dim]
  const TensorView* wv = nullptr;         // [n_embd, n_head_kv*head_dim]
  const TensorView* wo = nullptr;         // [n_head*head_dim, n_embd]
  const TensorView* bq = nullptr;         // optional biases (ArchSpec::qkv_bias)
  const TensorView* bk = nullptr;
  const TensorView* bv = nullptr;
  const TensorView* ffn_norm = nullptr;   // [n_embd] F32
  const TensorView* ffn_gate = nullptr;   // [n_embd, n_ff] (dense models)
  const TensorView* ffn_up = nullptr;     // [n_embd, n_ff]
  const TensorView* ffn_down = nullptr;   // [n_ff, n_embd]
  MoeLayer moe;                           // n_expert > 0: router + experts (model/moe.h)
};

struct ModelWeights {
  const TensorView* tok_embd = nullptr;     // [n_embd, n_vocab]
  const TensorView* output_norm = nullptr;  // [n_embd] F32
  const TensorView* output = nullptr;       // [n_embd, n_vocab]; == tok_embd when tied
  const TensorView* rope_freqs = nullptr;   // [n_rot/2] F32, optional
  std::vector<LayerWeights> layers;
};

// Binds every tensor; sets cfg.tied_embeddings and cfg.has_rope_freqs from what the file holds.
Result<ModelWeights> bind_weights(const WeightStore& ws, const ArchSpec& arch, ModelConfig& cfg);

}  // namespace kestrel
