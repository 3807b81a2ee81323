// Rotary position embedding, ggml's rope_ext (mode 0 "normal" and NeoX) with its YaRN extension; the
// formula is in kernels/ops.h. base^(-2i/n_rot) is built by repeated multiplication with
// base^(-2/n_rot) in float, and every step is done in float in ggml's order (rope_yarn,
// ggml_rope_yarn_corr_dims), so angles at large positions round the same way as llama.cpp's.
// Rotation is cheap next to the matmuls around it (one sin/cos per pair per token, shared by all
// heads), so there is one portable implementation and no per-ISA table entry.
#include <algorithm>
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
  if (!std::isfinite(p.ext_factor) || !std::isfinite(p.attn_factor) || !std::isfinite(p.beta_fast) ||
      !std::isfinite(p.beta_slow))
    return Status::error("rope: ext_factor, attn_factor, beta_fast and beta_slow must be finite");
  if (p.ext_factor != 0.0f) {
    if (p.n_ctx_orig <= 0)
      return Status::error("rope: YaRN (ext_factor " + std::to_string(p.ext_factor) +
                           ") needs the original context length n_ctx_orig > 0");
    if (!(p.freq_scale > 0.0f)) return Status::error("rope: YaRN needs freq_scale > 0");
    if (!(p.beta_fast > 0.0f) || !(p.beta_slow > 0.0f))
      return Status::error("rope: YaRN needs beta_fast and beta_slow > 0");
  }
  return Status::ok();
}

namespace {

// ggml_rope_yarn_corr_dim: the pair index at which a frequency turns n_rotations times over n_ctx_orig.
float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rotations, float base) {
  return static_cast<float>(n_dims) *
         std::log(static_cast<float>(n_ctx_orig) / (n_rotations * 2 * static_cast<float>(M_PI))) /
         (2 * std::log(base));
}

}  // namespace

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
  float mscale = p.attn_factor;
  float corr_lo = 0.0f, corr_hi = 0.0f;
  if (p.ext_factor != 0.0f) {
    const int nd = static_cast<int>(n_rot);
    corr_lo = std::max(0.0f, std::floor(yarn_corr_dim(nd, p.n_ctx_orig, p.beta_fast, p.freq_base)));
    corr_hi = std::min(static_cast<float>(nd - 1), std::ceil(yarn_corr_dim(nd, p.n_ctx_orig, p.beta_slow, p.freq_base)));
    mscale *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
  }
  float theta_base = static_cast<float>(pos);
  for (int64_t i = 0; i < n_pairs; ++i) {
    const float ff = p.freq_factors ? p.freq_factors[i] : 1.0f;
    const float theta_extrap = theta_base / ff;
    const float theta_interp = p.freq_scale * theta_extrap;
    float theta = theta_interp;
    if (p.ext_factor != 0.0f) {
      const float y = (static_cast<float>(i) - corr_lo) / std::max(0.001f, corr_hi - corr_lo);
      const float ramp_mix = (1.0f - std::min(1.0f, std::max(0.0f, y))) * p.ext_factor;
      theta = theta_interp * (1 - ramp_mix) + theta_extrap * ramp_mix;
    }
    cs[2 * i] = std::cos(theta) * mscale;
    cs[2 * i + 1] = std::sin(theta) * mscale;
    theta_base *= theta_scale;
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
      // llama.cpp's build contracts rotate_pairs' x0*c - x1*s and x0*s + x1*c into one FMA each, on
      // the first product (-ffp-contract=fast, GCC's default; measured against its dumps on x86:
      // Gemma 3 270M's Qcur/Kcur ROPE bit-identical this way, ~0.6% of values an ulp off unfused).
      a[0] = std::fma(x0, c, -(x1 * s));
      a[second] = std::fma(x0, s, x1 * c);
    }
  }
}

}  // namespace kestrel::kernels
