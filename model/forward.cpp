#include "model/forward.h"

#include <cmath>
#include <cstring>

#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "model/forward_moe.h"

namespace kestrel {
namespace {

// y[n][n_out] = W x[n][n_in] for a [n_in, n_out] weight tensor.
void project(kernels::ThreadPool& pool, const TensorView& w, const float* x, int n, float* y) {
  const int64_t n_in = w.ne[0], n_out = w.ne[1];
  kernels::matmul(pool, w.type, w.data, n_in, n_out, x, n, y, n_out);
}

// Runs fn(t) for every token row; prompt batches are split over the pool, single tokens stay on the
// calling thread (a pool round trip costs more than the work).
template <class Fn>
void for_rows(kernels::ThreadPool& pool, int n, Fn&& fn) {
  constexpr int kParallelRows = 16;
  if (n < kParallelRows) {
    for (int t = 0; t < n; ++t) fn(t);
    return;
  }
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) fn(static_cast<int>(t));
  });
}

void add_bias(kernels::ThreadPool& pool, const TensorView* b, float* y, int n, int64_t width) {
  if (!b) return;
  const float* bias = static_cast<const float*>(b->data);
  for_rows(pool, n, [&](int t) { kernels::add(y + t * width, bias, y + t * width, width); });
}

void norm_rows(kernels::ThreadPool& pool, const float* x, const TensorView& w, float* out, int n, int64_t width,
               float eps) {
  const float* g = static_cast<const float*>(w.data);
  for_rows(pool, n, [&](int t) { kernels::rmsnorm(x + t * width, g, out + t * width, width, eps); });
}

void add_rows(kernels::ThreadPool& pool, float* x, const float* y, int n, int64_t width) {
  for_rows(pool, n, [&](int t) { kernels::add(x + t * width, y + t * width, x + t * width, width); });
}

// Keeps rows rows[0..n_rows) of a [..][width] buffer, packed to the front (rows ascending).
void compact_rows(float* buf, const int32_t* rows, int n_rows, int64_t width) {
  for (int i = 0; i < n_rows; ++i)
    if (rows[i] != i) std::memmove(buf + i * width, buf + rows[i] * width, width * sizeof(float));
}

}  // namespace

kernels::RopeParams rope_params(const ModelConfig& cfg, const ModelWeights& w) {
  kernels::RopeParams p;
  p.n_rot = cfg.n_rot;
  p.freq_base = cfg.rope_freq_base;
  p.freq_scale = cfg.rope_freq_scale;
  p.freq_factors = w.rope_freqs ? static_cast<const float*>(w.rope_freqs->data) : nullptr;
  p.mode = cfg.rope_mode;
  return p;
}

Forward::Forward(const ModelConfig& cfg, const ArchSpec& arch, const ModelWeights& w, int n_batch)
    : cfg_(cfg), arch_(arch), w_(w), n_batch_(n_batch) {
  const size_t B = static_cast<size_t>(n_batch);
  x_.allocate(B * cfg.n_embd);
  cur_.allocate(B * cfg.n_embd);
  proj_.allocate(B * cfg.n_embd);
  q_.allocate(B * cfg.n_embd_q());
  attn_.allocate(B * cfg.n_embd_q());
  k_.allocate(B * cfg.n_embd_kv());
  v_.allocate(B * cfg.n_embd_kv());
  if (cfg.n_expert == 0) {
    gate_.allocate(B * cfg.n_ff);
    up_.allocate(B * cfg.n_ff);
  }
  rope_ = rope_params(cfg, w);
}

void Forward::attention_block(kernels::ThreadPool& pool, const SeqSpan* spans, int n_spans, int il, int n) {
  const LayerWeights& l = w_.layers[il];
  const int64_t E = cfg_.n_embd, Q = cfg_.n_embd_q(), KV = cfg_.n_embd_kv();
  norm_rows(pool, x_.data(), *l.attn_norm, cur_.data(), n, E, cfg_.rms_eps);
  project(pool, *l.wq, cur_.data(), n, q_.data());
  project(pool, *l.wk, cur_.data(), n, k_.data());
  project(pool, *l.wv, cur_.data(), n, v_.data());
  add_bias(pool, l.bq, q_.data(), n, Q);
  add_bias(pool, l.bk, k_.data(), n, KV);
  add_bias(pool, l.bv, v_.data(), n, KV);
  for (int s = 0; s < n_spans; ++s) {
    const SeqSpan& sp = spans[s];
    float* q = q_.data() + sp.row0 * Q;
    float* k = k_.data() + sp.row0 * KV;
    for_rows(pool, sp.n, [&](int t) {
      kernels::rope(q + t * Q, cfg_.n_head, cfg_.head_dim, sp.pos0 + t, rope_);
      kernels::rope(k + t * KV, cfg_.n_head_kv, cfg_.head_dim, sp.pos0 + t, rope_);
    });
    sp.cache->store(il, sp.pos0, sp.n, k, v_.data() + sp.row0 * KV);

    kernels::AttentionArgs a;
    a.q = q;
    a.k_cache = sp.cache->k(il);
    a.v_cache = sp.cache->v(il);
    a.cache_type = sp.cache->type();
    a.n_tokens = sp.n;
    a.n_head = cfg_.n_head;
    a.n_head_kv = cfg_.n_head_kv;
    a.head_dim = cfg_.head_dim;
    a.pos0 = sp.pos0;
    a.scale = 1.0f / std::sqrt(static_cast<float>(cfg_.head_dim));
    a.out = attn_.data() + sp.row0 * Q;
    kernels::attention(pool, a);
  }
}

void Forward::ffn_block(kernels::ThreadPool& pool, int il, int n) {
  const LayerWeights& l = w_.layers[il];
  const int64_t E = cfg_.n_embd, F = cfg_.n_ff;
  norm_rows(pool, x_.data(), *l.ffn_norm, cur_.data(), n, E, cfg_.rms_eps);
  if (cfg_.n_expert > 0) {
    run_layer_experts(pool, l.moe, cfg_, cur_.data(), n, proj_.data(), moe_scratch_);
  } else {
    project(pool, *l.ffn_up, cur_.data(), n, up_.data());
    if (arch_.ffn == FfnKind::SwiGlu) {
      project(pool, *l.ffn_gate, cur_.data(), n, gate_.data());
      // In place into up_: an element-wise op reads each element before writing it.
      for_rows(pool, n, [&](int t) { kernels::swiglu(gate_.data() + t * F, up_.data() + t * F, up_.data() + t * F, F); });
    } else {
      for_rows(pool, n, [&](int t) { kernels::gelu(up_.data() + t * F, F); });
    }
    project(pool, *l.ffn_down, up_.data(), n, proj_.data());
  }
  add_rows(pool, x_.data(), proj_.data(), n, E);
}

void Forward::eval(kernels::ThreadPool& pool, KvCache& cache, const int32_t* ids, int n, int64_t pos0,
                   const int32_t* out_rows, int n_out, float* logits) {
  const SeqSpan span{&cache, 0, n, pos0};
  eval(pool, &span, 1, ids, n, out_rows, n_out, logits);
}

void Forward::eval(kernels::ThreadPool& pool, const SeqSpan* spans, int n_spans, const int32_t* ids, int n,
                   const int32_t* out_rows, int n_out, float* logits) {
  const int64_t E = cfg_.n_embd, Q = cfg_.n_embd_q();
  kernels::get_rows(w_.tok_embd->type, w_.tok_embd->data, E, ids, n, x_.data());
  for (int il = 0; il < cfg_.n_layer; ++il) {
    attention_block(pool, spans, n_spans, il, n);
    if (il == cfg_.n_layer - 1 && n_out == 0) return;  // the K/V are cached; no logits wanted
    if (il == cfg_.n_layer - 1 && n_out < n) {
      // Only the rows whose logits are wanted matter after the last attention: drop the others before
      // the output projection and FFN of the last layer (every row is computed independently there).
      compact_rows(attn_.data(), out_rows, n_out, Q);
      compact_rows(x_.data(), out_rows, n_out, E);
      n = n_out;
    }
    project(pool, *w_.layers[il].wo, attn_.data(), n, proj_.data());
    add_rows(pool, x_.data(), proj_.data(), n, E);
    ffn_block(pool, il, n);
  }
  // After the last layer x_ holds exactly the n_out wanted rows (or all rows when n_out == n).
  norm_rows(pool, x_.data(), *w_.output_norm, cur_.data(), n_out, E, cfg_.rms_eps);
  project(pool, *w_.output, cur_.data(), n_out, logits);
}

}  // namespace kestrel
