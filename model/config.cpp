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

  auto eps = f.get_float(p + "attention.layer_norm_rms_epsilon");
  if (!eps) return Status::error(eps.error());
  if (!(*eps >= 0) || !std::isfinite(*eps))
    return Status::error("metadata " + p + "attention.layer_norm_rms_epsilon must be >= 0");
  c.rms_eps = *eps;

  // RoPE scaling: "linear" divides positions by the factor; Llama 3.1's "llama3" scaling comes as the
  // rope_freqs.weight tensor instead of metadata in GGUF files. Anything else would change the numbers.
  auto scaling = f.get_string_or(p + "rope.scaling.type", "none");
  if (!scaling) return Status::error(scaling.error());
  float factor = 1.0f;
  if (*scaling == "linear") {
    auto fac = f.get_float_or(p + "rope.scaling.factor", 1.0f);
    if (!fac) return Status::error(fac.error());
    factor = *fac;
  } else if (*scaling != "none") {
    return Status::error("metadata " + p + "rope.scaling.type = '" + *scaling + "' is not supported (none, linear)");
  } else if (f.find(p + "rope.scale_linear")) {  // older files
    auto fac = f.get_float(p + "rope.scale_linear");
    if (!fac) return Status::error(fac.error());
    factor = *fac;
  }
  if (!(factor > 0) || !std::isfinite(factor))
    return Status::error("metadata " + p + "rope.scaling.factor must be a positive number");
  c.rope_freq_scale = 1.0f / factor;
  c.rope_mode = arch->rope_mode;

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
