// Element-wise kernels: the scalar twins against double-precision formulas, and every supported SIMD
// variant against the scalar twin on odd sizes (tails), wide input ranges and special values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/isa.h"
#include "kernels/ops.h"

namespace kestrel::kernels {
namespace {

const int64_t kSizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 100, 257, 1000, 4099};

std::vector<Isa> simd_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (isa_supported(isa)) out.push_back(isa);
  return out;
}

std::vector<float> random_vec(int64_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

// |a - b| <= rel * |b| + abs_tol, NaN only where expected is NaN.
void expect_close(const std::vector<float>& got, const std::vector<double>& want, double rel, double abs_tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << what << " at " << i;
      continue;
    }
    if (std::isinf(want[i])) {
      EXPECT_EQ(static_cast<double>(got[i]), want[i]) << what << " at " << i;
      continue;
    }
    ASSERT_LE(std::fabs(got[i] - want[i]), rel * std::fabs(want[i]) + abs_tol)
        << what << " at " << i << ": got " << got[i] << " want " << want[i];
  }
}

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// ---- scalar twins against the formulas ----

TEST(OpsScalar, RmsnormMatchesFormula) {
  for (int64_t n : kSizes) {
    auto x = random_vec(n, -3, 3, 1), w = random_vec(n, -2, 2, 2);
    std::vector<float> out(static_cast<size_t>(n));
    rmsnorm_isa(Isa::Scalar, x.data(), w.data(), out.data(), n, 1e-5f);
    double ss = 0;
    for (float v : x) ss += double(v) * v;
    const double s = 1.0 / std::sqrt(ss / n + 1e-5);
    std::vector<double> want(static_cast<size_t>(n));
    for (size_t i = 0; i < want.size(); ++i) want[i] = x[i] * s * w[i];
    expect_close(out, want, 1e-6, 1e-7, "rmsnorm n=" + std::to_string(n));
  }
}

TEST(OpsScalar, RmsnormWithoutWeightInPlace) {
  auto x = random_vec(37, -1, 1, 3);
  auto ref = x;
  double ss = 0;
  for (float v : x) ss += double(v) * v;
  rmsnorm_isa(Isa::Scalar, x.data(), nullptr, x.data(), 37, 1e-6f);
  std::vector<double> want(ref.size());
  for (size_t i = 0; i < want.size(); ++i) want[i] = ref[i] / std::sqrt(ss / 37 + 1e-6);
  expect_close(x, want, 1e-6, 1e-7, "rmsnorm in place");
}

TEST(OpsScalar, SoftmaxMatchesFormula) {
  for (int64_t n : kSizes) {
    auto x = random_vec(n, -20, 20, 4);
    auto ref = x;
    softmax_isa(Isa::Scalar, x.data(), n);
    double mx = -1e300, sum = 0;
    for (float v : ref) mx = std::max(mx, double(v));
    for (float v : ref) sum += std::exp(v - mx);
    std::vector<double> want(ref.size());
    for (size_t i = 0; i < want.size(); ++i) want[i] = std::exp(ref[i] - mx) / sum;
    expect_close(x, want, 2e-6, 1e-12, "softmax n=" + std::to_string(n));
  }
}

double gelu_tanh(double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * v * (1 + 0.044715 * v * v))); }

// The compiler's half type (float -> half rounds to nearest even), independent of Kestrel's converters.
#if defined(__aarch64__)
using Half = __fp16;
#else
using Half = _Float16;
#endif
double to_half(double v) { return static_cast<double>(static_cast<Half>(static_cast<float>(v))); }

// ggml's f32 GELU in double: cut-offs at +-10, F16 input, F16 output.
double gelu_ggml(float v) {
  if (v <= -10.0f) return 0.0;
  if (v >= 10.0f) return v;
  return to_half(gelu_tanh(to_half(v)));
}

TEST(OpsScalar, SiluGeluSwigluGegluMatchFormulas) {
  auto x = random_vec(1001, -12, 12, 5), up = random_vec(1001, -2, 2, 6);
  std::vector<double> want_silu(x.size()), want_gelu(x.size()), want_swiglu(x.size()), want_geglu(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    want_silu[i] = v / (1 + std::exp(-v));
    want_gelu[i] = gelu_ggml(x[i]);
    want_swiglu[i] = want_silu[i] * up[i];
    want_geglu[i] = want_gelu[i] * up[i];
  }
  auto s = x, g = x;
  std::vector<float> sw(x.size()), gg(x.size());
  silu_isa(Isa::Scalar, s.data(), 1001);
  gelu_isa(Isa::Scalar, g.data(), 1001);
  swiglu_isa(Isa::Scalar, x.data(), up.data(), sw.data(), 1001);
  geglu_isa(Isa::Scalar, x.data(), up.data(), gg.data(), 1001);
  expect_close(s, want_silu, 1e-6, 1e-30, "silu");
  // The table holds F16(the tanh formula in float), as ggml's: where that float value lies within a few
  // ulp of an F16 rounding boundary the double formula can round to the neighbouring F16 value (one F16
  // step, 2^-10 relative), and for x < 0 the float formula's 1 + tanh cancels (absolute error ~1e-7).
  expect_close(g, want_gelu, 1e-3, 1e-6, "gelu");
  expect_close(gg, want_geglu, 1e-3, 2e-6, "geglu");
  size_t positive = 0, exact = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] < 0) continue;
    ++positive;
    exact += static_cast<double>(g[i]) == want_gelu[i];
  }
  EXPECT_GE(exact + 3, positive) << "gelu of x >= 0: the F16 results should agree except at rare rounding ties";
  // Against the unrounded tanh formula: F16 precision of input and output.
  std::vector<double> smooth(x.size());
  for (size_t i = 0; i < x.size(); ++i) smooth[i] = gelu_tanh(x[i]);
  expect_close(g, smooth, 4e-3, 1e-3, "gelu vs smooth formula");
}

TEST(OpsScalar, GeluCutoffsAndF16Rounding) {
  std::vector<float> x = {-10.0f, -10.5f, -1e30f, 10.0f, 12.25f, 1e30f, 0.0f, 1.0f, 1.0f + 1.0f / 4096, 3.0f};
  auto g = x;
  gelu_isa(Isa::Scalar, g.data(), static_cast<int64_t>(g.size()));
  EXPECT_EQ(g[0], 0.0f);
  EXPECT_EQ(g[1], 0.0f);
  EXPECT_EQ(g[2], 0.0f);
  EXPECT_EQ(g[3], 10.0f);
  EXPECT_EQ(g[4], 12.25f);
  EXPECT_EQ(g[5], 1e30f);
  EXPECT_EQ(g[6], 0.0f);
  // 1 + 2^-12 rounds to the F16 value 1.0, so its GELU is GELU(1) exactly.
  EXPECT_EQ(g[7], g[8]);
  EXPECT_EQ(static_cast<double>(g[9]), to_half(gelu_tanh(3.0)));
}

TEST(OpsScalar, LayernormMatchesFormula) {
  for (int64_t n : kSizes) {
    auto x = random_vec(n, -3, 5, 70 + n), w = random_vec(n, -2, 2, 71), b = random_vec(n, -1, 1, 72);
    double mean = 0, var = 0;
    for (float v : x) mean += v;
    mean /= n;
    for (float v : x) var += (v - mean) * (v - mean);
    var /= n;
    const double s = 1.0 / std::sqrt(var + 1e-5);
    std::vector<float> out(static_cast<size_t>(n));
    std::vector<double> want(static_cast<size_t>(n)), want_plain(static_cast<size_t>(n));
    for (size_t i = 0; i < want.size(); ++i) {
      want_plain[i] = (x[i] - mean) * s;
      want[i] = want_plain[i] * w[i] + b[i];
    }
    const std::string tag = " n=" + std::to_string(n);
    // n = 1: x - mean is 0 exactly, the result is b.
    layernorm_isa(Isa::Scalar, x.data(), w.data(), b.data(), out.data(), n, 1e-5f);
    expect_close(out, want, 2e-5, 2e-5, "layernorm" + tag);
    layernorm_isa(Isa::Scalar, x.data(), nullptr, nullptr, out.data(), n, 1e-5f);
    expect_close(out, want_plain, 2e-5, 2e-5, "layernorm plain" + tag);
    layernorm_isa(Isa::Scalar, x.data(), nullptr, nullptr, x.data(), n, 1e-5f);  // in place
    expect_close(x, want_plain, 2e-5, 2e-5, "layernorm in place" + tag);
  }
}

TEST(OpsScalar, SoftcapMatchesFormula) {
  auto x = random_vec(1001, -200, 200, 9);
  x[0] = 0.0f, x[1] = 1e30f, x[2] = -1e30f;
  auto y = x;
  softcap_isa(Isa::Scalar, y.data(), 30.0f, 1001);
  std::vector<double> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = 30.0 * std::tanh(x[i] / 30.0);
  expect_close(y, want, 1e-6, 1e-6, "softcap");
  EXPECT_EQ(y[1], 30.0f);
  EXPECT_EQ(y[2], -30.0f);
  for (float v : y) EXPECT_LE(std::fabs(v), 30.0f);
}

TEST(OpsScalar, AddMulScaleAreExact) {
  auto a = random_vec(19, -5, 5, 7), b = random_vec(19, -5, 5, 8);
  std::vector<float> s(19), m(19);
  add_isa(Isa::Scalar, a.data(), b.data(), s.data(), 19);
  mul_isa(Isa::Scalar, a.data(), b.data(), m.data(), 19);
  auto c = a;
  scale_isa(Isa::Scalar, c.data(), 0.3f, 19);
  for (size_t i = 0; i < 19; ++i) {
    EXPECT_EQ(s[i], a[i] + b[i]);
    EXPECT_EQ(m[i], a[i] * b[i]);
    EXPECT_EQ(c[i], a[i] * 0.3f);
  }
}

// ---- every SIMD variant against the scalar twin ----

TEST(OpsIsa, ReportsWhatIsTested) {
  std::string names;
  for (Isa isa : simd_isas()) names += std::string(isa_name(isa)) + " ";
  std::cout << "SIMD ISAs compared with scalar: " << (names.empty() ? "(none on this CPU)" : names) << "\n";
#if defined(__aarch64__)
  // The aarch64 build exists to test the NEON kernels: they must really run (qemu-aarch64's default
  // CPU has ASIMD and the dot-product extension).
  EXPECT_TRUE(isa_supported(Isa::Neon));
#endif
}

TEST(OpsIsa, RmsnormMatchesScalar) {
  for (Isa isa : simd_isas()) {
    for (int64_t n : kSizes) {
      auto x = random_vec(n, -4, 4, 10 + n), w = random_vec(n, -2, 2, 11);
      std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
      rmsnorm_isa(Isa::Scalar, x.data(), w.data(), want.data(), n, 1e-6f);
      rmsnorm_isa(isa, x.data(), w.data(), got.data(), n, 1e-6f);
      expect_close(got, to_double(want), 1e-6, 0, std::string(isa_name(isa)) + " rmsnorm n=" + std::to_string(n));
      rmsnorm_isa(Isa::Scalar, x.data(), nullptr, want.data(), n, 1e-6f);
      rmsnorm_isa(isa, x.data(), nullptr, x.data(), n, 1e-6f);  // in place, no weight
      expect_close(x, to_double(want), 1e-6, 0, std::string(isa_name(isa)) + " rmsnorm in place n=" + std::to_string(n));
    }
  }
}

TEST(OpsIsa, SoftmaxMatchesScalar) {
  for (Isa isa : simd_isas()) {
    for (int64_t n : kSizes) {
      auto x = random_vec(n, -30, 30, 20 + n);
      if (n > 4) x[3] = -std::numeric_limits<float>::infinity();  // masked logit
      auto want = x;
      softmax_isa(Isa::Scalar, want.data(), n);
      softmax_isa(isa, x.data(), n);
      expect_close(x, to_double(want), 2e-6, 1e-30, std::string(isa_name(isa)) + " softmax n=" + std::to_string(n));
    }
  }
}

TEST(OpsIsa, SiluMatchesScalarOverTheWholeRange) {
  // Covers exp's underflow to denormals and zero, overflow to inf, and NaN.
  std::vector<float> x = random_vec(4099, -110, 110, 30);
  const float specials[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 88.7f, 88.8f, -88.8f, -103.5f, -104.5f, 150.0f,
                            -150.0f, std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()};
  for (size_t i = 0; i < std::size(specials); ++i) x[i * 3] = specials[i];
  auto want = x;
  silu_isa(Isa::Scalar, want.data(), static_cast<int64_t>(want.size()));
  for (Isa isa : simd_isas()) {
    for (int64_t n : kSizes) {
      std::vector<float> got(x.begin(), x.begin() + n);
      silu_isa(isa, got.data(), n);
      std::vector<double> w(want.begin(), want.begin() + n);
      // Absolute floor: silu of very negative x is a tiny number (x * exp(x)); xsimd's expf saturates to
      // +inf from 88.376 (libm: 88.723), so silu(x) for x in (-88.73, -88.37] is -0 instead of ~-3e-37.
      expect_close(got, w, 1e-6, 1e-36, std::string(isa_name(isa)) + " silu n=" + std::to_string(n));
    }
  }
}

TEST(OpsIsa, SwigluGeluAddMulScaleMatchScalar) {
  for (Isa isa : simd_isas()) {
    for (int64_t n : kSizes) {
      const std::string tag = std::string(isa_name(isa)) + " n=" + std::to_string(n);
      auto g = random_vec(n, -15, 15, 40 + n), u = random_vec(n, -3, 3, 41);
      std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
      swiglu_isa(Isa::Scalar, g.data(), u.data(), want.data(), n);
      swiglu_isa(isa, g.data(), u.data(), got.data(), n);
      expect_close(got, to_double(want), 1e-6, 1e-38, "swiglu " + tag);
      auto u2 = u;
      swiglu_isa(isa, g.data(), u2.data(), u2.data(), n);  // out aliases up
      expect_close(u2, to_double(want), 1e-6, 1e-38, "swiglu aliased " + tag);

      auto ge = g, ge_want = g;
      gelu_isa(Isa::Scalar, ge_want.data(), n);
      gelu_isa(isa, ge.data(), n);
      expect_close(ge, to_double(ge_want), 1e-6, 1e-7, "gelu " + tag);

      std::vector<float> sa(static_cast<size_t>(n)), ma(static_cast<size_t>(n));
      add_isa(isa, g.data(), u.data(), sa.data(), n);
      mul_isa(isa, g.data(), u.data(), ma.data(), n);
      auto sc = g;
      scale_isa(isa, sc.data(), -1.7f, n);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(sa[i], g[i] + u[i]) << "add " << tag;
        ASSERT_EQ(ma[i], g[i] * u[i]) << "mul " << tag;
        ASSERT_EQ(sc[i], g[i] * -1.7f) << "scale " << tag;
      }
    }
  }
}

TEST(OpsIsa, LayernormMatchesScalar) {
  for (Isa isa : simd_isas()) {
    for (int64_t n : kSizes) {
      const std::string tag = std::string(isa_name(isa)) + " n=" + std::to_string(n);
      auto x = random_vec(n, -4, 6, 80 + n), w = random_vec(n, -2, 2, 81), b = random_vec(n, -1, 1, 82);
      std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
      for (int variant = 0; variant < 4; ++variant) {
        const float* wp = variant & 1 ? w.data() : nullptr;
        const float* bp = variant & 2 ? b.data() : nullptr;
        layernorm_isa(Isa::Scalar, x.data(), wp, bp, want.data(), n, 1e-5f);
        layernorm_isa(isa, x.data(), wp, bp, got.data(), n, 1e-5f);
        // The double sums add in another order: mean and variance may differ in their last float bit.
        expect_close(got, to_double(want), 2e-6, 1e-6, "layernorm variant " + std::to_string(variant) + " " + tag);
      }
      auto y = x;
      layernorm_isa(Isa::Scalar, x.data(), w.data(), b.data(), want.data(), n, 1e-5f);
      layernorm_isa(isa, y.data(), w.data(), b.data(), y.data(), n, 1e-5f);  // in place
      expect_close(y, to_double(want), 2e-6, 1e-6, "layernorm in place " + tag);
    }
  }
}

TEST(OpsIsa, SoftcapAndGegluMatchScalar) {
  std::vector<float> x = random_vec(4099, -300, 300, 90);
  const float specials[] = {0.0f, -0.0f, 1e-30f, 29.9f, -30.1f, 1e30f, -1e30f, std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()};
  for (size_t i = 0; i < std::size(specials); ++i) x[i * 5] = specials[i];
  auto up = random_vec(4099, -2, 2, 91);
  for (Isa isa : simd_isas()) {
    for (int64_t n : kSizes) {
      const std::string tag = std::string(isa_name(isa)) + " n=" + std::to_string(n);
      for (float cap : {30.0f, 50.0f}) {
        std::vector<float> want(x.begin(), x.begin() + n), got = want;
        softcap_isa(Isa::Scalar, want.data(), cap, n);
        softcap_isa(isa, got.data(), cap, n);
        expect_close(got, to_double(want), 1e-6, 1e-30, "softcap " + tag);
      }
      std::vector<float> g(x.begin(), x.begin() + n), want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
      for (float& v : g) v = std::isfinite(v) ? std::fmod(v, 14.0f) : v;  // the table's range and beyond
      geglu_isa(Isa::Scalar, g.data(), up.data(), want.data(), n);
      geglu_isa(isa, g.data(), up.data(), got.data(), n);
      expect_close(got, to_double(want), 0, 0, "geglu " + tag);
    }
  }
}

TEST(OpsDispatch, DefaultEntryPointsUseTheActiveIsa) {
  auto x = random_vec(77, -5, 5, 50), w = random_vec(77, -1, 1, 51);
  std::vector<float> a(77), b(77);
  rmsnorm(x.data(), w.data(), a.data(), 77, 1e-5f);
  rmsnorm_isa(active_isa(), x.data(), w.data(), b.data(), 77, 1e-5f);
  EXPECT_EQ(a, b);
  auto s1 = x, s2 = x;
  softmax(s1.data(), 77);
  softmax_isa(active_isa(), s2.data(), 77);
  EXPECT_EQ(s1, s2);
  layernorm(x.data(), w.data(), nullptr, a.data(), 77, 1e-5f);
  layernorm_isa(active_isa(), x.data(), w.data(), nullptr, b.data(), 77, 1e-5f);
  EXPECT_EQ(a, b);
  auto c1 = x, c2 = x;
  softcap(c1.data(), 3.0f, 77);
  softcap_isa(active_isa(), c2.data(), 3.0f, 77);
  EXPECT_EQ(c1, c2);
}

// ---- rope ----

// Test-local reference, a transcription of ggml's rope_ext (ggml_rope_cache_init, rope_yarn,
// ggml_rope_yarn_corr_dims): angles in float in ggml's order, the rotation in double.
std::vector<double> rope_reference(const std::vector<float>& x, int64_t n_heads, int64_t head_dim, int64_t pos,
                                   const RopeParams& p) {
  const int64_t n_rot = p.n_rot == 0 ? head_dim : p.n_rot;
  std::vector<double> out(x.begin(), x.end());
  const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(n_rot));
  auto corr_dim = [&](float n_rotations) {
    return static_cast<float>(n_rot) * logf(static_cast<float>(p.n_ctx_orig) / (n_rotations * 2 * static_cast<float>(M_PI))) /
           (2 * logf(p.freq_base));
  };
  const float lo = std::max(0.0f, floorf(corr_dim(p.beta_fast)));
  const float hi = std::min(static_cast<float>(n_rot - 1), ceilf(corr_dim(p.beta_slow)));
  float theta = static_cast<float>(pos);
  for (int64_t i = 0; i < n_rot / 2; ++i) {
    const float ff = p.freq_factors ? p.freq_factors[i] : 1.0f;
    const float extrap = theta / ff;
    const float interp = p.freq_scale * extrap;
    float angle = interp, mscale = p.attn_factor;
    if (p.ext_factor != 0.0f) {
      const float y = (static_cast<float>(i) - lo) / std::max(0.001f, hi - lo);
      const float mix = (1 - std::min(1.0f, std::max(0.0f, y))) * p.ext_factor;
      angle = interp * (1 - mix) + extrap * mix;
      mscale *= 1.0f + 0.1f * logf(1.0f / p.freq_scale);
    }
    theta *= theta_scale;
    const double c = static_cast<double>(cosf(angle) * mscale), sn = static_cast<double>(sinf(angle) * mscale);
    for (int64_t h = 0; h < n_heads; ++h) {
      const int64_t i0 = h * head_dim + (p.mode == RopeMode::Neox ? i : 2 * i);
      const int64_t i1 = i0 + (p.mode == RopeMode::Neox ? n_rot / 2 : 1);
      const double x0 = x[i0], x1 = x[i1];
      out[i0] = x0 * c - x1 * sn;
      out[i1] = x0 * sn + x1 * c;
    }
  }
  return out;
}

TEST(Rope, NormalAndNeoxMatchReference) {
  for (RopeMode mode : {RopeMode::Normal, RopeMode::Neox}) {
    for (int64_t head_dim : {64, 80, 128}) {
      for (int n_rot : {0, 32, 64}) {
        for (int64_t pos : {0, 1, 17, 1000, 8191}) {
          RopeParams p;
          p.n_rot = n_rot;
          p.mode = mode;
          p.freq_base = 500000.0f;
          auto x = random_vec(3 * head_dim, -2, 2, static_cast<uint32_t>(pos + head_dim));
          auto want = rope_reference(x, 3, head_dim, pos, p);
          rope(x.data(), 3, head_dim, pos, p);
          expect_close(x, want, 1e-5, 1e-5,
                       "rope mode=" + std::to_string(int(mode)) + " hd=" + std::to_string(head_dim) +
                           " n_rot=" + std::to_string(n_rot) + " pos=" + std::to_string(pos));
        }
      }
    }
  }
}

TEST(Rope, AngleIsPosTimesBasePower) {
  // A single pair at position 5: dims (0,1) rotate by 5 rad, pair i by 5 * 10000^(-2i/8).
  RopeParams p;
  p.n_rot = 8;
  std::vector<float> x(8);
  for (int i = 0; i < 4; ++i) x[2 * i] = 1.0f, x[2 * i + 1] = 0.0f;
  rope(x.data(), 1, 8, 5, p);
  for (int i = 0; i < 4; ++i) {
    const double angle = 5.0 * std::pow(10000.0, -2.0 * i / 8);
    EXPECT_NEAR(x[2 * i], std::cos(angle), 2e-6) << i;
    EXPECT_NEAR(x[2 * i + 1], std::sin(angle), 2e-6) << i;
  }
}

TEST(Rope, PassThroughScaleAndFactors) {
  const int64_t hd = 16;
  auto x = random_vec(2 * hd, -1, 1, 60);
  // Dims >= n_rot are untouched, pos 0 is the identity.
  RopeParams p;
  p.n_rot = 6;
  auto y = x;
  rope(y.data(), 2, hd, 123, p);
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t d = 6; d < hd; ++d) EXPECT_EQ(y[h * hd + d], x[h * hd + d]);
  auto z = x;
  rope(z.data(), 2, hd, 0, p);
  EXPECT_EQ(z, x);

  // freq_scale 0.5 at position 40 is position 20 unscaled; a factor of 2 on every pair is the same.
  RopeParams half;
  half.freq_scale = 0.5f;
  auto a = x, b = x, c = x;
  rope(a.data(), 2, hd, 40, half);
  rope(b.data(), 2, hd, 20, RopeParams{});
  std::vector<float> factors(hd / 2, 2.0f);
  RopeParams ff;
  ff.freq_factors = factors.data();
  rope(c.data(), 2, hd, 40, ff);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(a[i], b[i], 1e-5) << i;
    EXPECT_NEAR(c[i], b[i], 1e-5) << i;
  }
}

TEST(Rope, YarnAndLongRopeMatchReference) {
  std::vector<float> factors(64);
  for (size_t i = 0; i < factors.size(); ++i) factors[i] = 1.0f + 0.37f * static_cast<float>(i);
  for (RopeMode mode : {RopeMode::Normal, RopeMode::Neox}) {
    for (int64_t head_dim : {64, 128}) {
      for (int kind = 0; kind < 3; ++kind) {  // YaRN x4, YaRN x16 with partial mix and n_rot, LongRoPE
        RopeParams p;
        p.mode = mode;
        p.freq_base = kind == 1 ? 500000.0f : 10000.0f;
        if (kind == 0) p.freq_scale = 0.25f, p.ext_factor = 1.0f, p.n_ctx_orig = 4096;
        if (kind == 1)
          p.freq_scale = 1.0f / 16, p.ext_factor = 0.5f, p.n_ctx_orig = 8192, p.n_rot = 32, p.beta_fast = 24,
          p.beta_slow = 2, p.attn_factor = 0.9f;
        if (kind == 2) p.freq_factors = factors.data(), p.attn_factor = 1.19f;
        for (int64_t pos : {0, 1, 17, 4095, 20000}) {
          auto x = random_vec(3 * head_dim, -2, 2, static_cast<uint32_t>(pos + head_dim + kind));
          auto want = rope_reference(x, 3, head_dim, pos, p);
          ASSERT_TRUE(check_rope_params(head_dim, p).is_ok());
          rope(x.data(), 3, head_dim, pos, p);
          expect_close(x, want, 1e-5, 1e-5,
                       "rope kind=" + std::to_string(kind) + " mode=" + std::to_string(int(mode)) +
                           " hd=" + std::to_string(head_dim) + " pos=" + std::to_string(pos));
        }
      }
    }
  }
}

TEST(Rope, YarnBlendsExtrapolatedAndInterpolatedPairs) {
  // n_rot 128, n_ctx_orig 4096, base 10000: the correction range is pairs [floor(20.9), ceil(45.0)] =
  // [20, 46]. Pairs up to 20 keep the unscaled angle (extrapolation), pairs from 46 on get the linear
  // one (interpolation); every cos/sin is scaled by 1 + 0.1 ln(factor).
  RopeParams p;
  p.n_rot = 128;
  p.freq_scale = 0.25f;
  p.ext_factor = 1.0f;
  p.n_ctx_orig = 4096;
  const int64_t pos = 300;
  std::vector<float> x(128);
  for (int i = 0; i < 64; ++i) x[2 * i] = 1.0f, x[2 * i + 1] = 0.0f;
  rope(x.data(), 1, 128, pos, p);
  const double mscale = 1.0 + 0.1 * std::log(4.0);
  for (int i : {0, 5, 20, 46, 50, 63}) {
    const double theta_e = pos * std::pow(10000.0, -2.0 * i / 128);
    const double angle = i <= 20 ? theta_e : 0.25 * theta_e;
    EXPECT_NEAR(x[2 * i], mscale * std::cos(angle), 2e-4) << i;
    EXPECT_NEAR(x[2 * i + 1], mscale * std::sin(angle), 2e-4) << i;
  }
  // In between the angle is a blend: it lies strictly between the two.
  const double te = pos * std::pow(10000.0, -2.0 * 33 / 128), got = std::atan2(x[67], x[66]);
  EXPECT_GT(got, 0.25 * te + 1e-3);
  EXPECT_LT(got, te - 1e-3);
}

TEST(Rope, RejectsBadParams) {
  RopeParams p;
  p.n_rot = 7;
  EXPECT_FALSE(check_rope_params(64, p).is_ok());
  p.n_rot = 66;
  EXPECT_FALSE(check_rope_params(64, p).is_ok());
  p.n_rot = 64;
  EXPECT_TRUE(check_rope_params(64, p).is_ok());
  p.freq_base = 0;
  const Status s = check_rope_params(64, p);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("freq_base"), std::string::npos);
  RopeParams y;
  y.ext_factor = 1.0f;  // YaRN without the original context length
  const Status sy = check_rope_params(64, y);
  ASSERT_FALSE(sy.is_ok());
  EXPECT_NE(sy.message().find("n_ctx_orig"), std::string::npos);
  y.n_ctx_orig = 4096;
  EXPECT_TRUE(check_rope_params(64, y).is_ok());
  y.attn_factor = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(check_rope_params(64, y).is_ok());
}

}  // namespace
}  // namespace kestrel::kernels
