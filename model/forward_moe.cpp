#include "model/forward_moe.h"

namespace kestrel {

Result<MoeLayer> bind_layer_experts(const WeightStore& ws, int il, const ModelConfig& cfg) {
  return bind_moe_layer(ws, il, cfg);
}

void run_layer_experts(kernels::ThreadPool& pool, const MoeLayer& layer, const ModelConfig& cfg, const float* x,
                       int64_t n_tokens, float* out, MoeScratch& scratch) {
  moe_ffn(pool, layer, cfg, x, n_tokens, out, scratch);
}

}  // namespace kestrel
