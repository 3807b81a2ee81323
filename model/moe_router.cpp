// Per-token expert routing for Mixtral-style MoE layers (see moe_route_token in moe.h).
#include <cmath>

#include "model/moe.h"

namespace kestrel {

void moe_route_token(const float* logits, int n_expert, int n_used, int32_t* experts, float* weights) {
  // Softmax in float with the max subtracted, as llama.cpp does before top-k. Only the kept
  // probabilities are needed, and they are renormalised afterwards, but the full softmax keeps the
  // arithmetic identical to the reference (probabilities are divided by the full sum first).
  float mx = logits[0];
  for (int e = 1; e < n_expert; ++e) mx = std::fmax(mx, logits[e]);
  double sum = 0;
  for (int e = 0; e < n_expert; ++e) sum += std::exp(logits[e] - mx);
  const float inv = static_cast<float>(1.0 / sum);

  // Top-k by repeated selection: n_expert is small (8 for Mixtral) so this beats a sort, and scanning
  // in index order with a strict '>' gives ties to the lower expert index.
  float kept_sum = 0;
  for (int k = 0; k < n_used; ++k) {
    int best = -1;
    float best_p = 0;
    for (int e = 0; e < n_expert; ++e) {
      bool taken = false;
      for (int j = 0; j < k; ++j) taken |= experts[j] == e;
      if (taken) continue;
      const float p = std::exp(logits[e] - mx) * inv;
      if (best < 0 || p > best_p) {
        best = e;
        best_p = p;
      }
    }
    experts[k] = best;
    weights[k] = best_p;
    kept_sum += best_p;
  }
  for (int k = 0; k < n_used; ++k) weights[k] /= kept_sum;
}

}  // namespace kestrel
