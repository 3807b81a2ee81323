#pragma once
// Sparse mixture-of-experts FFN (Mixtral): a router picks the top n_expert_used experts per token, their
// softmax weights are renormalised to sum to 1, and the output is the weighted sum of those experts'
// SwiGLU FFNs. Tokens routed to the same expert are grouped and run as one batch matmul; during decode
// only the selected experts' weights are read.
#include <cstdint>
#include <memory>
#include <vector>

#include "gguf/status.h"
#include "gguf/weight_store.h"
#include "kernels/thread_pool.h"

namespace kestrel {

struct ModelConfig;

// The expert tensors of one layer. Either the merged 3-D form (ffn_{gate,up,down}_exps.weight:
// [n_embd, n_ff, n_expert] / [n_ff, n_embd, n_expert]) or the older per-expert 2-D tensors
// (ffn_{gate,up,down}.N.weight); per_expert_* is filled in both cases (views into the 3-D tensor for
// the merged form) so the compute code sees one shape.
struct MoeLayer {
  const TensorView* router = nullptr;  // ffn_gate_inp.weight [n_embd, n_expert]
  std::vector<TensorView> gate, up, down;  // one 2-D view per expert
};

// Binds layer `il`'s expert tensors; the error names the missing or mis-shaped tensor.
Result<MoeLayer> bind_moe_layer(const WeightStore& ws, int il, const ModelConfig& cfg);

// Reusable buffers so the hot path does not allocate: each grows to the largest batch seen and is then
// reused (moe_ffn only ever enlarges them).
struct MoeScratch {
  std::vector<float> logits, gathered, gate, up, act, down;
  std::vector<int32_t> rows;
  // Routing of the current batch: per token the chosen experts and their renormalised weights
  // ([n_tokens][n_expert_used]), then the same grouped by expert: rows (token index) and row_weights
  // hold expert e's tokens at [expert_begin[e], expert_begin[e + 1]).
  std::vector<int32_t> selected;
  std::vector<float> weights, row_weights;
  std::vector<int32_t> expert_begin, expert_cursor;
  // Decode runs all selected experts' gate/up rows as one job list over the pool (and then all down
  // rows), so a layer costs the same number of pool dispatches as a dense FFN. Each worker calls the
  // matmul on its row range through its own one-thread pool (created once, never runs threads).
  std::vector<std::unique_ptr<kernels::ThreadPool>> solo_pools;
};

// Routing of one token (llama.cpp's Mixtral gating): softmax over the n_expert logits, keep the
// n_used largest probabilities (ties go to the lower expert index, so a uniform router is
// deterministic), then divide the kept probabilities by their sum. Writes n_used expert ids in
// descending probability order and their weights. n_used must be in [1, n_expert].
void moe_route_token(const float* logits, int n_expert, int n_used, int32_t* experts, float* weights);

// x: [n_tokens][n_embd] (already RMS-normalised); out: [n_tokens][n_embd] (overwritten).
void moe_ffn(kernels::ThreadPool& pool, const MoeLayer& layer, const ModelConfig& cfg, const float* x,
             int64_t n_tokens, float* out, MoeScratch& scratch);

}  // namespace kestrel
