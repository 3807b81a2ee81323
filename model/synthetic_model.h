#pragma once
// Writes GGUF models of any supported architecture (model/arch.h: Llama/Mixtral, Gemma 1/2/3, Qwen2/3,
// Phi-3, StarCoder2, GPT-2) with random weights through Kestrel's own GGUF writer, with a small
// SentencePiece vocab or the tokenizer of a real GGUF file, so tests and benchmarks can use any shape and
// type and llama.cpp can load the same file. The tensors written follow the architecture's ArchSpec.
#include <cstdint>
#include <string>

#include "gguf/status.h"
#include "gguf/tensor_type.h"

namespace kestrel {

struct SyntheticSpec {
  std::string arch = "llama";     // general.architecture (find_arch() must know it)
  std::string vocab_from;         // non-empty: copy tokenizer.* from this GGUF (n_vocab = its token count)
  int n_vocab = 512;
  int n_embd = 64;
  int n_layer = 2;
  int n_head = 8;
  int n_head_kv = 4;
  int n_ff = 128;
  int head_dim = 0;               // > 0: attention.key_length (Gemma 3, Qwen3); 0: n_embd / n_head
  int n_ctx = 256;
  int n_swa = 0;                  // > 0: attention.sliding_window (architectures with ArchSpec::swa)
  int swa_pattern = 0;            // > 0: attention.sliding_window_pattern (every n-th layer global)
  float attn_softcap = 0.0f;      // > 0: attn_logit_softcapping (Gemma 2)
  float final_softcap = 0.0f;     // > 0: final_logit_softcapping (Gemma 2/3)
  bool rope_factors = false;      // write rope_factors_long/short.weight (Phi-3 LongRoPE)
  float rope_attn_factor = 0.0f;  // > 0: rope.scaling.attn_factor (LongRoPE magnitude scaling)
  bool tied_embeddings = false;   // no output.weight
  bool rope_freqs = false;        // write rope_freqs.weight (Llama 3.1 style factors)
  float rope_freq_base = 10000.0f;
  // Optional rope.scaling metadata ("" = none written): type "linear" or "yarn" with its factor, and the
  // original context length (0 = not written; also LongRoPE's switch point).
  std::string rope_scaling_type;
  float rope_scaling_factor = 1.0f;
  int rope_scaling_orig_ctx = 0;
  float rms_eps = 1e-5f;
  TensorType type = TensorType::F32;  // 2-D weights; norms stay F32
  int n_expert = 0;               // > 0: Mixtral-shaped (ffn_*_exps + router)
  int n_expert_used = 0;
  uint64_t seed = 1;
};

Status write_synthetic_model(const std::string& path, const SyntheticSpec& spec);

}  // namespace kestrel
