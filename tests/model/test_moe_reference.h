#pragma once
// Test-only naive Mixtral FFN: dequantizes every weight to float and loops per token, in double.
// Activations are rounded the way the weight type's dot product sees them (F16 for F16 weights, Q8_0
// blocks for Q8_0/Q4_0), as llama.cpp and Kestrel do, so the remaining difference is float rounding.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "gguf/tensor_type.h"
#include "kernels/type_traits.h"

namespace kestrel::test {

// One weight matrix in storage bytes plus its float dequantization.
struct RefMatrix {
  TensorType type = TensorType::F32;
  int64_t n_in = 0, n_out = 0;
  std::vector<uint8_t> bytes;   // n_out rows in `type`
  std::vector<float> deq;       // n_out * n_in floats
};

inline RefMatrix random_matrix(TensorType type, int64_t n_in, int64_t n_out, std::mt19937& rng, float amp) {
  RefMatrix m;
  m.type = type;
  m.n_in = n_in;
  m.n_out = n_out;
  std::uniform_real_distribution<float> u(-amp, amp);
  std::vector<float> f(static_cast<size_t>(n_in * n_out));
  for (float& v : f) v = u(rng);
  const auto* tr = kernels::type_traits(type);
  const size_t row_bytes = static_cast<size_t>(n_in / tr->block_size * tr->block_bytes);
  m.bytes.resize(row_bytes * n_out);
  m.deq.resize(f.size());
  for (int64_t r = 0; r < n_out; ++r) {
    tr->from_float(f.data() + r * n_in, m.bytes.data() + r * row_bytes, n_in);
    tr->to_float(m.bytes.data() + r * row_bytes, m.deq.data() + r * n_in, n_in);
  }
  return m;
}

// x as the dot product of a `wtype` weight sees it.
inline std::vector<float> round_activation(TensorType wtype, const float* x, int64_t n) {
  std::vector<float> r(x, x + n);
  const auto* w = kernels::type_traits(wtype);
  if (w->vec_dot_type == TensorType::F32) return r;
  const auto* a = kernels::type_traits(w->vec_dot_type);
  std::vector<uint8_t> tmp(static_cast<size_t>(n / a->block_size * a->block_bytes));
  a->from_float(x, tmp.data(), n);
  a->to_float(tmp.data(), r.data(), n);
  return r;
}

inline std::vector<double> ref_matvec(const RefMatrix& m, const float* x) {
  const std::vector<float> xr = round_activation(m.type, x, m.n_in);
  std::vector<double> y(static_cast<size_t>(m.n_out));
  for (int64_t o = 0; o < m.n_out; ++o) {
    double s = 0;
    for (int64_t i = 0; i < m.n_in; ++i) s += static_cast<double>(m.deq[o * m.n_in + i]) * xr[i];
    y[o] = s;
  }
  return y;
}

struct RefExpert {
  RefMatrix gate, up, down;
};

struct RefMoeLayer {
  int64_t n_embd = 0, n_ff = 0;
  int n_used = 0;
  RefMatrix router;
  std::vector<RefExpert> experts;
};

inline RefMoeLayer random_moe_layer(TensorType type, TensorType router_type, int64_t n_embd, int64_t n_ff,
                                    int n_expert, int n_used, uint32_t seed) {
  std::mt19937 rng(seed);
  RefMoeLayer l;
  l.n_embd = n_embd;
  l.n_ff = n_ff;
  l.n_used = n_used;
  l.router = random_matrix(router_type, n_embd, n_expert, rng, 0.5f);
  for (int e = 0; e < n_expert; ++e) {
    RefExpert ex;
    ex.gate = random_matrix(type, n_embd, n_ff, rng, 0.3f);
    ex.up = random_matrix(type, n_embd, n_ff, rng, 0.3f);
    ex.down = random_matrix(type, n_ff, n_embd, rng, 0.3f);
    l.experts.push_back(std::move(ex));
  }
  return l;
}

// The experts one token uses, in descending router probability, with renormalised weights.
struct RefRoute {
  std::vector<int> experts;
  std::vector<double> weights;
};

inline RefRoute ref_route(const RefMoeLayer& l, const float* x) {
  const std::vector<double> logits = ref_matvec(l.router, x);
  const size_t n = logits.size();
  const double mx = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(n);
  double sum = 0;
  for (size_t e = 0; e < n; ++e) sum += p[e] = std::exp(logits[e] - mx);
  for (double& v : p) v /= sum;
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
  RefRoute r;
  double kept = 0;
  for (int k = 0; k < l.n_used; ++k) {
    r.experts.push_back(order[k]);
    r.weights.push_back(p[order[k]]);
    kept += p[order[k]];
  }
  for (double& w : r.weights) w /= kept;
  return r;
}

// out[t] = sum over the token's experts of w * down(silu(gate x) * up x).
inline std::vector<double> ref_moe_ffn(const RefMoeLayer& l, const float* x, int64_t n_tokens) {
  std::vector<double> out(static_cast<size_t>(n_tokens * l.n_embd), 0.0);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* xt = x + t * l.n_embd;
    const RefRoute r = ref_route(l, xt);
    for (size_t k = 0; k < r.experts.size(); ++k) {
      const RefExpert& ex = l.experts[r.experts[k]];
      const std::vector<double> g = ref_matvec(ex.gate, xt), u = ref_matvec(ex.up, xt);
      std::vector<float> act(static_cast<size_t>(l.n_ff));
      for (int64_t i = 0; i < l.n_ff; ++i) act[i] = static_cast<float>(g[i] / (1.0 + std::exp(-g[i])) * u[i]);
      const std::vector<double> d = ref_matvec(ex.down, act.data());
      for (int64_t j = 0; j < l.n_embd; ++j) out[t * l.n_embd + j] += r.weights[k] * d[j];
    }
  }
  return out;
}

}  // namespace kestrel::test
