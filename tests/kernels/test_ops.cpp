// Element-wise kernels: the scalar twins against double-precision formulas, and every supported SIMD
// variant against the scalar twin on odd sizes (tails), wide input ranges and special values.
#include <gtest/gtest.h>

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

TEST(OpsScalar, SiluGeluSwigluMatchFormulas) {
  auto x = random_vec(1001, -12, 12, 5), up = random_vec(1001, -2, 2, 6);
  std::vector<double> want_silu(x.size()), want_gelu(x.size()), want_swiglu(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    want_silu[i] = v / (1 + std::exp(-v));
    want_gelu[i] = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * v * (1 + 0.044715 * v * v)));
    want_swiglu[i] = want_silu[i] * up[i];
  }
  auto s = x, g = x;
  std::vector<float> sw(x.size());
  silu_isa(Isa::Scalar, s.data(), 1001);
  gelu_isa(Isa::Scalar, g.data(), 1001);
  swiglu_isa(Isa::Scalar, x.data(), up.data(), sw.data(), 1001);
  expect_close(s, want_silu, 1e-6, 1e-30, "silu");
  expect_close(g, want_gelu, 1e-5, 1e-6, "gelu");
  expect_close(sw, want_swiglu, 1e-6, 1e-30, "swiglu");
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
      // Absolute floor: silu of very negative x is a denormal-sized number (x * exp(x)).
      expect_close(got, w, 1e-6, 1e-38, std::string(isa_name(isa)) + " silu n=" + std::to_string(n));
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
}

// ---- rope ----

// Test-local reference: the angle follows the documented formula (float recurrence for
// base^(-2i/n_rot), as ggml), the rotation is done in double.
std::vector<double> rope_reference(const std::vector<float>& x, int64_t n_heads, int64_t head_dim, int64_t pos,
                                   const RopeParams& p) {
  const int64_t n_rot = p.n_rot == 0 ? head_dim : p.n_rot;
  std::vector<double> out(x.begin(), x.end());
  const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(n_rot));
  float theta = static_cast<float>(pos);
  for (int64_t i = 0; i < n_rot / 2; ++i) {
    const float ff = p.freq_factors ? p.freq_factors[i] : 1.0f;
    const double angle = static_cast<double>(p.freq_scale * (theta / ff));
    theta *= theta_scale;
    for (int64_t h = 0; h < n_heads; ++h) {
      const int64_t i0 = h * head_dim + (p.mode == RopeMode::Neox ? i : 2 * i);
      const int64_t i1 = i0 + (p.mode == RopeMode::Neox ? n_rot / 2 : 1);
      const double x0 = x[i0], x1 = x[i1];
      out[i0] = x0 * std::cos(angle) - x1 * std::sin(angle);
      out[i1] = x0 * std::sin(angle) + x1 * std::cos(angle);
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
}

}  // namespace
}  // namespace kestrel::kernels
