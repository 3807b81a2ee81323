// Random-weight GGUF files of every supported architecture (see synthetic_model.h). The weights are uniform random with
// standard deviations picked so a forward pass looks like a trained model's: unit-scale Q/K dots (softmax
// spread over positions, not one-hot), residual increments below the residual itself, and logits with a
// standard deviation of about 3 (a peaked but not saturated next-token distribution).
#include "model/synthetic_model.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/arch.h"
#include "kernels/type_traits.h"

namespace kestrel {
namespace {

// splitmix64: fast, seedable, identical on every platform (so a seed always gives the same file).
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }  // [0, 1)
};

struct Builder {
  const SyntheticSpec& spec;
  GGUFWriter w;
  uint64_t tensor_no = 0;

  // A tensor of ne (ggml order) with values uniform in mean ± std*sqrt(3), stored as `type`.
  Status add(const std::string& name, TensorType type, std::vector<int64_t> ne, float stddev, float mean = 0.0f) {
    Rng rng{spec.seed * 0x100000001B3ull + (++tensor_no) * 0x9E3779B97F4A7C15ull};
    const int64_t row = ne[0];
    int64_t n_rows = 1;
    for (size_t i = 1; i < ne.size(); ++i) n_rows *= ne[i];
    const kernels::TypeTraits* tt = kernels::type_traits(type);
    if (!tt) return Status::error("synthetic model: cannot write tensor type " + std::string(type_name(type)));
    auto row_bytes = bytes_for(type, row);
    if (!row_bytes)
      return Status::error("synthetic model: tensor '" + name + "' rows of " + std::to_string(row) +
                           " are not a multiple of the " + std::string(type_name(type)) + " block size");
    std::vector<uint8_t> data(*row_bytes * n_rows);
    std::vector<float> buf(row);
    const float a = stddev * std::sqrt(3.0f);
    for (int64_t r = 0; r < n_rows; ++r) {
      for (int64_t i = 0; i < row; ++i) buf[i] = mean + a * (2.0f * rng.uniform() - 1.0f);
      tt->from_float(buf.data(), data.data() + r * *row_bytes, row);
    }
    return w.add_tensor(name, type, std::move(ne), data.data(), data.size());
  }

  Status add_values(const std::string& name, const std::vector<float>& v) {
    return w.add_tensor(name, TensorType::F32, {static_cast<int64_t>(v.size())}, v.data(), v.size() * sizeof(float));
  }
};

// SentencePiece-style vocabulary: <unk>, <s>, </s>, the 256 byte-fallback tokens, then pieces: common
// characters and word starts ("▁" is SentencePiece's space), then unique generated pieces up to n_vocab.
void make_vocab(int n_vocab, std::vector<std::string>& tokens, std::vector<float>& scores, std::vector<int32_t>& types) {
  const std::string sp = "\xE2\x96\x81";  // U+2581
  tokens = {"<unk>", "<s>", "</s>"};
  types = {2, 3, 3};  // unknown, control, control
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    tokens.push_back(name);
    types.push_back(6);  // byte
  }
  std::set<std::string> seen(tokens.begin(), tokens.end());
  std::vector<std::string> pieces = {sp};
  const std::string letters = "etaoinshrdlucmfwypvbgkjqxz";
  for (char c : letters) pieces.push_back(std::string(1, c));
  for (char c : letters) pieces.push_back(sp + std::string(1, c));
  for (const char* s : {".", ",", "!", "?", "'", "\"", "-", ":", ";", "0", "1", "2", "3", "4", "5", "6", "7",
                        "8", "9", "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P",
                        "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z"})
    pieces.push_back(s);
  for (const char* s : {"th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "ti", "es", "or", "te", "of",
                        "ed", "is", "it", "al", "ar", "st", "to", "nt", "ng", "se", "ha", "as", "ou", "io", "le",
                        "ve", "co", "me", "de", "hi", "ri", "ro", "ic", "ne", "ea", "ra", "ce", "li", "ch", "ll"}) {
    pieces.push_back(s);
    pieces.push_back(sp + s);
  }
  for (const char* s : {"the", "and", "ing", "ion", "was", "for", "one", "day", "time", "upon", "Once", "little",
                        "there", "play", "happy", "friend", "said", "she", "her", "his", "they", "with"})
    pieces.push_back(sp + s);
  // Generated pieces: "▁" + two or more letters, enumerated in a fixed order until the vocab is full.
  size_t k = 0;
  const int n_fixed = static_cast<int>(tokens.size());
  while (static_cast<int>(tokens.size()) < n_vocab) {
    std::string piece;
    if (k < pieces.size()) {
      piece = pieces[k];
    } else {
      size_t x = k - pieces.size() + 26 * 26;  // start at two letters
      std::string s;
      while (x > 0) {
        s.push_back(letters[x % 26]);
        x /= 26;
      }
      piece = (k % 3 == 0 ? s : sp + s);
    }
    ++k;
    if (!seen.insert(piece).second) continue;
    tokens.push_back(piece);
    types.push_back(1);  // normal
  }
  tokens.resize(n_vocab);
  types.resize(n_vocab);
  scores.assign(n_vocab, 0.0f);
  for (int i = n_fixed; i < n_vocab; ++i) scores[i] = -static_cast<float>(i - n_fixed);  // earlier = preferred
}

uint32_t file_type(TensorType t) {
  switch (t) {
    case TensorType::F32: return 0;
    case TensorType::F16: return 1;
    case TensorType::Q4_0: return 2;
    case TensorType::Q8_0: return 7;
    case TensorType::BF16: return 32;
    default: return 0;
  }
}

int head_dim_of(const SyntheticSpec& s) { return s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head; }

Status check_spec(const SyntheticSpec& s, const ArchSpec* arch) {
  auto bad = [](const std::string& m) { return Status::error("synthetic model: " + m); };
  if (!arch) return bad("unknown architecture '" + s.arch + "' (supported: " + supported_arch_names() + ")");
  if (s.vocab_from.empty() && s.n_vocab < 262) return bad("n_vocab must be >= 262 (3 special + 256 byte tokens + pieces)");
  if (s.n_embd < 2 || s.n_layer < 1 || s.n_head < 1 || s.n_head_kv < 1 || s.n_ff < 1 || s.n_ctx < 1)
    return bad("every dimension must be positive");
  if (s.head_dim <= 0 && s.n_embd % s.n_head != 0) return bad("n_embd must be a multiple of n_head");
  if (s.n_head % s.n_head_kv != 0) return bad("n_head must be a multiple of n_head_kv");
  if (head_dim_of(s) % 2 != 0) return bad("head dim must be even");
  const kernels::TypeTraits* tt = kernels::type_traits(s.type);
  if (!tt) return bad("weight type " + std::string(type_name(s.type)) + " is not supported");
  const int64_t q = static_cast<int64_t>(s.n_head) * head_dim_of(s);
  if (s.n_embd % tt->block_size != 0 || s.n_ff % tt->block_size != 0 || q % tt->block_size != 0)
    return bad("n_embd, n_ff and n_head * head_dim must be multiples of " + std::to_string(tt->block_size) + " for " +
               std::string(type_name(s.type)));
  if (s.n_expert < 0 || (s.n_expert > 0 && (s.n_expert_used < 1 || s.n_expert_used > s.n_expert)))
    return bad("n_expert_used must be in [1, n_expert]");
  if (s.n_expert > 0 && !arch->moe_ok) return bad("architecture '" + s.arch + "' has no experts");
  if ((s.n_swa > 0 || s.swa_pattern > 0) && !arch->swa) return bad("architecture '" + s.arch + "' has no sliding window");
  if (s.attn_softcap > 0 && !arch->attn_softcap_ok) return bad("architecture '" + s.arch + "' has no attention soft-cap");
  if (s.final_softcap > 0 && !arch->final_softcap_ok) return bad("architecture '" + s.arch + "' has no final soft-cap");
  if (s.rope_factors && !arch->rope_factors_ok) return bad("architecture '" + s.arch + "' has no LongRoPE factors");
  if (s.rope_freqs && !arch->rope_freqs_ok) return bad("architecture '" + s.arch + "' has no rope_freqs");
  return Status::ok();
}

// The tokenizer: the generated SentencePiece vocab, or every tokenizer.* key of a real file.
Status write_vocab(GGUFWriter& w, const SyntheticSpec& spec, int* n_vocab) {
  if (!spec.vocab_from.empty()) {
    auto f = GGUFFile::open(spec.vocab_from);
    if (!f) return Status::error("synthetic model: --vocab-from: " + f.error());
    const Value* toks = (*f)->find("tokenizer.ggml.tokens");
    if (!toks || toks->type != ValueType::ARRAY || toks->items.empty())
      return Status::error("synthetic model: " + spec.vocab_from + " has no tokenizer.ggml.tokens");
    for (const KeyValue& kv : (*f)->metadata())
      if (kv.key.rfind("tokenizer.", 0) == 0) w.set(kv.key, kv.value);
    *n_vocab = static_cast<int>(toks->items.size());
    return Status::ok();
  }
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  make_vocab(spec.n_vocab, tokens, scores, types);
  w.set_string("tokenizer.ggml.model", "llama");
  w.set("tokenizer.ggml.tokens", Value::string_array(tokens));
  w.set("tokenizer.ggml.scores", Value::f32_array(scores));
  w.set("tokenizer.ggml.token_type", Value::i32_array(types));
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_bool("tokenizer.ggml.add_eos_token", false);
  *n_vocab = spec.n_vocab;
  return Status::ok();
}

void write_hparams(GGUFWriter& w, const SyntheticSpec& spec, const ArchSpec& arch, int n_vocab) {
  const std::string p = spec.arch + ".";
  const int hd = head_dim_of(spec);
  w.set_string("general.architecture", spec.arch);
  w.set_string("general.name", "kestrel-synthetic");
  w.set_u32("general.file_type", file_type(spec.type));
  w.set_u32(p + "context_length", spec.n_ctx);
  w.set_u32(p + "embedding_length", spec.n_embd);
  w.set_u32(p + "block_count", spec.n_layer);
  w.set_u32(p + "feed_forward_length", spec.n_ff);
  w.set_u32(p + "attention.head_count", spec.n_head);
  w.set_u32(p + "attention.head_count_kv", spec.n_head_kv);
  if (spec.head_dim > 0) {
    w.set_u32(p + "attention.key_length", hd);
    w.set_u32(p + "attention.value_length", hd);
  }
  if (arch.rope) {
    w.set_u32(p + "rope.dimension_count", hd);
    w.set_f32(p + "rope.freq_base", spec.rope_freq_base);
  }
  if (!spec.rope_scaling_type.empty()) {
    w.set_string(p + "rope.scaling.type", spec.rope_scaling_type);
    w.set_f32(p + "rope.scaling.factor", spec.rope_scaling_factor);
  }
  if (spec.rope_scaling_orig_ctx > 0) w.set_u32(p + "rope.scaling.original_context_length", spec.rope_scaling_orig_ctx);
  if (spec.rope_attn_factor > 0) w.set_f32(p + "rope.scaling.attn_factor", spec.rope_attn_factor);
  w.set_f32(p + (arch.norm == NormKind::LayerNorm ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon"),
            spec.rms_eps);
  w.set_u32(p + "vocab_size", n_vocab);
  if (spec.n_swa > 0) w.set_u32(p + "attention.sliding_window", spec.n_swa);
  if (spec.swa_pattern > 0) w.set_u32(p + "attention.sliding_window_pattern", spec.swa_pattern);
  if (spec.attn_softcap > 0) w.set_f32(p + "attn_logit_softcapping", spec.attn_softcap);
  if (spec.final_softcap > 0) w.set_f32(p + "final_logit_softcapping", spec.final_softcap);
  if (spec.n_expert > 0) {
    w.set_u32(p + "expert_count", spec.n_expert);
    w.set_u32(p + "expert_used_count", spec.n_expert_used);
  }
}

// A smooth ramp of n factors from 1 to `top` (the shape of Llama 3.1's and LongRoPE's factors).
std::vector<float> ramp_factors(int n, float top) {
  std::vector<float> f(n);
  for (int i = 0; i < n; ++i) {
    const float r = std::clamp((static_cast<float>(i) / n - 0.25f) / 0.5f, 0.0f, 1.0f);
    f[i] = 1.0f + (top - 1.0f) * r;
  }
  return f;
}

}  // namespace

Status write_synthetic_model(const std::string& path, const SyntheticSpec& spec) {
  const ArchSpec* arch = find_arch(spec.arch);
  KESTREL_RETURN_IF_ERROR(check_spec(spec, arch));
  const ArchSpec& a = *arch;
  const ArchTensorNames& nm = a.names;
  Builder b{spec, {}};
  GGUFWriter& w = b.w;
  int n_vocab = 0;
  KESTREL_RETURN_IF_ERROR(write_vocab(w, spec, &n_vocab));
  write_hparams(w, spec, a, n_vocab);
  const int head_dim = head_dim_of(spec);
  const int64_t E = spec.n_embd, F = spec.n_ff, V = n_vocab;
  const int64_t Q = static_cast<int64_t>(spec.n_head) * head_dim, KV = static_cast<int64_t>(spec.n_head_kv) * head_dim;

  const float s_in = 1.0f / std::sqrt(static_cast<float>(E));  // unit-variance outputs from normed inputs
  const float s_logit = 3.0f / std::sqrt(static_cast<float>(E));
  const TensorType t = spec.type;
  const bool ln = a.norm == NormKind::LayerNorm;
  auto norm = [&](const std::string& name, int64_t n) { return b.add(name, TensorType::F32, {n}, 0.1f, 1.0f); };
  auto bias = [&](const std::string& name, int64_t n) { return b.add(name, TensorType::F32, {n}, 0.1f); };
  KESTREL_RETURN_IF_ERROR(b.add(nm.tok_embd, t, {E, V}, s_logit));
  if (!a.rope) KESTREL_RETURN_IF_ERROR(b.add(nm.pos_embd, t, {E, spec.n_ctx}, s_logit));
  KESTREL_RETURN_IF_ERROR(norm(nm.output_norm, E));
  if (ln) KESTREL_RETURN_IF_ERROR(bias(nm.output_norm_b, E));
  if (!spec.tied_embeddings && !a.always_tied) KESTREL_RETURN_IF_ERROR(b.add(nm.output, t, {E, V}, s_logit));
  if (spec.rope_freqs) KESTREL_RETURN_IF_ERROR(b.add_values(nm.rope_freqs, ramp_factors(head_dim / 2, 8.0f)));
  if (spec.rope_factors) {
    KESTREL_RETURN_IF_ERROR(b.add_values(nm.rope_long, ramp_factors(head_dim / 2, 16.0f)));
    KESTREL_RETURN_IF_ERROR(b.add_values(nm.rope_short, ramp_factors(head_dim / 2, 1.5f)));
  }
  const bool biases = a.layer_biases;
  for (int il = 0; il < spec.n_layer; ++il) {
    auto L = [&](const std::string& pattern) { return layer_tensor_name(pattern, il); };
    KESTREL_RETURN_IF_ERROR(norm(L(nm.attn_norm), E));
    if (ln) KESTREL_RETURN_IF_ERROR(bias(L(nm.attn_norm_b), E));
    if (a.fused_qkv || a.fused_qkv_ok) {
      KESTREL_RETURN_IF_ERROR(b.add(L(nm.wqkv), t, {E, Q + 2 * KV}, s_in));
      if (biases || a.qkv_bias) KESTREL_RETURN_IF_ERROR(bias(L(nm.bqkv), Q + 2 * KV));
    } else {
      KESTREL_RETURN_IF_ERROR(b.add(L(nm.wq), t, {E, Q}, s_in));
      KESTREL_RETURN_IF_ERROR(b.add(L(nm.wk), t, {E, KV}, s_in));
      KESTREL_RETURN_IF_ERROR(b.add(L(nm.wv), t, {E, KV}, s_in));
      if (biases || a.qkv_bias) {
        KESTREL_RETURN_IF_ERROR(bias(L(nm.bq), Q));
        KESTREL_RETURN_IF_ERROR(bias(L(nm.bk), KV));
        KESTREL_RETURN_IF_ERROR(bias(L(nm.bv), KV));
      }
    }
    if (a.qk_norm) {
      KESTREL_RETURN_IF_ERROR(norm(L(nm.q_norm), head_dim));
      KESTREL_RETURN_IF_ERROR(norm(L(nm.k_norm), head_dim));
    }
    KESTREL_RETURN_IF_ERROR(b.add(L(nm.wo), t, {Q, E}, 0.5f / std::sqrt(static_cast<float>(Q))));
    if (biases) KESTREL_RETURN_IF_ERROR(bias(L(nm.bo), E));
    if (a.post_norms) {
      KESTREL_RETURN_IF_ERROR(norm(L(nm.attn_post_norm), E));
      KESTREL_RETURN_IF_ERROR(norm(L(nm.ffn_post_norm), E));
    }
    KESTREL_RETURN_IF_ERROR(norm(L(nm.ffn_norm), E));
    if (ln) KESTREL_RETURN_IF_ERROR(bias(L(nm.ffn_norm_b), E));
    const float s_down = 0.5f / std::sqrt(static_cast<float>(F));
    if (spec.n_expert > 0) {
      const std::string p = "blk." + std::to_string(il) + ".";
      const int64_t X = spec.n_expert;
      KESTREL_RETURN_IF_ERROR(b.add(p + "ffn_gate_inp.weight", TensorType::F32, {E, X}, s_in));
      KESTREL_RETURN_IF_ERROR(b.add(p + "ffn_gate_exps.weight", t, {E, F, X}, s_in));
      KESTREL_RETURN_IF_ERROR(b.add(p + "ffn_up_exps.weight", t, {E, F, X}, s_in));
      KESTREL_RETURN_IF_ERROR(b.add(p + "ffn_down_exps.weight", t, {F, E, X}, s_down));
    } else {
      if (a.ffn != FfnKind::Gelu && !a.fused_gate_up) KESTREL_RETURN_IF_ERROR(b.add(L(nm.ffn_gate), t, {E, F}, s_in));
      const int64_t up = a.fused_gate_up ? 2 * F : F;
      KESTREL_RETURN_IF_ERROR(b.add(L(nm.ffn_up), t, {E, up}, s_in));
      if (biases) KESTREL_RETURN_IF_ERROR(bias(L(nm.ffn_up_b), up));
      KESTREL_RETURN_IF_ERROR(b.add(L(nm.ffn_down), t, {F, E}, s_down));
      if (biases) KESTREL_RETURN_IF_ERROR(bias(L(nm.ffn_down_b), E));
    }
  }
  return w.write(path);
}

}  // namespace kestrel
