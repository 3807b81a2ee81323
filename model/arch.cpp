#include "model/arch.h"

namespace kestrel {
namespace {

// Llama 1/2/3/3.1/3.2, Mistral and Mixtral all use general.architecture = "llama". GGUF converters
// permute the Q/K rows so that RoPE rotates adjacent pairs (ggml's "normal" mode).
ArchSpec make_llama() {
  ArchSpec a;
  a.name = "llama";
  a.rope_mode = kernels::RopeMode::Normal;
  a.rope_freqs_ok = true;
  a.moe_ok = true;
  return a;
}

// Gemma (1): embeddings * sqrt(n_embd), NeoX RoPE, Q pre-scaled by 1/sqrt(head_dim), GeGLU, output tied
// to the embeddings. Converters store RMSNorm weights as 1 + w, so the norms are plain RMSNorm here.
ArchSpec make_gemma() {
  ArchSpec a;
  a.name = "gemma";
  a.rope_mode = kernels::RopeMode::Neox;
  a.ffn = FfnKind::GeGlu;
  a.embd_scale = true;
  a.q_prescale = true;
  a.always_tied = true;
  return a;
}

// Gemma 2: Gemma plus post-attention/post-FFN norms, every other layer local (sliding window 4096
// unless the file says otherwise) with the global RoPE settings, attention and final logit soft-caps.
ArchSpec make_gemma2() {
  ArchSpec a = make_gemma();
  a.name = "gemma2";
  a.post_norms = true;
  a.attn_scale_embd_per_head_layers = {46};  // 27B
  a.swa = true;
  a.swa_pattern = 2;
  a.swa_window = 4096;
  a.swa_rope_scale_global = true;
  a.attn_softcap_ok = true;
  a.final_softcap_ok = true;
  return a;
}

// Gemma 3: Gemma 2 without the attention soft-cap, with per-head Q/K RMSNorm, five local layers (RoPE
// base 10000, no scaling) per global one when the file has a sliding window, output.weight optional.
ArchSpec make_gemma3() {
  ArchSpec a = make_gemma();
  a.name = "gemma3";
  a.always_tied = false;
  a.post_norms = true;
  a.qk_norm = true;
  a.attn_scale_embd_per_head_layers = {62};  // 27B
  a.swa = true;
  a.swa_pattern = 6;
  a.swa_window = 0;
  a.swa_rope_base = 10000.0f;
  a.final_softcap_ok = true;
  return a;
}

// Qwen2 / Qwen2.5: Llama with Q/K/V biases and NeoX RoPE (llama.cpp ignores its sliding-window keys).
ArchSpec make_qwen2() {
  ArchSpec a;
  a.name = "qwen2";
  a.rope_mode = kernels::RopeMode::Neox;
  a.qkv_bias = true;
  return a;
}

// Qwen3: NeoX RoPE, per-head Q/K RMSNorm, explicit head dim (attention.key_length), no biases.
ArchSpec make_qwen3() {
  ArchSpec a;
  a.name = "qwen3";
  a.rope_mode = kernels::RopeMode::Neox;
  a.qk_norm = true;
  return a;
}

// Phi-3 / 3.5: NeoX RoPE with optional LongRoPE factors, fused QKV (or separate), Q pre-scaled, fused
// gate/up. llama.cpp disables Phi-3's sliding window (its converters fill it wrongly); so does Kestrel.
ArchSpec make_phi3() {
  ArchSpec a;
  a.name = "phi3";
  a.rope_mode = kernels::RopeMode::Neox;
  a.fused_qkv_ok = true;
  a.fused_gate_up = true;
  a.q_prescale = true;
  a.rope_factors_ok = true;
  return a;
}

// StarCoder2: LayerNorm with biases, NeoX RoPE, biases on every projection, GELU MLP.
ArchSpec make_starcoder2() {
  ArchSpec a;
  a.name = "starcoder2";
  a.rope_mode = kernels::RopeMode::Neox;
  a.norm = NormKind::LayerNorm;
  a.ffn = FfnKind::Gelu;
  a.qkv_bias = true;
  a.layer_biases = true;
  return a;
}

// GPT-2: learned position embeddings, LayerNorm with biases, fused QKV with bias, GELU MLP.
ArchSpec make_gpt2() {
  ArchSpec a;
  a.name = "gpt2";
  a.rope = false;
  a.norm = NormKind::LayerNorm;
  a.ffn = FfnKind::Gelu;
  a.fused_qkv = true;
  a.layer_biases = true;
  return a;
}

const std::vector<ArchSpec>& registry() {
  static const std::vector<ArchSpec> archs = {make_llama(), make_gemma(), make_gemma2(), make_gemma3(), make_qwen2(),
                                              make_qwen3(), make_phi3(),  make_starcoder2(), make_gpt2()};
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
