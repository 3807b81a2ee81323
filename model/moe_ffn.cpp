// Mixtral sparse FFN: route every token, group the tokens by expert, and run each used expert's SwiGLU
// FFN once over its group (one batch matmul per weight), then scatter-add the weighted outputs.
// With one token (decode) the groups are just the selected experts, so only their weights are read.
#include <algorithm>
#include <cstring>

#include "kernels/matmul.h"
#include "kernels/ops.h"
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
  const int64_t n_in = w.ne[0], n_out = w.ne[1];
  kernels::matmul(pool, w.type, w.data, n_in, n_out, x, n_tokens, y, n_out);
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
