#pragma once
// The forward pass's two call sites into the Mixtral mixture-of-experts FFN (model/moe.h), kept in one
// file so the dense path does not depend on how the experts are computed.
#include "gguf/status.h"
#include "gguf/weight_store.h"
#include "kernels/thread_pool.h"
#include "model/moe.h"

namespace kestrel {

struct ModelConfig;

// Load time: binds layer il's router and experts.
Result<MoeLayer> bind_layer_experts(const WeightStore& ws, int il, const ModelConfig& cfg);
// Layer loop: out = MoE-FFN(x) for n_tokens rows of n_embd.
void run_layer_experts(kernels::ThreadPool& pool, const MoeLayer& layer, const ModelConfig& cfg, const float* x,
                       int64_t n_tokens, float* out, MoeScratch& scratch);

}  // namespace kestrel
