#include "model/weights.h"

#include "gguf/value_format.h"
#include "kernels/type_traits.h"
#include "model/forward_moe.h"

namespace kestrel {
namespace {

// Normalises trailing 1s away so [64, 1] and [64] compare equal (GGUF may store either).
std::vector<int64_t> trimmed(std::vector<int64_t> ne) {
  while (ne.size() > 1 && ne.back() == 1) ne.pop_back();
  return ne;
}

enum class Need { Matrix, F32Vector };

struct Binder {
  const WeightStore& ws;

  Result<const TensorView*> get(const std::string& name, std::vector<int64_t> expected, Need need,
                                bool optional = false) const {
    const TensorView* t = ws.find(name);
    if (!t) {
      if (optional) return static_cast<const TensorView*>(nullptr);
      return Status::error("missing tensor '" + name + "'");
    }
    if (trimmed(t->ne) != trimmed(expected))
      return Status::error("tensor '" + name + "' has shape " + format_shape(t->ne) + ", expected " + format_shape(expected));
    if (need == Need::F32Vector && t->type != TensorType::F32)
      return Status::error("tensor '" + name + "' has type " + std::string(type_name(t->type)) +
                           ", expected f32");
    if (need == Need::Matrix && !kernels::is_computable(t->type))
      return Status::error("tensor '" + name + "' has type " + std::string(type_name(t->type)) +
                           ", which Kestrel can read but not compute with (supported: " + kernels::computable_type_names() + ")");
    return t;
  }
};

#define BIND(dst, expr)                                  \
  do {                                                   \
    auto r_ = (expr);                                    \
    if (!r_) return Status::error(r_.error());           \
    dst = *r_;                                           \
  } while (0)

}  // namespace

Result<ModelWeights> bind_weights(const WeightStore& ws, const ArchSpec& arch, ModelConfig& cfg) {
  Binder b{ws};
  const ArchTensorNames& n = arch.names;
  const int64_t E = cfg.n_embd, Q = cfg.n_embd_q(), KV = cfg.n_embd_kv(), F = cfg.n_ff, V = cfg.n_vocab;
  const bool biases = arch.layer_biases;  // required; otherwise optional
  ModelWeights w;
  BIND(w.tok_embd, b.get(n.tok_embd, {E, V}, Need::Matrix));
  if (!arch.rope) BIND(w.pos_embd, b.get(n.pos_embd, {E, cfg.n_ctx_train}, Need::Matrix));
  BIND(w.output_norm, b.get(n.output_norm, {E}, Need::F32Vector));
  // Norm biases belong to LayerNorm (llama.cpp's RMSNorm loaders never read one).
  const bool layer_norm = arch.norm == NormKind::LayerNorm;
  if (layer_norm) BIND(w.output_norm_b, b.get(n.output_norm_b, {E}, Need::F32Vector, !biases));
  if (!arch.always_tied) BIND(w.output, b.get(n.output, {E, V}, Need::Matrix, arch.tied_embeddings_ok));
  cfg.tied_embeddings = w.output == nullptr;
  if (cfg.tied_embeddings) w.output = w.tok_embd;
  if (arch.rope_freqs_ok) BIND(w.rope_freqs, b.get(n.rope_freqs, {cfg.n_rot / 2}, Need::F32Vector, true));
  cfg.has_rope_freqs = w.rope_freqs != nullptr;
  if (arch.rope_factors_ok) {
    BIND(w.rope_long, b.get(n.rope_long, {cfg.n_rot / 2}, Need::F32Vector, true));
    BIND(w.rope_short, b.get(n.rope_short, {cfg.n_rot / 2}, Need::F32Vector, true));
    if ((w.rope_long == nullptr) != (w.rope_short == nullptr))
      return Status::error("tensors '" + n.rope_long + "' and '" + n.rope_short + "' must both be present or both absent");
  }
  cfg.has_rope_factors = w.rope_long != nullptr;
  const int64_t HD = cfg.head_dim;
  const int64_t up_rows = arch.fused_gate_up ? 2 * F : F;

  w.layers.resize(cfg.n_layer);
  for (int il = 0; il < cfg.n_layer; ++il) {
    LayerWeights& l = w.layers[il];
    auto name = [&](const std::string& pattern) { return layer_tensor_name(pattern, il); };
    BIND(l.attn_norm, b.get(name(n.attn_norm), {E}, Need::F32Vector));
    if (layer_norm) BIND(l.attn_norm_b, b.get(name(n.attn_norm_b), {E}, Need::F32Vector, !biases));
    if (arch.fused_qkv || (arch.fused_qkv_ok && ws.find(name(n.wqkv)))) {
      BIND(l.wqkv, b.get(name(n.wqkv), {E, Q + 2 * KV}, Need::Matrix));
      BIND(l.bqkv, b.get(name(n.bqkv), {Q + 2 * KV}, Need::F32Vector, !biases));
    } else {
      BIND(l.wq, b.get(name(n.wq), {E, Q}, Need::Matrix));
      BIND(l.wk, b.get(name(n.wk), {E, KV}, Need::Matrix));
      BIND(l.wv, b.get(name(n.wv), {E, KV}, Need::Matrix));
      BIND(l.bq, b.get(name(n.bq), {Q}, Need::F32Vector, !arch.qkv_bias));
      BIND(l.bk, b.get(name(n.bk), {KV}, Need::F32Vector, !arch.qkv_bias));
      BIND(l.bv, b.get(name(n.bv), {KV}, Need::F32Vector, !arch.qkv_bias));
    }
    BIND(l.wo, b.get(name(n.wo), {Q, E}, Need::Matrix));
    BIND(l.bo, b.get(name(n.bo), {E}, Need::F32Vector, !biases));
    if (arch.qk_norm) {
      BIND(l.q_norm, b.get(name(n.q_norm), {HD}, Need::F32Vector));
      BIND(l.k_norm, b.get(name(n.k_norm), {HD}, Need::F32Vector));
    }
    if (arch.post_norms) {
      BIND(l.attn_post_norm, b.get(name(n.attn_post_norm), {E}, Need::F32Vector));
      BIND(l.ffn_post_norm, b.get(name(n.ffn_post_norm), {E}, Need::F32Vector));
    }
    BIND(l.ffn_norm, b.get(name(n.ffn_norm), {E}, Need::F32Vector));
    if (layer_norm) BIND(l.ffn_norm_b, b.get(name(n.ffn_norm_b), {E}, Need::F32Vector, !biases));
    if (cfg.n_expert > 0) {
      auto moe = bind_layer_experts(ws, il, cfg);
      if (!moe) return Status::error(moe.error());
      l.moe = std::move(*moe);
    } else {
      const bool gated = arch.ffn != FfnKind::Gelu && !arch.fused_gate_up;
      if (gated) BIND(l.ffn_gate, b.get(name(n.ffn_gate), {E, F}, Need::Matrix));
      BIND(l.ffn_up, b.get(name(n.ffn_up), {E, up_rows}, Need::Matrix));
      BIND(l.ffn_up_b, b.get(name(n.ffn_up_b), {up_rows}, Need::F32Vector, !biases));
      BIND(l.ffn_down, b.get(name(n.ffn_down), {F, E}, Need::Matrix));
      BIND(l.ffn_down_b, b.get(name(n.ffn_down_b), {E}, Need::F32Vector, !biases));
    }
  }
  return w;
}

}  // namespace kestrel
