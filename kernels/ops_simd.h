#pragma once
// The float element-wise kernels, written once as templates over an xsimd architecture A and
// instantiated by each ISA's file (kernels/avx2/ops_avx2.cpp: xsimd::fma3<xsimd::avx2>,
// kernels/avx512/ops_avx512.cpp: xsimd::avx512bw, kernels/neon/ops_neon.cpp: xsimd::neon64), which is
// compiled with that ISA's flags and puts these functions into its OpsKernels table; dispatch stays in
// kernels/ops.cpp. The scalar twins in kernels/scalar/ops_scalar.cpp define the results: these follow
// their order of operations (float products, double sums where the twin sums in double), so they differ
// only where xsimd's exp/tanh differ from libm's by an ulp or two, and where double sums add in another
// order. Tails (n % lanes elements) go through a zero-padded buffer, so every element gets the same
// vector arithmetic as the body.
// Only the ISA files include this header. Everything is in an anonymous namespace, so each of them has
// its own copy and no function compiled with one ISA's flags can be picked by the linker for another.
#include <cmath>
#include <cstdint>
#include <xsimd/xsimd.hpp>

namespace kestrel::kernels {
namespace {

template <class A>
struct ElementwiseSimd {
  using F = xsimd::batch<float, A>;
  using D = xsimd::batch<double, A>;
  static constexpr int64_t W = static_cast<int64_t>(F::size);
  static constexpr size_t kAlign = A::alignment();

  // Plain loops rather than std::copy here: a std:: template instantiated in several ISA files with
  // the same arguments would be one weak symbol that the linker may take from any of them.
  // The first n < W floats of x, zero-padded to a vector.
  static F load_tail(const float* x, int64_t n) {
    alignas(kAlign) float buf[W] = {};
    for (int64_t j = 0; j < n; ++j) buf[j] = x[j];
    return F::load_aligned(buf);
  }
  static void store_tail(const F& v, float* out, int64_t n) {
    alignas(kAlign) float buf[W];
    v.store_aligned(buf);
    for (int64_t j = 0; j < n; ++j) out[j] = buf[j];
  }
  // Widens the W floats of v to double and adds them to two accumulators of W/2 lanes each (the
  // compiler turns the loop into the ISA's float -> double conversions).
  static void add_f64(D& lo, D& hi, const F& v) {
    alignas(kAlign) float buf[W];
    alignas(kAlign) double wide[W];
    v.store_aligned(buf);
    for (int64_t j = 0; j < W; ++j) wide[j] = static_cast<double>(buf[j]);
    lo += D::load_aligned(wide);
    hi += D::load_aligned(wide + W / 2);
  }

  // out = f(x) element-wise (out may alias x).
  template <class Fn>
  static void map1(const float* x, float* out, int64_t n, Fn f) {
    int64_t i = 0;
    for (; i + W <= n; i += W) f(F::load_unaligned(x + i)).store_unaligned(out + i);
    if (i < n) store_tail(f(load_tail(x + i, n - i)), out + i, n - i);
  }
  // out = f(a, b) element-wise (out may alias a or b: tails are read before they are written).
  template <class Fn>
  static void map2(const float* a, const float* b, float* out, int64_t n, Fn f) {
    int64_t i = 0;
    for (; i + W <= n; i += W) f(F::load_unaligned(a + i), F::load_unaligned(b + i)).store_unaligned(out + i);
    if (i < n) store_tail(f(load_tail(a + i, n - i), load_tail(b + i, n - i)), out + i, n - i);
  }

  static F silu1(const F& x) { return x / (F(1.0f) + xsimd::exp(-x)); }

  // Sum of squares: float products, double sum (padded lanes add 0).
  static double sum_squares(const float* x, int64_t n) {
    D lo(0.0), hi(0.0);
    int64_t i = 0;
    for (; i + W <= n; i += W) {
      const F v = F::load_unaligned(x + i);
      add_f64(lo, hi, v * v);
    }
    if (i < n) {
      const F v = load_tail(x + i, n - i);
      add_f64(lo, hi, v * v);
    }
    return xsimd::hadd(lo + hi);
  }

  static void rmsnorm(const float* x, const float* w, float* out, int64_t n, float eps) {
    const float mean = static_cast<float>(sum_squares(x, n) / static_cast<double>(n));
    const F s(1.0f / std::sqrt(mean + eps));
    if (w) map2(x, w, out, n, [&](const F& v, const F& wv) { return (v * s) * wv; });
    else map1(x, out, n, [&](const F& v) { return v * s; });
  }

  // ggml_norm: mean from a double sum, variance of (x - mean) from float squares summed in double.
  // In the order of llama.cpp's SIMD builds of the same width (ggml_compute_forward_norm_f32): the mean
  // from a sequential double sum (ggml_vec_sum_f32), the variance from W-lane float sums of the squares
  // (ggml_vec_cvar_f32: _mm512_reduce_add_ps on AVX-512, hsum_float_8 on AVX2, both the halving tree
  // below; NEON's vaddvq_f32 assumed the same) added into a double, the n % W rest one by one. The
  // scalar twin is llama.cpp's scalar build (every square into the double). One ulp of variance moves
  // every output of the row, and GELU's F16 table turns some of those ulps into 5e-4 steps.
  static void layernorm(const float* x, const float* w, const float* b, float* out, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]);
    const float mean = static_cast<float>(sum) / static_cast<float>(n);
    const F vm(mean);
    map1(x, out, n, [&](const F& v) { return v - vm; });
    double sq = 0.0;
    int64_t i = 0;
    alignas(kAlign) float lanes[W];
    for (; i + W <= n; i += W) {
      const F v = F::load_unaligned(out + i);
      (v * v).store_aligned(lanes);
      for (int64_t h = W / 2; h >= 1; h /= 2)
        for (int64_t l = 0; l < h; ++l) lanes[l] = lanes[l + h] + lanes[l];
      sq += static_cast<double>(lanes[0]);
    }
    for (; i < n; ++i) sq += static_cast<double>(out[i] * out[i]);
    const float variance = static_cast<float>(sq / static_cast<double>(n));
    const F s(1.0f / std::sqrt(variance + eps));
    map1(out, out, n, [&](const F& v) { return v * s; });
    if (w) map2(out, w, out, n, [](const F& v, const F& wv) { return v * wv; });
    if (b) map2(out, b, out, n, [](const F& v, const F& bv) { return v + bv; });
  }

  static void softmax(float* x, int64_t n) {
    F vmax(-INFINITY);
    int64_t i = 0;
    for (; i + W <= n; i += W) vmax = xsimd::max(vmax, F::load_unaligned(x + i));
    alignas(kAlign) float lanes[W];
    vmax.store_aligned(lanes);
    float mx = -INFINITY;
    for (int64_t j = 0; j < W; ++j) mx = lanes[j] > mx ? lanes[j] : mx;
    for (; i < n; ++i) mx = x[i] > mx ? x[i] : mx;

    const F vm(mx);
    D lo(0.0), hi(0.0);
    i = 0;
    for (; i + W <= n; i += W) {
      const F e = xsimd::exp(F::load_unaligned(x + i) - vm);
      e.store_unaligned(x + i);
      add_f64(lo, hi, e);
    }
    double sum = xsimd::hadd(lo + hi);
    if (i < n) {
      store_tail(xsimd::exp(load_tail(x + i, n - i) - vm), x + i, n - i);
      for (; i < n; ++i) sum += x[i];
    }
    scale(x, static_cast<float>(1.0 / sum), n);
  }

  // s = exp(s - m), returns the float sum (the attention block's primitive).
  static float exp_sub_sum(float* s, int64_t n, float m) {
    const F vm(m);
    F acc(0.0f);
    int64_t i = 0;
    for (; i + W <= n; i += W) {
      const F e = xsimd::exp(F::load_unaligned(s + i) - vm);
      e.store_unaligned(s + i);
      acc += e;
    }
    float sum = xsimd::hadd(acc);
    if (i < n) {
      store_tail(xsimd::exp(load_tail(s + i, n - i) - vm), s + i, n - i);
      for (; i < n; ++i) sum += s[i];
    }
    return sum;
  }

  static void silu(float* x, int64_t n) { map1(x, x, n, silu1); }
  static void swiglu(const float* gate, const float* up, float* out, int64_t n) {
    map2(gate, up, out, n, [](const F& g, const F& u) { return silu1(g) * u; });
  }
  // cap * tanh(x * (1/cap)): ggml_scale by 1/cap, ggml_tanh, ggml_scale by cap, as llama.cpp builds it.
  static void softcap(float* x, float cap, int64_t n) {
    const F inv(1.0f / cap), c(cap);
    map1(x, x, n, [&](const F& v) { return xsimd::tanh(v * inv) * c; });
  }
  static void add(const float* a, const float* b, float* out, int64_t n) {
    map2(a, b, out, n, [](const F& u, const F& v) { return u + v; });
  }
  static void mul(const float* a, const float* b, float* out, int64_t n) {
    map2(a, b, out, n, [](const F& u, const F& v) { return u * v; });
  }
  static void scale(float* x, float s, int64_t n) {
    const F vs(s);
    map1(x, x, n, [&](const F& v) { return v * vs; });
  }
};

}  // namespace
}  // namespace kestrel::kernels
