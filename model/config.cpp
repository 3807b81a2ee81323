#include "model/config.h"

#include <cmath>

namespace kestrel {
namespace {

// Upper bounds that keep every size computed from the config far from overflow.
constexpr int64_t kMaxDim = 1 << 20;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxCtx = 1 << 24;

Status bounded(const std::string& key, int64_t v, int64_t lo, int64_t hi, int* out) {
  if (v < lo || v > hi)
    return Status::error("metadata " + key + " = " + std::to_string(v) + " is out of range [" +
                         std::to_string(lo) + ", " + std::to_string(hi) + "]");
  *out = static_cast<int>(v);
  return Status::ok();
}

Status required_int(const GGUFFile& f, const std::string& key, int64_t lo, int64_t hi, int* out) {
  auto v = f.get_int(key);
  if (!v) return Status::error(v.error());
  return bounded(key, *v, lo, hi, out);
}

Status optional_int(const GGUFFile& f, const std::string& key, int64_t dflt, int64_t lo, int64_t hi, int* out) {
  auto v = f.get_int_or(key, dflt);
  if (!v) return Status::error(v.error());
  return bounded(key, *v, lo, hi, out);
}

Status positive_float(const GGUFFile& f, const std::string& key, float dflt, float* out) {
  auto v = f.get_float_or(key, dflt);
  if (!v) return Status::error(v.error());
  if (!(*v > 0) || !std::isfinite(*v)) return Status::error("metadata " + key + " must be a positive number");
  *out = *v;
  return Status::ok();
}

// RoPE scaling as llama.cpp reads it (llama_model::load_hparams + llama_context's cparams): the type
// defaults to "linear" with factor 1 (no scaling); "none" ignores any factor; "yarn" extrapolates with
// ext_factor 1 and an attention factor that cancels ggml's own YaRN magnitude correction; LongRoPE comes
// as rope_factors_long/short tensors (bound in weights.cpp), with rope.scaling.attn_factor.
Status read_rope_scaling(const GGUFFile& f, const std::string& p, ModelConfig& c) {
  auto scaling = f.get_string_or(p + "rope.scaling.type", "linear");
  if (!scaling) return Status::error(scaling.error());
  if (*scaling != "none" && *scaling != "linear" && *scaling != "yarn" && *scaling != "longrope")
    return Status::error("metadata " + p + "rope.scaling.type = '" + *scaling +
                         "' is not supported (none, linear, yarn, longrope)");
  float factor = 0.0f;
  const std::string factor_key = f.find(p + "rope.scaling.factor") ? p + "rope.scaling.factor" : p + "rope.scale_linear";
  auto fac = f.get_float_or(factor_key, 0.0f);
  if (!fac) return Status::error(fac.error());
  factor = *fac;
  if (!(factor >= 0) || !std::isfinite(factor))
    return Status::error("metadata " + factor_key + " must be a non-negative number");
  c.rope_freq_scale = factor == 0.0f ? 1.0f : 1.0f / factor;
  if (*scaling == "none") c.rope_freq_scale = 1.0f;
  c.rope_scaling = (*scaling == "linear" && c.rope_freq_scale == 1.0f) ? "none" : *scaling;
  // llama_context: an original context of 0 (absent or written as 0) means the training context.
  KESTREL_RETURN_IF_ERROR(optional_int(f, p + "rope.scaling.original_context_length", c.n_ctx_train, 0, kMaxCtx,
                                       &c.n_ctx_orig));
  if (c.n_ctx_orig == 0) c.n_ctx_orig = c.n_ctx_train;
  float attn_factor = 1.0f;
  KESTREL_RETURN_IF_ERROR(positive_float(f, p + "rope.scaling.attn_factor", 1.0f, &attn_factor));
  c.yarn_ext_factor = *scaling == "yarn" ? 1.0f : 0.0f;
  c.yarn_attn_factor = 1.0f;
  if (c.yarn_ext_factor != 0.0f) {
    const float s = 1.0f / c.rope_freq_scale;
    const float mscale = s <= 1.0f ? 1.0f : 0.1f * std::log(s) + 1.0f;
    c.yarn_attn_factor = mscale * (1.0f / (1.0f + 0.1f * std::log(s)));  // llama.cpp's rounding: times the reciprocal
  }
  c.yarn_attn_factor *= attn_factor;
  return Status::ok();
}

// Sliding window, per-layer pattern, local RoPE, query scale and soft-caps, as each architecture's
// llama.cpp loader reads them (the ArchSpec says which apply).
Status read_attention_extras(const GGUFFile& f, const std::string& p, const ArchSpec& arch, ModelConfig& c) {
  c.attn_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  for (int layers : arch.attn_scale_embd_per_head_layers)
    if (c.n_layer == layers) c.attn_scale = 1.0f / std::sqrt(static_cast<float>(c.n_embd / c.n_head));
  if (arch.swa) {
    KESTREL_RETURN_IF_ERROR(optional_int(f, p + "attention.sliding_window", arch.swa_window, 0, kMaxCtx, &c.n_swa));
    if (c.n_swa > 0) {
      c.swa_layers.assign(c.n_layer, 0);
      const Value* pat = f.find(p + "attention.sliding_window_pattern");
      if (pat && pat->type == ValueType::ARRAY) {  // one bool per layer: true = sliding window
        if (pat->items.size() != static_cast<size_t>(c.n_layer) || pat->elem_type != ValueType::BOOL)
          return Status::error("metadata " + p + "attention.sliding_window_pattern must be " +
                               std::to_string(c.n_layer) + " bools");
        for (int il = 0; il < c.n_layer; ++il) c.swa_layers[il] = pat->items[il].b ? 1 : 0;
      } else {
        int n_pattern = arch.swa_pattern;
        KESTREL_RETURN_IF_ERROR(optional_int(f, p + "attention.sliding_window_pattern", arch.swa_pattern, 0, kMaxLayers,
                                             &n_pattern));
        // llama.cpp's set_swa_pattern: layer il is local unless it is the last of each group of n.
        for (int il = 0; il < c.n_layer; ++il)
          c.swa_layers[il] = (n_pattern == 0 || il % n_pattern < n_pattern - 1) ? 1 : 0;
      }
      const float base_default = arch.swa_rope_base > 0 ? arch.swa_rope_base : c.rope_freq_base;
      KESTREL_RETURN_IF_ERROR(positive_float(f, p + "rope.freq_base_swa", base_default, &c.rope_freq_base_swa));
      c.rope_freq_scale_swa = arch.swa_rope_scale_global ? c.rope_freq_scale : 1.0f;
    }
  }
  if (arch.attn_softcap_ok) {
    auto v = f.get_float_or(p + "attn_logit_softcapping", 0.0f);
    if (!v) return Status::error(v.error());
    if (!(*v >= 0) || !std::isfinite(*v)) return Status::error("metadata " + p + "attn_logit_softcapping must be >= 0");
    c.attn_softcap = *v;
  }
  if (arch.final_softcap_ok) {
    auto v = f.get_float_or(p + "final_logit_softcapping", 0.0f);
    if (!v) return Status::error(v.error());
    if (!(*v >= 0) || !std::isfinite(*v)) return Status::error("metadata " + p + "final_logit_softcapping must be >= 0");
    c.final_softcap = *v;
  }
  return Status::ok();
}

}  // namespace

Result<ModelConfig> read_config(const GGUFFile& f) {
  ModelConfig c;
  auto arch_name = f.get_string("general.architecture");
  if (!arch_name) return Status::error(arch_name.error());
  c.arch = *arch_name;
  const ArchSpec* arch = find_arch(c.arch);
  if (!arch)
    return Status::error("unsupported architecture '" + c.arch + "' (supported: " + supported_arch_names() + ")");
  const std::string p = c.arch + ".";

  KESTREL_RETURN_IF_ERROR(required_int(f, p + "context_length", 1, kMaxCtx, &c.n_ctx_train));
  KESTREL_RETURN_IF_ERROR(required_int(f, p + "embedding_length", 1, kMaxDim, &c.n_embd));
  KESTREL_RETURN_IF_ERROR(required_int(f, p + "block_count", 1, kMaxLayers, &c.n_layer));
  KESTREL_RETURN_IF_ERROR(required_int(f, p + "feed_forward_length", 1, kMaxDim, &c.n_ff));
  KESTREL_RETURN_IF_ERROR(required_int(f, p + "attention.head_count", 1, kMaxDim, &c.n_head));
  KESTREL_RETURN_IF_ERROR(optional_int(f, p + "attention.head_count_kv", c.n_head, 1, c.n_head, &c.n_head_kv));
  if (c.n_head % c.n_head_kv != 0)
    return Status::error("metadata " + p + "attention.head_count (" + std::to_string(c.n_head) +
                         ") is not a multiple of attention.head_count_kv (" + std::to_string(c.n_head_kv) + ")");
  if (c.n_embd % c.n_head != 0 && !f.find(p + "attention.key_length"))
    return Status::error("metadata " + p + "embedding_length (" + std::to_string(c.n_embd) +
                         ") is not a multiple of attention.head_count (" + std::to_string(c.n_head) + ")");
  KESTREL_RETURN_IF_ERROR(optional_int(f, p + "attention.key_length", c.n_embd / c.n_head, 1, kMaxDim, &c.head_dim));
  KESTREL_RETURN_IF_ERROR(optional_int(f, p + "attention.value_length", c.head_dim, 1, kMaxDim, &c.head_dim_v));
  if (c.head_dim_v != c.head_dim)
    return Status::error("metadata " + p + "attention.value_length (" + std::to_string(c.head_dim_v) +
                         ") differs from attention.key_length (" + std::to_string(c.head_dim) + "): not supported");
  if (static_cast<int64_t>(c.n_head) * c.head_dim > kMaxDim)
    return Status::error("metadata " + p + "attention.head_count x key_length is too large");
  KESTREL_RETURN_IF_ERROR(optional_int(f, p + "rope.dimension_count", c.head_dim, 2, c.head_dim, &c.n_rot));
  if (c.n_rot % 2 != 0)
    return Status::error("metadata " + p + "rope.dimension_count (" + std::to_string(c.n_rot) + ") must be even");

  auto base = f.get_float_or(p + "rope.freq_base", 10000.0f);
  if (!base) return Status::error(base.error());
  if (!(*base > 0) || !std::isfinite(*base))
    return Status::error("metadata " + p + "rope.freq_base must be a positive number");
  c.rope_freq_base = *base;

  // LayerNorm architectures (GPT-2, StarCoder2) store attention.layer_norm_epsilon instead.
  const std::string eps_key =
      p + (arch->norm == NormKind::LayerNorm ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon");
  auto eps = f.get_float(eps_key);
  if (!eps) return Status::error(eps.error());
  if (!(*eps >= 0) || !std::isfinite(*eps)) return Status::error("metadata " + eps_key + " must be >= 0");
  c.rms_eps = *eps;
  c.rope_mode = arch->rope_mode;
  KESTREL_RETURN_IF_ERROR(read_rope_scaling(f, p, c));
  KESTREL_RETURN_IF_ERROR(read_attention_extras(f, p, *arch, c));

  // Vocabulary size: <arch>.vocab_size, else the length of the token list.
  if (f.find(p + "vocab_size")) {
    KESTREL_RETURN_IF_ERROR(required_int(f, p + "vocab_size", 1, 1 << 24, &c.n_vocab));
  } else if (const Value* toks = f.find("tokenizer.ggml.tokens"); toks && toks->type == ValueType::ARRAY) {
    KESTREL_RETURN_IF_ERROR(bounded("tokenizer.ggml.tokens (length)", static_cast<int64_t>(toks->items.size()),
                                    1, 1 << 24, &c.n_vocab));
  } else {
    return Status::error("metadata: neither " + p + "vocab_size nor tokenizer.ggml.tokens is present");
  }

  KESTREL_RETURN_IF_ERROR(optional_int(f, p + "expert_count", 0, 0, 4096, &c.n_expert));
  KESTREL_RETURN_IF_ERROR(optional_int(f, p + "expert_used_count", 0, 0, 4096, &c.n_expert_used));
  if (c.n_expert > 0) {
    if (!arch->moe_ok)
      return Status::error("architecture '" + c.arch + "' does not support " + p + "expert_count > 0");
    if (c.n_expert_used < 1 || c.n_expert_used > c.n_expert)
      return Status::error("metadata " + p + "expert_used_count (" + std::to_string(c.n_expert_used) +
                           ") must be in [1, expert_count = " + std::to_string(c.n_expert) + "]");
  } else {
    c.n_expert_used = 0;
  }
  return c;
}

}  // namespace kestrel
