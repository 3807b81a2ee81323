// Mixtral sparse FFN: route every token, group the tokens by expert, and run each used expert's SwiGLU
// FFN once over its group (one batch matmul per weight), then scatter-add the weighted outputs.
// With one token (decode) only the selected experts' rows are read, and their matrix-vector products are
// fused into two pool dispatches.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>

#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/repack.h"
#include "model/llm.h"
#include "model/moe.h"

namespace kestrel {
namespace {

// Grows a scratch buffer to at least n elements; never shrinks, so steady-state calls do not allocate.
template <class T>
T* grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

void matmul_view(kernels::ThreadPool& pool, const TensorView& w, const float* x, int64_t n_tokens, float* y) {
  kernels::matmul_view(pool, w, x, n_tokens, y, w.ne[1]);
}

// y_m = W_m · x_m for n_mat one-token matrix-vector products that all have n_out rows, as one job list
// over the pool: job j is a contiguous row range of one matrix, computed by kernels::matmul on that
// sub-matrix (rows are contiguous, so a row range is itself a valid weight matrix) through the
// worker's one-thread pool. `mat(m)` returns {weight view, x, y} of matrix m.
template <class MatFn>
void fused_matvecs(kernels::ThreadPool& pool, MoeScratch& s, int n_mat, int64_t n_out, MatFn mat) {
  const int nth = pool.size();
  while (static_cast<int>(s.solo_pools.size()) < nth)
    s.solo_pools.push_back(std::make_unique<kernels::ThreadPool>(1));
  // About 4 jobs per thread: enough to balance a noisy machine, few enough that converting x once per
  // job (a few hundred ns) stays negligible next to streaming the rows. Multiples of 32 rows.
  int64_t chunk = (static_cast<int64_t>(n_mat) * n_out + nth * 4 - 1) / (nth * 4);
  chunk = std::min<int64_t>(n_out, std::max<int64_t>(32, (chunk + 31) / 32 * 32));
  const int64_t per_mat = (n_out + chunk - 1) / chunk;
  const int64_t n_jobs = per_mat * n_mat;
  std::atomic<int64_t> next{0};
  pool.run([&](int ith, int) {
    kernels::ThreadPool& solo = *s.solo_pools[ith];
    for (int64_t j = next.fetch_add(1, std::memory_order_relaxed); j < n_jobs;
         j = next.fetch_add(1, std::memory_order_relaxed)) {
      const auto [w, x, y] = mat(static_cast<int>(j / per_mat));
      const int64_t r0 = (j % per_mat) * chunk, r1 = std::min(n_out, r0 + chunk);
      const uint8_t* rows = static_cast<const uint8_t*>(w->data) + static_cast<uint64_t>(r0) * w->row_bytes();
      kernels::matmul(solo, w->type, rows, w->ne[0], r1 - r0, x, 1, y + r0, r1 - r0);
    }
  });
}

// One token: its selected experts' gate and up projections as one fused job list, SwiGLU, their down
// projections as a second one, then the weighted sum in selection order. Only those experts' rows
// are read.
void decode_one_token(kernels::ThreadPool& pool, const MoeLayer& layer, const ModelConfig& cfg, const float* x,
                      const int32_t* selected, const float* weights, float* out, MoeScratch& s) {
  const int64_t n_embd = cfg.n_embd, n_ff = cfg.n_ff;
  const int n_used = cfg.n_expert_used;
  float* gate = grow(s.gate, static_cast<size_t>(n_used) * n_ff);
  float* up = grow(s.up, static_cast<size_t>(n_used) * n_ff);
  float* act = grow(s.act, static_cast<size_t>(n_used) * n_ff);
  float* down = grow(s.down, static_cast<size_t>(n_used) * n_embd);
  struct Mat {
    const TensorView* w;
    const float* x;
    float* y;
  };
  fused_matvecs(pool, s, 2 * n_used, n_ff, [&](int m) {
    const int k = m / 2, e = selected[k];
    return m % 2 == 0 ? Mat{&layer.gate[e], x, gate + k * n_ff} : Mat{&layer.up[e], x, up + k * n_ff};
  });
  kernels::swiglu(gate, up, act, n_used * n_ff);
  fused_matvecs(pool, s, n_used, n_embd, [&](int k) {
    return Mat{&layer.down[selected[k]], act + k * n_ff, down + k * n_embd};
  });
  for (int64_t j = 0; j < n_embd; ++j) out[j] = weights[0] * down[j];
  for (int k = 1; k < n_used; ++k)
    for (int64_t j = 0; j < n_embd; ++j) out[j] += weights[k] * down[k * n_embd + j];
}

}  // namespace

void moe_ffn(kernels::ThreadPool& pool, const MoeLayer& layer, const ModelConfig& cfg, const float* x,
             int64_t n_tokens, float* out, MoeScratch& s) {
  const int64_t n_embd = cfg.n_embd, n_ff = cfg.n_ff;
  const int n_expert = cfg.n_expert, n_used = cfg.n_expert_used;
  if (n_tokens <= 0) return;

  // 1. Router logits for all tokens in one matmul, then per-token softmax / top-k / renormalise.
  float* logits = grow(s.logits, static_cast<size_t>(n_tokens) * n_expert);
  matmul_view(pool, *layer.router, x, n_tokens, logits);
  int32_t* selected = grow(s.selected, static_cast<size_t>(n_tokens) * n_used);
  float* weights = grow(s.weights, static_cast<size_t>(n_tokens) * n_used);
  for (int64_t t = 0; t < n_tokens; ++t)
    moe_route_token(logits + t * n_expert, n_expert, n_used, selected + t * n_used, weights + t * n_used);
  if (n_tokens == 1) {
    decode_one_token(pool, layer, cfg, x, selected, weights, out, s);
    return;
  }

  // 2. Group by expert (counting sort; tokens stay in ascending order inside each group).
  int32_t* begin = grow(s.expert_begin, static_cast<size_t>(n_expert) + 1);
  std::fill(begin, begin + n_expert + 1, 0);
  for (int64_t i = 0; i < n_tokens * n_used; ++i) ++begin[selected[i] + 1];
  for (int e = 0; e < n_expert; ++e) begin[e + 1] += begin[e];
  int32_t* rows = grow(s.rows, static_cast<size_t>(n_tokens) * n_used);
  float* row_w = grow(s.row_weights, static_cast<size_t>(n_tokens) * n_used);
  int32_t* cursor = grow(s.expert_cursor, static_cast<size_t>(n_expert));
  std::copy(begin, begin + n_expert, cursor);
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int k = 0; k < n_used; ++k) {
      const int e = selected[t * n_used + k];
      rows[cursor[e]] = static_cast<int32_t>(t);
      row_w[cursor[e]] = weights[t * n_used + k];
      ++cursor[e];
    }
  }

  // 3. Each used expert over its group of tokens.
  std::memset(out, 0, sizeof(float) * static_cast<size_t>(n_tokens) * n_embd);
  for (int e = 0; e < n_expert; ++e) {
    const int64_t first = begin[e], count = begin[e + 1] - begin[e];
    if (count == 0) continue;  // unselected expert: its weights are never touched
    const float* xin = x;
    if (count != n_tokens) {  // a strict subset (with top-k each token appears at most once per expert)
      float* g = grow(s.gathered, static_cast<size_t>(count) * n_embd);
      for (int64_t i = 0; i < count; ++i)
        std::memcpy(g + i * n_embd, x + static_cast<int64_t>(rows[first + i]) * n_embd, sizeof(float) * n_embd);
      xin = g;
    }
    float* gate = grow(s.gate, static_cast<size_t>(count) * n_ff);
    float* up = grow(s.up, static_cast<size_t>(count) * n_ff);
    float* act = grow(s.act, static_cast<size_t>(count) * n_ff);
    float* down = grow(s.down, static_cast<size_t>(count) * n_embd);
    matmul_view(pool, layer.gate[e], xin, count, gate);
    matmul_view(pool, layer.up[e], xin, count, up);
    kernels::swiglu(gate, up, act, count * n_ff);
    matmul_view(pool, layer.down[e], act, count, down);
    for (int64_t i = 0; i < count; ++i) {
      const float w = row_w[first + i];
      float* o = out + static_cast<int64_t>(rows[first + i]) * n_embd;
      const float* d = down + i * n_embd;
      for (int64_t j = 0; j < n_embd; ++j) o[j] += w * d[j];
    }
  }
}

}  // namespace kestrel
