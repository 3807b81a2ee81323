#pragma once
// Writes Llama/Mixtral-shaped GGUF models with random weights through Kestrel's own GGUF writer, with a
// small SentencePiece vocab, so tests and benchmarks can use any shape and type and llama.cpp can load
// the same file.
#include <cstdint>
#include <string>

#include "gguf/status.h"
#include "gguf/tensor_type.h"

namespace kestrel {

struct SyntheticSpec {
  int n_vocab = 512;
  int n_embd = 64;
  int n_layer = 2;
  int n_head = 8;
  int n_head_kv = 4;
  int n_ff = 128;
  int n_ctx = 256;
  bool tied_embeddings = false;   // no output.weight
  bool rope_freqs = false;        // write rope_freqs.weight (Llama 3.1 style factors)
  float rope_freq_base = 10000.0f;
  // Optional rope.scaling metadata ("" = none written): type "linear" or "yarn", factor, and the
  // original context length (0 = not written).
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
