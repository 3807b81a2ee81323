#include "model/forward.h"

#include <cmath>
#include <cstring>
#include <string>

#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/repack.h"
#include "model/forward_moe.h"

namespace kestrel {
namespace {

// y[n][n_out] = W x[n][n_in] for a [n_in, n_out] weight tensor.
void project(kernels::ThreadPool& pool, const TensorView& w, const float* x, int n, float* y) {
  kernels::matmul_view(pool, w, x, n, y, w.ne[1]);
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

const float* f32(const TensorView* t) { return t ? static_cast<const float*>(t->data) : nullptr; }

void add_bias(kernels::ThreadPool& pool, const TensorView* b, float* y, int n, int64_t width) {
  if (!b) return;
  const float* bias = f32(b);
  for_rows(pool, n, [&](int t) { kernels::add(y + t * width, bias, y + t * width, width); });
}

// The norm of an architecture over rows of `width`: RMSNorm (weight) or LayerNorm (weight, bias).
void norm_rows(kernels::ThreadPool& pool, NormKind kind, const float* x, const TensorView& w, const TensorView* b,
               float* out, int n, int64_t width, float eps) {
  const float* g = f32(&w);
  const float* bias = f32(b);
  if (kind == NormKind::RmsNorm) {
    for_rows(pool, n, [&](int t) {
      kernels::rmsnorm(x + t * width, g, out + t * width, width, eps);
      if (bias) kernels::add(out + t * width, bias, out + t * width, width);
    });
  } else {
    for_rows(pool, n, [&](int t) { kernels::layernorm(x + t * width, g, bias, out + t * width, width, eps); });
  }
}

// Per-head RMSNorm of n rows of n_heads * head_dim (Q/K norm), in place.
void head_norm_rows(kernels::ThreadPool& pool, float* x, const TensorView& w, int n, int64_t n_heads, int64_t head_dim,
                    float eps) {
  const float* g = f32(&w);
  for_rows(pool, n, [&](int t) {
    for (int64_t h = 0; h < n_heads; ++h) {
      float* xh = x + (t * n_heads + h) * head_dim;
      kernels::rmsnorm(xh, g, xh, head_dim, eps);
    }
  });
}

void add_rows(kernels::ThreadPool& pool, float* x, const float* y, int n, int64_t width) {
  for_rows(pool, n, [&](int t) { kernels::add(x + t * width, y + t * width, x + t * width, width); });
}

void scale_rows(kernels::ThreadPool& pool, float* x, float s, int n, int64_t width) {
  for_rows(pool, n, [&](int t) { kernels::scale(x + t * width, s, width); });
}

// Keeps rows rows[0..n_rows) of a [..][width] buffer, packed to the front (rows ascending).
void compact_rows(float* buf, const int32_t* rows, int n_rows, int64_t width) {
  for (int i = 0; i < n_rows; ++i)
    if (rows[i] != i) std::memmove(buf + i * width, buf + rows[i] * width, width * sizeof(float));
}

}  // namespace

kernels::RopeParams rope_params(const ModelConfig& cfg, const ModelWeights& w, int n_ctx, bool swa) {
  kernels::RopeParams p;
  p.n_rot = cfg.n_rot;
  p.freq_base = swa ? cfg.rope_freq_base_swa : cfg.rope_freq_base;
  p.freq_scale = swa ? cfg.rope_freq_scale_swa : cfg.rope_freq_scale;
  p.freq_factors = w.rope_freqs ? static_cast<const float*>(w.rope_freqs->data) : nullptr;
  // LongRoPE: llama.cpp picks the long factors when the context exceeds the original one.
  if (w.rope_long) p.freq_factors = f32(n_ctx > cfg.n_ctx_orig ? w.rope_long : w.rope_short);
  p.mode = cfg.rope_mode;
  p.ext_factor = cfg.yarn_ext_factor;
  p.attn_factor = cfg.yarn_attn_factor;
  p.beta_fast = cfg.yarn_beta_fast;
  p.beta_slow = cfg.yarn_beta_slow;
  p.n_ctx_orig = cfg.n_ctx_orig;
  return p;
}

Forward::Forward(const ModelConfig& cfg, const ArchSpec& arch, const ModelWeights& w, int n_batch, int n_ctx)
    : cfg_(cfg), arch_(arch), w_(w), n_batch_(n_batch) {
  const size_t B = static_cast<size_t>(n_batch);
  x_.allocate(B * cfg.n_embd);
  cur_.allocate(B * cfg.n_embd);
  proj_.allocate(B * cfg.n_embd);
  q_.allocate(B * cfg.n_embd_q());
  attn_.allocate(B * cfg.n_embd_q());
  k_.allocate(B * cfg.n_embd_kv());
  v_.allocate(B * cfg.n_embd_kv());
  if (arch.fused_qkv || arch.fused_qkv_ok) qkv_.allocate(B * (cfg.n_embd_q() + 2 * cfg.n_embd_kv()));
  if (cfg.n_expert == 0) {
    gate_.allocate(B * cfg.n_ff);
    up_.allocate(B * cfg.n_ff * (arch.fused_gate_up ? 2 : 1));
  }
  if (w.pos_embd) pos_ids_.resize(B);
  rope_ = rope_params(cfg, w, n_ctx, false);
  rope_swa_ = rope_params(cfg, w, n_ctx, true);
}

void Forward::tap(const char* name, int il, const char* op, const float* data, int64_t rows, int64_t width) const {
  if (!tap_) return;
  const std::string full = il < 0 ? std::string(name) : std::string(name) + "-" + std::to_string(il);
  tap_(TapTensor{full.c_str(), op, data, rows, width});
}

void Forward::attention_block(kernels::ThreadPool& pool, const SeqSpan* spans, int n_spans, int il, int n) {
  const LayerWeights& l = w_.layers[il];
  const int64_t E = cfg_.n_embd, Q = cfg_.n_embd_q(), KV = cfg_.n_embd_kv();
  norm_rows(pool, arch_.norm, x_.data(), *l.attn_norm, l.attn_norm_b, cur_.data(), n, E, cfg_.rms_eps);
  tap("attn_norm", il, l.attn_norm_b ? "ADD" : "MUL", cur_.data(), n, E);
  if (l.wqkv) {
    // Fused projection: each row is [q | k | v].
    const int64_t W = Q + 2 * KV;
    project(pool, *l.wqkv, cur_.data(), n, qkv_.data());
    add_bias(pool, l.bqkv, qkv_.data(), n, W);
    for_rows(pool, n, [&](int t) {
      const float* r = qkv_.data() + t * W;
      std::memcpy(q_.data() + t * Q, r, Q * sizeof(float));
      std::memcpy(k_.data() + t * KV, r + Q, KV * sizeof(float));
      std::memcpy(v_.data() + t * KV, r + Q + KV, KV * sizeof(float));
    });
  } else {
    // One pool dispatch for the three (kernels::matmul_views): at decode K and V are small.
    const kernels::ViewOutput qkv[3] = {{l.wq, q_.data(), Q}, {l.wk, k_.data(), KV}, {l.wv, v_.data(), KV}};
    kernels::matmul_views(pool, qkv, 3, cur_.data(), n);
    add_bias(pool, l.bq, q_.data(), n, Q);
    add_bias(pool, l.bk, k_.data(), n, KV);
    add_bias(pool, l.bv, v_.data(), n, KV);
  }
  tap("Qcur", il, l.wqkv || l.bq ? "ADD" : "MUL_MAT", q_.data(), n, Q);
  tap("Kcur", il, l.wqkv || l.bk ? "ADD" : "MUL_MAT", k_.data(), n, KV);
  tap("Vcur", il, l.wqkv || l.bv ? "ADD" : "MUL_MAT", v_.data(), n, KV);
  if (l.q_norm) {
    head_norm_rows(pool, q_.data(), *l.q_norm, n, cfg_.n_head, cfg_.head_dim, cfg_.rms_eps);
    head_norm_rows(pool, k_.data(), *l.k_norm, n, cfg_.n_head_kv, cfg_.head_dim, cfg_.rms_eps);
    tap("Qcur_normed", il, "MUL", q_.data(), n, Q);
    tap("Kcur_normed", il, "MUL", k_.data(), n, KV);
  }
  const bool swa = cfg_.is_swa(il);
  // Everything above ran over all rows of the batch; positions, the cache and attention are per sequence.
  for (int s = 0; s < n_spans; ++s) {
    const SeqSpan& sp = spans[s];
    KvCache& cache = *sp.cache;
    float* q = q_.data() + sp.row0 * Q;
    float* k = k_.data() + sp.row0 * KV;
    if (arch_.rope) {
      const kernels::RopeParams& rp = swa ? rope_swa_ : rope_;
      for_rows(pool, sp.n, [&](int t) {
        kernels::rope(q + t * Q, cfg_.n_head, cfg_.head_dim, sp.pos0 + t, rp);
        kernels::rope(k + t * KV, cfg_.n_head_kv, cfg_.head_dim, sp.pos0 + t, rp);
      });
      if (n_spans == 1) {
        tap("Qcur", il, "ROPE", q, sp.n, Q);
        tap("Kcur", il, "ROPE", k, sp.n, KV);
      }
    }
    if (arch_.q_prescale) scale_rows(pool, q, cfg_.attn_scale, sp.n, Q);
    cache.store(il, sp.pos0, sp.n, k, v_.data() + sp.row0 * KV);

    kernels::AttentionArgs a;
    a.q = q;
    a.k_cache = cache.k(il);
    a.v_cache = cache.v(il);
    a.cache_type = cache.type();
    a.n_tokens = sp.n;
    a.n_head = cfg_.n_head;
    a.n_head_kv = cfg_.n_head_kv;
    a.head_dim = cfg_.head_dim;
    a.pos0 = sp.pos0;
    a.window = swa ? cfg_.n_swa : 0;
    a.ring = cache.ring(il);
    a.scale = arch_.q_prescale ? 1.0f : cfg_.attn_scale;
    a.softcap = cfg_.attn_softcap;
    a.out = attn_.data() + sp.row0 * Q;
    kernels::attention(pool, a);
  }
  tap("kqv_out", il, "CONT", attn_.data(), n, Q);
}

void Forward::ffn_block(kernels::ThreadPool& pool, int il, int n) {
  const LayerWeights& l = w_.layers[il];
  const int64_t E = cfg_.n_embd, F = cfg_.n_ff;
  norm_rows(pool, arch_.norm, x_.data(), *l.ffn_norm, l.ffn_norm_b, cur_.data(), n, E, cfg_.rms_eps);
  tap("ffn_norm", il, l.ffn_norm_b ? "ADD" : "MUL", cur_.data(), n, E);
  if (cfg_.n_expert > 0) {
    run_layer_experts(pool, l.moe, cfg_, cur_.data(), n, proj_.data(), moe_scratch_);
  } else {
    // hidden: the n x F activations that go into ffn_down.
    float* hidden = up_.data();
    if (arch_.fused_gate_up) {
      // One projection gives [gate | up] per row (Phi-3); the product goes to gate_.
      project(pool, *l.ffn_up, cur_.data(), n, up_.data());
      add_bias(pool, l.ffn_up_b, up_.data(), n, 2 * F);
      hidden = gate_.data();
      for_rows(pool, n, [&](int t) {
        const float* r = up_.data() + t * 2 * F;
        kernels::swiglu(r, r + F, hidden + t * F, F);
      });
    } else if (arch_.ffn == FfnKind::Gelu) {
      project(pool, *l.ffn_up, cur_.data(), n, up_.data());
      add_bias(pool, l.ffn_up_b, up_.data(), n, F);
      for_rows(pool, n, [&](int t) { kernels::gelu(up_.data() + t * F, F); });
    } else {
      const kernels::ViewOutput gate_up[2] = {{l.ffn_gate, gate_.data(), F}, {l.ffn_up, up_.data(), F}};
      kernels::matmul_views(pool, gate_up, 2, cur_.data(), n);  // one pool dispatch for both
      add_bias(pool, l.ffn_up_b, up_.data(), n, F);
      tap("ffn_gate", il, "MUL_MAT", gate_.data(), n, F);
      tap("ffn_up", il, "MUL_MAT", up_.data(), n, F);
      // In place into up_: an element-wise op reads each element before writing it.
      if (arch_.ffn == FfnKind::SwiGlu)
        for_rows(pool, n, [&](int t) { kernels::swiglu(gate_.data() + t * F, up_.data() + t * F, up_.data() + t * F, F); });
      else
        for_rows(pool, n, [&](int t) { kernels::geglu(gate_.data() + t * F, up_.data() + t * F, up_.data() + t * F, F); });
      tap(arch_.ffn == FfnKind::SwiGlu ? "ffn_swiglu" : "ffn_geglu", il, arch_.ffn == FfnKind::SwiGlu ? "SWIGLU" : "GEGLU",
          up_.data(), n, F);
    }
    project(pool, *l.ffn_down, hidden, n, proj_.data());
    add_bias(pool, l.ffn_down_b, proj_.data(), n, E);
  }
  tap("ffn_out", il, l.ffn_down_b ? "ADD" : "MUL_MAT", proj_.data(), n, E);
  if (l.ffn_post_norm) {
    norm_rows(pool, arch_.norm, proj_.data(), *l.ffn_post_norm, nullptr, proj_.data(), n, E, cfg_.rms_eps);
    tap("ffn_post_norm", il, "MUL", proj_.data(), n, E);
  }
  add_rows(pool, x_.data(), proj_.data(), n, E);
  tap("l_out", il, "ADD", x_.data(), n, E);
}

void Forward::eval(kernels::ThreadPool& pool, KvCache& cache, const int32_t* ids, int n, int64_t pos0,
                   const int32_t* out_rows, int n_out, float* logits) {
  const SeqSpan span{&cache, 0, n, pos0};
  eval(pool, &span, 1, ids, n, out_rows, n_out, logits);
}

void Forward::eval(kernels::ThreadPool& pool, const SeqSpan* spans, int n_spans, const int32_t* ids, int n,
                   const int32_t* out_rows, int n_out, float* logits) {
  const int64_t E = cfg_.n_embd, Q = cfg_.n_embd_q();
  kernels::get_rows_view(*w_.tok_embd, ids, n, x_.data());
  tap("embd", -1, "GET_ROWS", x_.data(), n, E);
  if (arch_.embd_scale) {
    scale_rows(pool, x_.data(), std::sqrt(static_cast<float>(E)), n, E);
    tap("inp_scaled", -1, "SCALE", x_.data(), n, E);
  }
  if (w_.pos_embd) {
    // Learned absolute positions (GPT-2): the caller keeps every position within the training context.
    for (int s = 0; s < n_spans; ++s)
      for (int t = 0; t < spans[s].n; ++t) pos_ids_[spans[s].row0 + t] = static_cast<int32_t>(spans[s].pos0 + t);
    kernels::get_rows(w_.pos_embd->type, w_.pos_embd->data, E, pos_ids_.data(), n, proj_.data());
    add_rows(pool, x_.data(), proj_.data(), n, E);
  }
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
    const LayerWeights& l = w_.layers[il];
    project(pool, *l.wo, attn_.data(), n, proj_.data());
    add_bias(pool, l.bo, proj_.data(), n, E);
    tap("attn_out", il, "MUL_MAT", proj_.data(), n, E);  // unnamed in llama.cpp's graph (node_N)
    if (l.attn_post_norm) {
      norm_rows(pool, arch_.norm, proj_.data(), *l.attn_post_norm, nullptr, proj_.data(), n, E, cfg_.rms_eps);
      tap("attn_post_norm", il, "MUL", proj_.data(), n, E);
    }
    add_rows(pool, x_.data(), proj_.data(), n, E);
    tap(l.attn_post_norm ? "sa_out" : "ffn_inp", il, "ADD", x_.data(), n, E);
    ffn_block(pool, il, n);
  }
  // After the last layer x_ holds exactly the n_out wanted rows (or all rows when n_out == n).
  norm_rows(pool, arch_.norm, x_.data(), *w_.output_norm, w_.output_norm_b, cur_.data(), n_out, E, cfg_.rms_eps);
  tap("result_norm", -1, w_.output_norm_b ? "ADD" : "MUL", cur_.data(), n_out, E);
  project(pool, *w_.output, cur_.data(), n_out, logits);
  if (cfg_.final_softcap > 0) {
    const int64_t V = cfg_.n_vocab;
    for_rows(pool, n_out, [&](int t) { kernels::softcap(logits + t * V, cfg_.final_softcap, V); });
  }
  tap("result_output", -1, cfg_.final_softcap > 0 ? "SCALE" : "MUL_MAT", logits, n_out, cfg_.n_vocab);
}

}  // namespace kestrel
