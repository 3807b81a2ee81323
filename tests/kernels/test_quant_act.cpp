// The matmul's Q8_0 / Q8_1 activation rules (kernels/quant_act.h) against their definitions: the rules
// of ggml's x86 and NEON quantize_row_q8_0 / _q8_1, which differ from the reference weight quantizer in
// the inverse scale (x86: 127 / amax instead of 1 / (amax / 127)) and in ties (half to even instead of
// half away from zero). The weight quantizer itself must stay the reference (llm-quantize output is
// byte-identical to llama-quantize's: tests/tools/test_quantize*.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/matmul_isa.h"
#include "kernels/quant.h"
#include "kernels/quant_act.h"
#include "kernels/quant_q32.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

// Ties: amax 127 makes d = 1 and both inverse scales exactly 1, so x * id is x itself.
TEST(QuantAct, TiesRoundHalfToEvenUnlikeTheReference) {
  std::vector<float> x(32);
  x[0] = 127.0f;
  const float ties[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, -126.5f};
  for (int j = 0; j < 8; ++j) x[1 + j] = ties[j];
  for (ActRule rule : {ActRule::kX86, ActRule::kArm}) {
    BlockQ8_0 a;
    quantize_row_q8_0_act(x.data(), &a, 32, rule);
    EXPECT_EQ(a.qs[0], 127);
    const int even[] = {0, 2, 2, 0, -2, -2, 126, -126};
    for (int j = 0; j < 8; ++j) EXPECT_EQ(a.qs[1 + j], even[j]) << "tie " << ties[j];
    EXPECT_EQ(a.d, fp32_to_fp16(1.0f));
  }
  BlockQ8_0 r;
  quantize_row_q8_0_ref(x.data(), &r, 32);
  const int away[] = {1, 2, 3, -1, -2, -3, 127, -127};
  for (int j = 0; j < 8; ++j) EXPECT_EQ(r.qs[1 + j], away[j]) << "reference, tie " << ties[j];
}

// The x86 rule multiplies by 127 / amax, the ARM rule by 1 / (amax / 127): find blocks where the two
// float inverse scales differ and a value lands on different integers, and check each rule picks the
// integer of its own product.
TEST(QuantAct, X86AndArmInverseScalesAreTheirOwn) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  int differing = 0;
  for (int trial = 0; trial < 20000 && differing < 5; ++trial) {
    std::vector<float> x(32);
    for (float& v : x) v = u(rng);
    float amax = 0;
    for (float v : x) amax = std::fmax(amax, std::fabs(v));
    const float id_x86 = 127.0f / amax, id_arm = 1.0f / (amax / 127.0f);
    if (id_x86 == id_arm) continue;
    // Push one value onto a rounding boundary of the x86 product: x = (k + 0.5) / id_x86, nudged.
    const float k = std::floor(std::fabs(x[3]) * id_x86);
    x[3] = std::copysign((k + 0.5f) / id_x86, x[3]);
    if (std::fabs(x[3]) > amax) continue;
    const long want_x86 = std::lrint(x[3] * id_x86), want_arm = std::lrint(x[3] * id_arm);
    BlockQ8_0 a, b;
    quantize_row_q8_0_act(x.data(), &a, 32, ActRule::kX86);
    quantize_row_q8_0_act(x.data(), &b, 32, ActRule::kArm);
    EXPECT_EQ(a.qs[3], want_x86);
    EXPECT_EQ(b.qs[3], want_arm);
    for (int j = 0; j < 32; ++j) {
      EXPECT_EQ(a.qs[j], std::lrint(x[j] * id_x86)) << j;
      EXPECT_EQ(b.qs[j], std::lrint(x[j] * id_arm)) << j;
    }
    differing += want_x86 != want_arm;
  }
  EXPECT_GT(differing, 0) << "no block separated the two rules; the test did not test anything";
}

TEST(QuantAct, Q8_1SumAndZeroBlocks) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  std::vector<float> x(64);
  for (float& v : x) v = nd(rng);
  for (int j = 32; j < 64; ++j) x[j] = 0.0f;  // an all-zero block: d = 0, q = 0, s = 0
  for (ActRule rule : {ActRule::kX86, ActRule::kArm}) {
    BlockQ8_1 y[2];
    BlockQ8_0 z[2];
    quantize_row_q8_1_act(x.data(), y, 64, rule);
    quantize_row_q8_0_act(x.data(), z, 64, rule);
    for (int b = 0; b < 2; ++b) {
      EXPECT_EQ(0, std::memcmp(y[b].qs, z[b].qs, 32));
      EXPECT_EQ(y[b].d, z[b].d);
      // Two loops: aarch64 GCC 12 crashes vectorizing the int and float reductions as one loop.
      int sum = 0;
      for (int j = 0; j < 32; ++j) sum += y[b].qs[j];
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[32 * b + j]));
      const float d = amax / 127.0f;
      EXPECT_EQ(y[b].s, fp32_to_fp16(d * static_cast<float>(sum)));
    }
    for (int j = 0; j < 32; ++j) EXPECT_EQ(y[1].qs[j], 0);
    EXPECT_EQ(y[1].d, 0);
  }
}

// What the matmul converts with: the scalar table follows the host's rule (so every ISA of this machine
// writes the same bytes: Matmul.ConvertersMatchScalar), and the Q8_0 weight type still quantizes with
// the reference.
TEST(QuantAct, ScalarTableUsesTheHostRuleAndWeightsTheReference) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t n = 32 * 200;
  std::vector<float> x(n);
  for (float& v : x) v = nd(rng);
  std::vector<BlockQ8_0> t(n / 32), h(n / 32), w(n / 32), ref(n / 32);
  scalar_matmul_kernels()->quantize_row_q8_0(x.data(), t.data(), n);
  quantize_row_q8_0_act(x.data(), h.data(), n, kHostActRule);
  type_traits(TensorType::Q8_0)->from_float(x.data(), w.data(), n);
  quantize_row_q8_0_ref(x.data(), ref.data(), n);
  EXPECT_EQ(0, std::memcmp(t.data(), h.data(), t.size() * sizeof t[0]));
  EXPECT_EQ(0, std::memcmp(w.data(), ref.data(), w.size() * sizeof w[0]));
  std::vector<BlockQ8_1> t1(n / 32), h1(n / 32);
  scalar_matmul_kernels()->quantize_row_q8_1(x.data(), t1.data(), n);
  quantize_row_q8_1_act(x.data(), h1.data(), n, kHostActRule);
  EXPECT_EQ(0, std::memcmp(t1.data(), h1.data(), t1.size() * sizeof t1[0]));
}

}  // namespace
}  // namespace kestrel::kernels
