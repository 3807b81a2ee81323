// llama.cpp's per-tensor quantization rules (see common_quant_plan.h). Facts about the rules were read
// from llama.cpp's src/llama-quant.cpp; the branches kept are the ones reachable with the file types
// Kestrel writes (the IQ1/IQ2/IQ3/TQ/MXFP4 mixtures are not targets).
#include "cli/common_quant_plan.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace kestrel::cli {
namespace {

using FT = FileType;

std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }
bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The role of a tensor, as llama.cpp's tensor_get_category sees it (the first match wins).
enum class Role { Output, TokenEmbd, AttnV, AttnK, AttnQ, AttnOutput, FfnUp, FfnGate, FfnDown, Other };

Role role_of(std::string_view name) {
  if (name == "output.weight") return Role::Output;
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return Role::TokenEmbd;
  // attn_qkv and attn_kv_b count as attn_v (llama.cpp's category_is_attn_v).
  if (contains(name, "attn_qkv.weight") || contains(name, "attn_kv_b.weight") || contains(name, "attn_v.weight"))
    return Role::AttnV;
  if (contains(name, "attn_k.weight")) return Role::AttnK;
  if (contains(name, "attn_q.weight")) return Role::AttnQ;
  if (contains(name, "attn_output.weight")) return Role::AttnOutput;
  if (contains(name, "ffn_up")) return Role::FfnUp;
  if (contains(name, "ffn_gate")) return Role::FfnGate;
  if (contains(name, "ffn_down")) return Role::FfnDown;
  return Role::Other;
}

int n_dims(const std::vector<int64_t>& ne) {  // as ggml_n_dims: trailing dimensions of size 1 do not count
  int n = 1;
  for (size_t i = 0; i < ne.size(); ++i)
    if (ne[i] > 1) n = static_cast<int>(i) + 1;
  return n;
}

// llama.cpp's tensor_allows_quantization (the parts that concern the architectures in use).
bool allows_quantization(std::string_view name, const std::vector<int64_t>& ne, const QuantOptions& o) {
  if (n_dims(ne) < 2 || !ends_with(name, "weight")) return false;
  if (o.leave_output && name == "output.weight") return false;
  static const char* const kNever[] = {
      "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
      "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
      "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
      "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
      "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
      "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
      "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.",
      "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd"};
  for (const char* n : kNever)
    if (contains(name, n)) return false;
  return name != "position_embd.weight" && name != "token_types.weight";
}

bool is_quantized(TensorType t) { return t != TensorType::F32 && t != TensorType::F16 && t != TensorType::BF16; }

// The first and last eighth of the layers and every third layer in between get more bits.
bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

int block_of(std::string_view name) {
  int layer = -1;
  const std::string s(name);
  if (std::sscanf(s.c_str(), "blk.%d.", &layer) != 1) return -1;
  return layer;
}

// Types for rows whose length is not a multiple of the chosen type's block (llama.cpp's
// tensor_type_fallback).
TensorType fallback_for_rows(TensorType t, int64_t row, std::string* note) {
  const uint32_t bs = type_layout(t)->block_size;
  if (row % bs == 0) return t;
  TensorType f = t;
  switch (t) {
    case TensorType::IQ1_S: case TensorType::IQ1_M: case TensorType::IQ2_XXS: case TensorType::IQ2_XS:
    case TensorType::IQ2_S: case TensorType::IQ3_XXS: case TensorType::IQ3_S: case TensorType::IQ4_XS:
      f = TensorType::IQ4_NL; break;
    case TensorType::Q2_0: case TensorType::Q2_K: case TensorType::Q3_K: case TensorType::TQ1_0:
    case TensorType::TQ2_0: f = TensorType::Q4_0; break;
    case TensorType::Q4_K: f = TensorType::Q5_0; break;
    case TensorType::Q5_K: f = TensorType::Q5_1; break;
    case TensorType::Q6_K: f = TensorType::Q8_0; break;
    default: break;  // a 32-value block type: nothing smaller to demote to
  }
  if (row % type_layout(f)->block_size != 0) f = TensorType::F16;
  *note = "row length " + std::to_string(row) + " is not a multiple of " + std::to_string(bs) + " (" +
          std::string(type_name(t)) + "): " + std::string(type_name(f));
  return f;
}

const Value* find_int(const GGUFFile& f, const std::string& key) {
  const Value* v = f.find(key);
  if (v && v->type == ValueType::ARRAY) return v->items.empty() ? nullptr : &v->items[0];  // per-layer arrays
  return v;
}
int int_value(const Value* v, int dflt) {
  if (v == nullptr) return dflt;
  switch (v->type) {
    case ValueType::INT8: case ValueType::INT16: case ValueType::INT32: case ValueType::INT64:
      return static_cast<int>(v->i);
    case ValueType::UINT8: case ValueType::UINT16: case ValueType::UINT32: case ValueType::UINT64:
      return static_cast<int>(v->u);
    default: return dflt;
  }
}

}  // namespace

const std::vector<QuantTarget>& quant_targets() {
  static const std::vector<QuantTarget> targets = {
      {"F32", TensorType::F32, FT::F32},           {"F16", TensorType::F16, FT::F16},
      {"BF16", TensorType::BF16, FT::BF16},        {"Q8_0", TensorType::Q8_0, FT::Q8_0},
      {"Q4_0", TensorType::Q4_0, FT::Q4_0},        {"Q4_1", TensorType::Q4_1, FT::Q4_1},
      {"Q5_0", TensorType::Q5_0, FT::Q5_0},        {"Q5_1", TensorType::Q5_1, FT::Q5_1},
      {"IQ4_NL", TensorType::IQ4_NL, FT::IQ4_NL},  {"IQ4_XS", TensorType::IQ4_XS, FT::IQ4_XS},
      {"Q2_K", TensorType::Q2_K, FT::Q2_K},        {"Q3_K_S", TensorType::Q3_K, FT::Q3_K_S},
      {"Q3_K_M", TensorType::Q3_K, FT::Q3_K_M},    {"Q3_K_L", TensorType::Q3_K, FT::Q3_K_L},
      {"Q4_K_S", TensorType::Q4_K, FT::Q4_K_S},    {"Q4_K_M", TensorType::Q4_K, FT::Q4_K_M},
      {"Q5_K_S", TensorType::Q5_K, FT::Q5_K_S},    {"Q5_K_M", TensorType::Q5_K, FT::Q5_K_M},
      {"Q6_K", TensorType::Q6_K, FT::Q6_K},
  };
  return targets;
}

std::optional<QuantTarget> find_quant_target(std::string_view name) {
  std::string n = lower(name);
  if (n == "q3_k" || n == "q4_k" || n == "q5_k") n += "_m";  // llama-quantize's aliases
  for (const auto& t : quant_targets())
    if (lower(t.name) == n) return t;
  return std::nullopt;
}

std::string_view file_type_name(uint32_t ftype) {
  for (const auto& t : quant_targets())
    if (t.ftype_id() == ftype) return t.name;
  switch (ftype) {  // the llama_ftype values Kestrel does not write
    case 19: return "IQ2_XXS";
    case 20: return "IQ2_XS";
    case 21: return "Q2_K_S";
    case 22: return "IQ3_XS";
    case 23: return "IQ3_XXS";
    case 24: return "IQ1_S";
    case 26: return "IQ3_S";
    case 27: return "IQ3_M";
    case 28: return "IQ2_S";
    case 29: return "IQ2_M";
    case 31: return "IQ1_M";
    case 36: return "TQ1_0";
    case 37: return "TQ2_0";
    case 38: return "MXFP4_MOE";
    case 39: return "NVFP4";
    case 40: return "Q1_0";
    case 41: return "Q2_0";
    default: return "";
  }
}

ModelFacts model_facts(const GGUFFile& file, const std::vector<std::string>& tensor_names) {
  ModelFacts f;
  if (auto arch = file.get_string_or("general.architecture", ""); arch) f.arch = *arch;
  f.has_output = std::find(tensor_names.begin(), tensor_names.end(), "output.weight") != tensor_names.end();
  f.n_expert = int_value(find_int(file, f.arch + ".expert_count"), 0);
  f.n_layer = int_value(find_int(file, f.arch + ".block_count"), 0);
  f.n_head = int_value(find_int(file, f.arch + ".attention.head_count"), 0);
  f.n_head_kv = int_value(find_int(file, f.arch + ".attention.head_count_kv"), f.n_head);
  for (const std::string& n : tensor_names)
    if (role_of(n) == Role::AttnV) ++f.n_attention_wv;
  return f;
}

std::vector<size_t> plan_order(const std::vector<std::string>& names) {
  std::vector<size_t> order(names.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::vector<int> block(names.size());
  for (size_t i = 0; i < names.size(); ++i) block[i] = block_of(names[i]);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (block[a] != block[b]) return block[a] < block[b];
    return names[a] < names[b];
  });
  return order;
}

QuantPlanner::QuantPlanner(const QuantTarget& target, const ModelFacts& facts, const QuantOptions& options)
    : target_(target), facts_(facts), options_(options) {}

TensorChoice QuantPlanner::choose(std::string_view name, const std::vector<int64_t>& ne, TensorType source) {
  if (!allows_quantization(name, ne, options_)) return {source, true, "", ""};
  const Role role = role_of(name);
  const int64_t row = ne.empty() ? 0 : ne[0];
  TensorChoice c{target_.type, false, "", ""};
  // Explicit overrides are taken as given (llama.cpp applies no fallback to them).
  std::optional<TensorType> forced;
  if (options_.token_embd_type && role == Role::TokenEmbd) forced = options_.token_embd_type;
  else if (options_.output_type && role == Role::Output) forced = options_.output_type;
  if (forced) {
    c.type = *forced;
    if (row % type_layout(c.type)->block_size != 0)
      c.error = "tensor " + std::string(name) + ": row length " + std::to_string(row) + " is not a multiple of " +
                std::to_string(type_layout(c.type)->block_size) + ", the block size of the requested type " +
                std::string(type_name(c.type));
  } else if (is_quantized(target_.type)) {
    if (!options_.pure) c.type = mixture_type(name, ne, c.type);
    c.type = fallback_for_rows(c.type, row, &c.note);
  }
  c.keep_as_is = c.type == source;
  return c;
}

// llama.cpp's llama_tensor_get_type_impl for the file types in quant_targets().
TensorType QuantPlanner::mixture_type(std::string_view name, const std::vector<int64_t>& ne, TensorType t) {
  const FT ft = target_.ftype;
  const Role role = role_of(name);
  const bool falcon = facts_.arch == "falcon";
  const int n_gqa = facts_.n_gqa();
  const int n_expert = facts_.n_expert;
  // The output layer (and tied embeddings, which are the output layer): Q6_K unless the file is Q8_0.
  if (role == Role::Output || (!facts_.has_output && role == Role::TokenEmbd)) {
    if (options_.output_type) return *options_.output_type;
    if (falcon || ne[0] % type_layout(t)->block_size != 0) return TensorType::Q8_0;
    return t != TensorType::Q8_0 ? TensorType::Q6_K : t;
  }
  if (role == Role::AttnV) {
    if (ft == FT::Q2_K) t = n_gqa >= 4 ? TensorType::Q4_K : TensorType::Q3_K;
    else if (ft == FT::Q3_K_M) t = i_attention_wv_ < 2 ? TensorType::Q5_K : TensorType::Q4_K;
    else if (ft == FT::Q3_K_L) t = TensorType::Q5_K;
    else if ((ft == FT::IQ4_NL || ft == FT::IQ4_XS) && n_gqa >= 4) t = TensorType::Q5_K;
    else if ((ft == FT::Q4_K_M || ft == FT::Q5_K_M) && use_more_bits(i_attention_wv_, facts_.n_attention_wv)) t = TensorType::Q6_K;
    else if (ft == FT::Q4_K_S && i_attention_wv_ < 4) t = TensorType::Q5_K;
    // Llama 70B (80 layers, GQA): attn_v is 8x smaller than attn_q, more bits are cheap there.
    const bool is_70b = facts_.arch == "llama" && facts_.n_layer == 80 && facts_.n_head != facts_.n_head_kv;
    if (is_70b && (t == TensorType::Q3_K || t == TensorType::Q4_K)) t = TensorType::Q5_K;
    if (n_expert == 8) t = TensorType::Q8_0;
    ++i_attention_wv_;
    return t;
  }
  if (role == Role::AttnK) return n_expert == 8 ? TensorType::Q8_0 : t;
  if (role == Role::FfnDown) {
    // MoE files may hold one tensor per expert: the layer comes from the name there.
    int i_layer = i_ffn_down_, n_layer = facts_.n_layer;
    if (n_expert > 1) i_layer = block_of(name);
    if (ft == FT::Q2_K) t = TensorType::Q3_K;
    else if (ft == FT::Q3_K_M)
      t = i_layer < n_layer / 16 ? TensorType::Q5_K : (!falcon || use_more_bits(i_layer, n_layer)) ? TensorType::Q4_K : TensorType::Q3_K;
    else if (ft == FT::Q3_K_L) t = falcon ? TensorType::Q4_K : TensorType::Q5_K;
    else if (ft == FT::Q4_K_M) {
      if (falcon) t = i_layer < n_layer / 16 ? TensorType::Q6_K : use_more_bits(i_layer, n_layer) ? TensorType::Q5_K : TensorType::Q4_K;
      else if (use_more_bits(i_layer, n_layer)) t = TensorType::Q6_K;
    } else if (i_layer < n_layer / 8 && (ft == FT::IQ4_NL || ft == FT::IQ4_XS)) t = TensorType::Q5_K;  // no imatrix
    else if (ft == FT::Q5_K_M && use_more_bits(i_layer, n_layer)) t = TensorType::Q6_K;
    else if (ft == FT::Q4_K_S && !falcon && i_layer < n_layer / 8) t = TensorType::Q5_K;
    ++i_ffn_down_;
    return t;
  }
  if (role == Role::AttnOutput) {
    if (!falcon) {
      if (n_expert == 8) {
        if (ft == FT::Q2_K || ft == FT::Q3_K_S || ft == FT::Q3_K_M || ft == FT::IQ4_NL || ft == FT::Q4_K_S ||
            ft == FT::Q4_K_M || ft == FT::IQ4_XS)
          t = TensorType::Q5_K;
      } else if (ft == FT::Q2_K) t = TensorType::Q3_K;
      else if (ft == FT::Q3_K_M) t = TensorType::Q4_K;
      else if (ft == FT::Q3_K_L) t = TensorType::Q5_K;
    } else if (ft == FT::Q3_K_L) {
      t = TensorType::Q4_K;
    }
  }
  return t;
}

}  // namespace kestrel::cli
