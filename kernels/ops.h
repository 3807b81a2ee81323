#pragma once
// Element-wise and attention kernels used by the forward pass. Each has a scalar twin that defines its
// meaning; SIMD variants are chosen by active_isa(). The *_isa variants exist for tests and benchmarks.
#include <cstdint>

#include "gguf/status.h"
#include "gguf/tensor_type.h"
#include "kernels/isa.h"
#include "kernels/thread_pool.h"

namespace kestrel::kernels {

// out = x / sqrt(mean(x^2) + eps) * w    (w may be nullptr: no scaling). out may alias x.
void rmsnorm(const float* x, const float* w, float* out, int64_t n, float eps);
// ggml_norm then the weight and bias: out = (x - mean) / sqrt(var + eps) * w + b, mean and variance over
// the n elements (w and/or b may be nullptr: not applied). out may alias x.
void layernorm(const float* x, const float* w, const float* b, float* out, int64_t n, float eps);

enum class RopeMode { Normal, Neox };  // Normal: rotate adjacent pairs (x0,x1); Neox: (x_i, x_{i+n_rot/2})
// ggml's rope_ext parameters. The scaling kinds are settings of these fields:
//   linear:    freq_scale = 1/factor;
//   YaRN:      freq_scale = 1/factor, ext_factor (llama.cpp: 1), attn_factor, beta_fast/slow, n_ctx_orig;
//   LongRoPE:  freq_factors = rope_factors_long/short (Phi-3), attn_factor = its magnitude scaling;
//   Llama 3.1: freq_factors = rope_freqs.weight.
struct RopeParams {
  int n_rot = 0;                        // rotated dims per head (even, <= head_dim; 0 = head_dim); the rest pass through
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;              // position interpolation factor
  const float* freq_factors = nullptr;  // optional n_rot/2 divisors of the frequencies
  RopeMode mode = RopeMode::Normal;
  float ext_factor = 0;                 // YaRN extrapolation mix (0: off)
  float attn_factor = 1;                // magnitude scaling of cos/sin (mscale)
  float beta_fast = 32, beta_slow = 1;  // YaRN correction range, in rotations
  int n_ctx_orig = 0;                   // training context of the unscaled model (YaRN; > 0 when ext_factor != 0)
};
// Rotates, in place, n_heads heads of head_dim floats of one token at position pos, as ggml_rope_ext:
//   theta_e = pos * freq_base^(-2i/n_rot) / freq_factors[i],  theta_i = freq_scale * theta_e
//   ext_factor != 0 (YaRN): ramp = (1 - clamp((i - lo) / max(0.001, hi - lo), 0, 1)) * ext_factor with
//     [lo, hi] = ggml_rope_yarn_corr_dims(n_rot, n_ctx_orig, freq_base, beta_fast, beta_slow),
//     theta = theta_i * (1 - ramp) + theta_e * ramp,  mscale = attn_factor * (1 + 0.1 ln(1/freq_scale))
//   otherwise theta = theta_i, mscale = attn_factor;   (cos, sin) = (cosf(theta), sinf(theta)) * mscale
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const RopeParams& p);
// The parameter checks rope() relies on, as an error value (call once when a model is loaded).
Status check_rope_params(int64_t head_dim, const RopeParams& p);

void softmax(float* x, int64_t n);                                  // in place, max-subtracted
void silu(float* x, int64_t n);                                     // x * sigmoid(x), in place
// GELU, tanh approximation, with ggml's f32 numbers (GGML_GELU_FP16): x <= -10 gives 0, x >= 10 gives x,
// otherwise x is rounded to F16 and gelu_tanh of that F16 value, rounded to F16, is the result. In place.
void gelu(float* x, int64_t n);
void swiglu(const float* gate, const float* up, float* out, int64_t n);  // silu(gate) * up
void geglu(const float* gate, const float* up, float* out, int64_t n);   // gelu(gate) * up, gelu as above
void softcap(float* x, float cap, int64_t n);  // x = cap * tanh(x * (1/cap)), in place (cap > 0)
void add(const float* a, const float* b, float* out, int64_t n);
void mul(const float* a, const float* b, float* out, int64_t n);
void scale(float* x, float s, int64_t n);

// Causal grouped-query attention of n_tokens new queries over a KV cache that already holds their keys
// and values. Query t sits at position p = pos0 + t and attends to cache positions [0, p], or with a
// sliding window of w positions to [max(0, p - w + 1), p] (llama.cpp's standard SWA mask: a key at
// distance >= w is masked). Online softmax over the cache, threads split over (token, head).
struct AttentionArgs {
  const float* q = nullptr;         // [n_tokens][n_head][head_dim]
  const void* k_cache = nullptr;    // [rows][n_head_kv][head_dim] of cache_type
  const void* v_cache = nullptr;    // same layout as k_cache
  TensorType cache_type = TensorType::F32;  // F32 or F16
  int64_t n_tokens = 0, n_head = 0, n_head_kv = 0, head_dim = 0;
  int64_t pos0 = 0;
  int64_t window = 0;               // > 0: sliding window of this many positions (the query's own included)
  int64_t ring = 0;                 // > 0: the cache is a ring buffer of `ring` rows (position p in row
                                    // p % ring); it must hold every position the batch reads
  float scale = 0;                  // usually 1/sqrt(head_dim)
  float softcap = 0;                // > 0: scores = softcap * tanh(K.q / softcap), then * scale (Gemma 2)
  float* out = nullptr;             // [n_tokens][n_head][head_dim]
};
// With an F16 cache q is rounded to F16 before K.q (as llama.cpp does with flash attention off);
// dots and the weighted sum of V accumulate in F32.
void attention(ThreadPool& pool, const AttentionArgs& a);
// The argument checks attention() relies on, as an error value (pointers, sizes, n_head % n_head_kv,
// cache type, a ring large enough for the batch). attention() stops the process with this message if they fail.
Status check_attention_args(const AttentionArgs& a);

// Explicit-ISA variants for tests/benchmarks. An ISA that is not supported here runs the scalar twin.
void rmsnorm_isa(Isa isa, const float* x, const float* w, float* out, int64_t n, float eps);
void softmax_isa(Isa isa, float* x, int64_t n);
void swiglu_isa(Isa isa, const float* gate, const float* up, float* out, int64_t n);
void attention_isa(Isa isa, ThreadPool& pool, const AttentionArgs& a);
void silu_isa(Isa isa, float* x, int64_t n);
void gelu_isa(Isa isa, float* x, int64_t n);
void geglu_isa(Isa isa, const float* gate, const float* up, float* out, int64_t n);
void layernorm_isa(Isa isa, const float* x, const float* w, const float* b, float* out, int64_t n, float eps);
void softcap_isa(Isa isa, float* x, float cap, int64_t n);
void add_isa(Isa isa, const float* a, const float* b, float* out, int64_t n);
void mul_isa(Isa isa, const float* a, const float* b, float* out, int64_t n);
void scale_isa(Isa isa, float* x, float s, int64_t n);

}  // namespace kestrel::kernels
