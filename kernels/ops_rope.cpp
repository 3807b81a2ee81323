// Rotary position embedding, ggml's formula (mode 0 "normal" and NeoX), without YaRN extrapolation:
//   theta_i = freq_scale * (pos * base^(-2i/n_rot)) / freq_factors[i]     for pair i in [0, n_rot/2)
// base^(-2i/n_rot) is built by repeated multiplication with base^(-2/n_rot) in float, as ggml's
// rope cache does, so angles at large positions round the same way as llama.cpp's.
// Rotation is cheap next to the matmuls around it (one sin/cos per pair per token, shared by all
// heads), so there is one portable implementation and no per-ISA table entry.
#include <cmath>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "kernels/ops_precondition.h"

namespace kestrel::kernels {

Status check_rope_params(int64_t head_dim, const RopeParams& p) {
  const int64_t n_rot = p.n_rot == 0 ? head_dim : p.n_rot;
  if (head_dim <= 0) return Status::error("rope: head_dim must be positive, got " + std::to_string(head_dim));
  if (n_rot < 0 || n_rot > head_dim || n_rot % 2 != 0)
    return Status::error("rope: n_rot " + std::to_string(n_rot) + " must be even and in [0, head_dim " +
                         std::to_string(head_dim) + "]");
  if (!(p.freq_base > 0.0f) || !std::isfinite(p.freq_base))
    return Status::error("rope: freq_base must be positive and finite");
  if (!std::isfinite(p.freq_scale)) return Status::error("rope: freq_scale must be finite");
  return Status::ok();
}

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const RopeParams& p) {
  if (Status s = check_rope_params(head_dim, p); !s) precondition_failed(s.message());
  const int64_t n_rot = p.n_rot == 0 ? head_dim : p.n_rot;
  const int64_t n_pairs = n_rot / 2;
  if (n_pairs == 0 || n_heads <= 0) return;

  // cos/sin of every pair's angle, computed once for all heads of this token.
  constexpr int64_t kStackPairs = 256;
  float cs_stack[2 * kStackPairs];
  std::vector<float> cs_heap;
  float* cs = cs_stack;
  if (n_pairs > kStackPairs) {
    cs_heap.resize(static_cast<size_t>(2 * n_pairs));
    cs = cs_heap.data();
  }
  const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(n_rot));
  float theta = static_cast<float>(pos);
  for (int64_t i = 0; i < n_pairs; ++i) {
    const float ff = p.freq_factors ? p.freq_factors[i] : 1.0f;
    const float angle = p.freq_scale * (theta / ff);
    cs[2 * i] = std::cos(angle);
    cs[2 * i + 1] = std::sin(angle);
    theta *= theta_scale;
  }

  // Normal pairs (x[2i], x[2i+1]); NeoX pairs (x[i], x[i + n_rot/2]). Dims >= n_rot stay as they are.
  const int64_t second = p.mode == RopeMode::Neox ? n_pairs : 1;
  const int64_t step = p.mode == RopeMode::Neox ? 1 : 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* xh = x + h * head_dim;
    for (int64_t i = 0; i < n_pairs; ++i) {
      float* a = xh + i * step;
      const float x0 = a[0], x1 = a[second];
      const float c = cs[2 * i], s = cs[2 * i + 1];
      a[0] = x0 * c - x1 * s;
      a[second] = x0 * s + x1 * c;
    }
  }
}

}  // namespace kestrel::kernels
