// The AMX BF16 tile GEMM for F16 and BF16 weights (kernels/avx512/gemm_amx_half_avx512.h) against the
// scalar twin: the exact hi/lo split of every f16 value, odd shapes and tails, the token threshold,
// token blocks, and the fallback for infinities and NaNs. Skips where the CPU (or the OS) has no AMX-BF16.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/matmul_isa.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

#if defined(__x86_64__)

bool have_amx_bf16() { return isa_supported(Isa::Avx512) && cpu_has_amx_bf16(); }
#define KESTREL_NEED_AMX_BF16() \
  do {                                                                                                   \
    if (!have_amx_bf16()) GTEST_SKIP() << "no AVX-512 with AMX-BF16 on this CPU (or the OS did not grant the tile state)"; \
  } while (0)

// Restores the AMX switch at scope exit.
struct AmxSwitch {
  bool was;
  explicit AmxSwitch(bool on) : was(set_amx_enabled(on)) {}
  ~AmxSwitch() { set_amx_enabled(was); }
};

std::vector<uint16_t> to_half(TensorType wt, const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = wt == TensorType::F16 ? fp32_to_fp16(v[i]) : fp32_to_bf16(v[i]);
  return h;
}
float from_half(TensorType wt, uint16_t h) { return wt == TensorType::F16 ? fp16_to_fp32(h) : bf16_to_fp32(h); }

std::vector<float> run(Isa isa, ThreadPool& pool, TensorType wt, const std::vector<uint16_t>& w, int64_t n_in,
                       int64_t n_out, const std::vector<float>& x, int64_t n_tokens, int64_t ldy) {
  // NaN-filled so a skipped output or a write into the ldy padding is caught.
  std::vector<float> y(ldy * n_tokens, std::nanf(""));
  matmul_isa(isa, pool, wt, w.data(), n_in, n_out, x.data(), n_tokens, y.data(), ldy);
  return y;
}

bool is_f16_value(float v) { return std::isfinite(v) && fp16_to_fp32(fp32_to_fp16(v)) == v; }

// Every finite f16 value as a weight (65536 rows, n_in = 1) times activations that are f16 values too:
// an f16 x f16 product has <= 22 significant bits and is exact in f32, and so is every partial sum of
// its four split products (all are multiples of ulp(w) * ulp(x) below 2^23 of them, see the header),
// so the tiles must return the product exactly. The same with every f16 value as an activation (65536
// tokens). This checks the split (hi + lo == v, lo exact in bf16, no denormal input flushed) over all
// of f16, subnormals and the largest values included.
TEST(MatmulAmxHalf, F16SplitIsExactForEveryValue) {
  KESTREL_NEED_AMX_BF16();
  AmxSwitch amx(true);
  ThreadPool pool(2);
  std::vector<uint16_t> all;
  for (uint32_t h = 0; h < 65536; ++h)
    if (std::isfinite(fp16_to_fp32(static_cast<uint16_t>(h)))) all.push_back(static_cast<uint16_t>(h));
  const std::vector<float> probes = {1.0f, -1.0f, 0.5f, 0x1p-24f, -0x1p-24f, 0x1.ff8p-15f, 0x1p-14f, 65504.0f,
                                     -65504.0f, 0.333251953125f, 1.0009765625f, -3.140625f, 0x1.ffcp-1f, 7.0f,
                                     0x1.5p-20f, 1000.5f, 0.0f, -2.0f, 0x1.8p-23f, 123.375f, 0.0999755859375f,
                                     -0x1.ffcp+7f, 0x1.004p-10f, 2.001953125f, 5.0f, -0.7001953125f, 0x1p+15f,
                                     0x1.3fcp-3f, 0.0001220703125f, -1.5f, 9.96875f, 0x1.8p-22f};
  for (float p : probes) ASSERT_TRUE(is_f16_value(p)) << p;
  const int64_t np = static_cast<int64_t>(probes.size());  // 32: two full token tiles
  const int64_t n = static_cast<int64_t>(all.size());
  {  // every f16 value as a weight
    const std::vector<float> y = run(Isa::Avx512, pool, TensorType::F16, all, 1, n, probes, np, n);
    for (int64_t t = 0; t < np; ++t)
      for (int64_t r = 0; r < n; ++r) {
        const float want = static_cast<float>(static_cast<double>(fp16_to_fp32(all[r])) * probes[t]);
        ASSERT_EQ(y[t * n + r], want) << "w=" << fp16_to_fp32(all[r]) << " x=" << probes[t];
      }
  }
  {  // every f16 value as an activation
    std::vector<float> x(n);
    for (int64_t i = 0; i < n; ++i) x[i] = fp16_to_fp32(all[i]);
    const std::vector<float> y = run(Isa::Avx512, pool, TensorType::F16, to_half(TensorType::F16, probes), 1, np, x, n, np);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t r = 0; r < np; ++r) {
        const float want = static_cast<float>(static_cast<double>(x[t]) * probes[r]);
        ASSERT_EQ(y[t * np + r], want) << "x=" << x[t] << " w=" << probes[r];
      }
  }
}

struct Case {
  int64_t n_in, n_out, n_tokens;
};

// Tolerance, from the rounding analysis rather than from observed errors: the scalar twin sums the
// exact products in double, the tiles sum N exact f32 terms whose magnitudes add up to
// m = sum |w_i x_i| (N = n_in for BF16; 4 * n_in for F16, whose hi/lo parts have |hi| + |lo| = |v|),
// each addition rounding by at most 2^-24 of the running magnitude <= m: |error| <= N * 2^-24 * m.
// Plus the twin's own rounding of its result to f32. A dropped or doubled product (~m / n_in) exceeds
// it for every n_in tested here.
double tolerance(TensorType wt, int64_t n_in, double m, double want) {
  const double n_terms = static_cast<double>(wt == TensorType::F16 ? 4 * n_in : n_in);
  return (n_terms + 1) * 0x1p-24 * m + 0x1p-24 * std::fabs(want) + 1e-30;
}

// One shape: AMX on vs the scalar twin (and AMX off, the FMA kernel, under the same bound).
void check(TensorType wt, const Case& c, uint32_t seed, ThreadPool& pool) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> wf(c.n_in * c.n_out), x(c.n_in * c.n_tokens);
  for (float& v : wf) v = nd(rng);
  for (float& v : x) v = nd(rng);
  const std::vector<uint16_t> w = to_half(wt, wf);
  const int64_t ldy = c.n_out + 3;
  const std::vector<float> ref = run(Isa::Scalar, pool, wt, w, c.n_in, c.n_out, x, c.n_tokens, ldy);
  std::vector<float> amx, fma;
  {
    AmxSwitch on(true);
    amx = run(Isa::Avx512, pool, wt, w, c.n_in, c.n_out, x, c.n_tokens, ldy);
  }
  {
    AmxSwitch off(false);
    fma = run(Isa::Avx512, pool, wt, w, c.n_in, c.n_out, x, c.n_tokens, ldy);
  }
  // The activations as the kernels see them (rounded to the weight type), for m.
  const std::vector<uint16_t> xh = to_half(wt, x);
  for (int64_t t = 0; t < c.n_tokens; ++t) {
    for (int64_t r = 0; r < c.n_out; ++r) {
      double m = 0;
      for (int64_t i = 0; i < c.n_in; ++i)
        m += std::fabs(static_cast<double>(from_half(wt, w[r * c.n_in + i])) * from_half(wt, xh[t * c.n_in + i]));
      const float want = ref[t * ldy + r];
      const double tol = tolerance(wt, c.n_in, m, want);
      const std::string where = std::string(type_name(wt)) + " n_in=" + std::to_string(c.n_in) +
                                " n_out=" + std::to_string(c.n_out) + " n_tokens=" + std::to_string(c.n_tokens) +
                                " token=" + std::to_string(t) + " row=" + std::to_string(r);
      ASSERT_FALSE(std::isnan(amx[t * ldy + r])) << "missing output " << where;
      ASSERT_NEAR(amx[t * ldy + r], want, tol) << "amx " << where;
      ASSERT_NEAR(fma[t * ldy + r], want, tol) << "fma " << where;
    }
    for (int64_t r = c.n_out; r < ldy; ++r) ASSERT_TRUE(std::isnan(amx[t * ldy + r])) << "wrote into ldy padding";
  }
}

class MatmulAmxHalfTypes : public ::testing::TestWithParam<TensorType> {};
INSTANTIATE_TEST_SUITE_P(Types, MatmulAmxHalfTypes, ::testing::Values(TensorType::F16, TensorType::BF16),
                         [](const auto& info) { return std::string(type_name(info.param)); });

// K tails (n_in not a multiple of 32 or 16, n_in = 1, more than one packed chunk of 512
// values), row tails (n_out not a multiple of 16, one row group, a partial second group, more than one
// group of 8 panels), token tails
// (a single and a partial 16-token tile, odd pairs), two token blocks (> 512 tokens), 1 and 2 threads.
TEST_P(MatmulAmxHalfTypes, MatchesScalarOnOddShapes) {
  KESTREL_NEED_AMX_BF16();
  const TensorType wt = GetParam();
  const int64_t long_k = wt == TensorType::F16 ? 1030 : 2070;
  const Case cases[] = {{1, 17, 33},  {31, 45, 32},     {33, 16, 47},  {100, 15, 13}, {64, 33, 48},
                        {17, 70, 40}, {long_k, 19, 35}, {96, 37, 530}, {250, 1, 9},   {48, 4600, 36}};
  uint32_t seed = 11;
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    for (const Case& c : cases) check(wt, c, seed++, pool);
  }
}

// Every batch size around the threshold (1..40 tokens: the FMA dot-product tiles below 32, then the
// AMX tiles: two full 16-token tiles, then a pair and a partial tile).
TEST_P(MatmulAmxHalfTypes, EveryTokenCountUpTo40) {
  KESTREL_NEED_AMX_BF16();
  ThreadPool pool(2);
  for (int64_t nt = 1; nt <= 40; ++nt) check(GetParam(), {37, 21, nt}, 100 + static_cast<uint32_t>(nt), pool);
}

// An inf or NaN F16 weight cannot be split (inf - inf): its 32-row panel runs on the FMA kernel; an
// inf activation sends its token block there. The answers are then the IEEE ones of the scalar twin.
// BF16 needs no split: the tiles multiply its infinities as they are.
TEST_P(MatmulAmxHalfTypes, InfinitiesAndNaNsGiveTheScalarAnswer) {
  KESTREL_NEED_AMX_BF16();
  const TensorType wt = GetParam();
  AmxSwitch amx(true);
  ThreadPool pool(2);
  const int64_t n_in = 40, n_out = 70, n_tokens = 36;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int variant = 0; variant < 2; ++variant) {
    std::vector<float> wf(n_in * n_out), x(n_in * n_tokens);
    for (float& v : wf) v = nd(rng);
    for (float& v : x) v = nd(rng);
    if (variant == 0) {
      wf[5 * n_in + 7] = INFINITY;   // row 5 (first panel)
      wf[40 * n_in + 0] = -INFINITY;  // row 40 (second panel)
      wf[66 * n_in + 39] = NAN;      // row 66 (third panel, the partial one)
    } else {
      x[3 * n_in + 11] = INFINITY;  // token 3
      x[35 * n_in + 2] = 1e6f;      // token 35: beyond f16's range, rounds to inf for F16 weights
    }
    const std::vector<uint16_t> w = to_half(wt, wf);
    const std::vector<float> ref = run(Isa::Scalar, pool, wt, w, n_in, n_out, x, n_tokens, n_out);
    const std::vector<float> got = run(Isa::Avx512, pool, wt, w, n_in, n_out, x, n_tokens, n_out);
    for (int64_t i = 0; i < n_out * n_tokens; ++i) {
      if (!std::isfinite(ref[i])) {
        ASSERT_EQ(std::isnan(got[i]), std::isnan(ref[i])) << "variant " << variant << " output " << i << " " << got[i];
        if (!std::isnan(ref[i])) {
          ASSERT_EQ(got[i], ref[i]) << "variant " << variant << " output " << i;
        }
      } else {
        ASSERT_NEAR(got[i], ref[i], 1e-4 * (1 + std::fabs(ref[i]))) << "variant " << variant << " output " << i;
      }
    }
  }
}

#else

TEST(MatmulAmxHalf, NotX86) { GTEST_SKIP() << "AMX is an x86-64 feature"; }

#endif

}  // namespace
}  // namespace kestrel::kernels
