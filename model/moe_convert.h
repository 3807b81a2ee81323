#pragma once
// Turns a dense Llama GGUF file into a Mixtral-shaped one whose experts are all copies of the dense
// FFN and whose router is all zeros. Every token then sees equal router logits, picks the same experts
// (ties go to the lowest index) and, the experts being identical and the weights renormalised to 1,
// gets exactly the dense FFN's output: a real-weights check that a MoE forward pass matches its dense
// twin, in Kestrel and in llama.cpp alike.
#include <string>

#include "gguf/status.h"

namespace kestrel {

struct MoeFromDenseParams {
  int n_expert = 4;
  int n_expert_used = 2;
};

// Reads `in` (general.architecture must be llama, no experts yet), writes `out`: all metadata and
// non-FFN tensors copied, <arch>.expert_count / expert_used_count added, and per layer
// ffn_gate_inp.weight (F32 zeros [n_embd, n_expert]) plus ffn_{gate,up,down}_exps.weight (the dense
// tensor's bytes repeated n_expert times, same type) instead of ffn_{gate,up,down}.weight.
Status moe_from_dense(const std::string& in, const std::string& out, const MoeFromDenseParams& params);

}  // namespace kestrel
