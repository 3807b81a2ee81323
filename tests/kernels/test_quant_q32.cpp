// Q4_1 / Q5_0 / Q5_1 / Q8_1 / IQ4_NL reference quantizers: hand-computed blocks, layouts, round-trip
// error bounds, hostile values. Byte identity with llama.cpp is checked in test_quant.cpp
// (QuantBytes.RandomTensorsMatchLlrefQuantize, through `llref quantize --pure`).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/quant_q32.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

int nibble(const uint8_t* qs, int j) { return j < 16 ? qs[j] & 0x0F : qs[j - 16] >> 4; }
int bit(const uint8_t* qh, int j) { return (qh[j / 8] >> (j % 8)) & 1; }

TEST(Q4_1, HandComputedBlock) {
  // min -1, max 2: d = 3/15 = 0.2, q = trunc((x + 1) / 0.2 + 0.5) capped at 15.
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = -1.0f + 3.0f * static_cast<float>(j) / 31.0f;
  BlockQ4_1 b;
  quantize_row_q4_1_ref(x, &b, 32);
  EXPECT_EQ(b.d, fp32_to_fp16(3.0f / 15));
  EXPECT_EQ(b.m, fp32_to_fp16(-1.0f));
  const float id = 1.0f / (3.0f / 15);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(nibble(b.qs, j), std::min(15, static_cast<int>((x[j] + 1.0f) * id + 0.5f))) << j;
  EXPECT_EQ(nibble(b.qs, 0), 0);
  EXPECT_EQ(nibble(b.qs, 31), 15);
}

TEST(Q5_0, HandComputedBlockAndBitLayout) {
  // Largest magnitude -4 (at j = 0) -> d = -4 / -16 = 0.25; q = min(31, trunc(x / 0.25 + 16.5)).
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = 0.125f * static_cast<float>(j - 32) + (j == 0 ? 0.0f : 0.0f);
  BlockQ5_0 b;
  quantize_row_q5_0_ref(x, &b, 32);
  EXPECT_EQ(b.d, fp32_to_fp16(0.25f));
  for (int j = 0; j < 32; ++j) {
    const int q = std::min(31, static_cast<int>(x[j] * 4.0f + 16.5f));
    EXPECT_EQ(nibble(b.qs, j) | (bit(b.qh, j) << 4), q) << j;
  }
  float y[32];
  dequantize_row_q5_0(&b, y, 32);
  EXPECT_EQ(y[0], -4.0f);  // q = 0 -> (0 - 16) * 0.25
}

TEST(Q5_1, HandComputedBlockAndRoundTrip) {
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = 0.5f + 0.1f * static_cast<float>(j);  // min 0.5, max 3.6
  BlockQ5_1 b;
  quantize_row_q5_1_ref(x, &b, 32);
  const float d = (3.6f - 0.5f) / 31;
  EXPECT_EQ(b.d, fp32_to_fp16(d));
  EXPECT_EQ(b.m, fp32_to_fp16(0.5f));
  float y[32];
  dequantize_row_q5_1(&b, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_NEAR(y[j], x[j], 0.5f * d + 0.01f) << j;
}

TEST(Q8_1, SumIsStored) {
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j) - 10.0f;  // amax 21
  BlockQ8_1 b;
  quantize_row_q8_1_ref(x, &b, 32);
  int sum = 0;
  for (int j = 0; j < 32; ++j) sum += b.qs[j];
  const float d = 21.0f / 127.0f;
  EXPECT_EQ(b.d, fp32_to_fp16(d));
  EXPECT_EQ(b.s, fp32_to_fp16(static_cast<float>(sum) * d));
  EXPECT_EQ(b.qs[31], 127);
}

TEST(IQ4_NL, CodebookBlocks) {
  // A block that is exactly d * codebook values is reproduced exactly.
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = 0.01f * kIq4nlValues[j % 16];
  BlockIQ4_NL b;
  quantize_row_iq4_nl_ref(x, &b, 32);
  float y[32];
  dequantize_row_iq4_nl(&b, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_NEAR(y[j], x[j], 1e-3f * std::fabs(x[j]) + 1e-6f) << j;
  // All zero: scale 0, every index the entry nearest 0 (index 8, value 1).
  std::memset(x, 0, sizeof x);
  quantize_row_iq4_nl_ref(x, &b, 32);
  EXPECT_EQ(b.d, 0);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b.qs[j], 0x88);
}

TEST(Q32, RoundTripErrorBounds) {
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  const int n = 32 * 64;
  std::vector<float> x(n), y(n);
  for (float& v : x) v = nd(rng);
  for (TensorType t : {TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::IQ4_NL, TensorType::Q8_1}) {
    const TypeTraits* tr = type_traits(t);
    std::vector<uint8_t> q(*bytes_for(t, n));
    tr->from_float(x.data(), q.data(), n);
    tr->to_float(q.data(), y.data(), n);
    for (int b = 0; b < n / 32; ++b) {
      float lo = x[b * 32], hi = x[b * 32], amax = 0;
      for (int j = 0; j < 32; ++j) {
        lo = std::min(lo, x[b * 32 + j]);
        hi = std::max(hi, x[b * 32 + j]);
        amax = std::max(amax, std::fabs(x[b * 32 + j]));
      }
      // Half a quantization step (plus fp16 rounding of the scale and minimum); IQ4_NL's widest
      // codebook gap is 24/127 of its scale range.
      double step = 0;
      switch (t) {
        case TensorType::Q4_1: step = (hi - lo) / 15; break;
        case TensorType::Q5_1: step = (hi - lo) / 31; break;
        case TensorType::Q5_0: step = 2 * amax / 16; break;
        case TensorType::IQ4_NL: step = 2 * amax * 24.0 / 127; break;
        default: step = amax / 127; break;
      }
      for (int j = 0; j < 32; ++j)
        ASSERT_LE(std::fabs(x[b * 32 + j] - y[b * 32 + j]), 0.51 * step + 2e-3 * amax) << type_name(t) << " block " << b;
    }
  }
}

TEST(Q32, HostileValuesDoNotCrash) {
  // inf / NaN / huge values: no undefined behaviour (UBSan), deterministic bytes.
  float x[64];
  for (int j = 0; j < 64; ++j) x[j] = static_cast<float>(j);
  x[3] = INFINITY;
  x[40] = std::nanf("");
  x[41] = -3e38f;
  x[42] = 3e38f;
  for (TensorType t : {TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::IQ4_NL, TensorType::Q8_1}) {
    std::vector<uint8_t> a(*bytes_for(t, 64)), b(a.size());
    type_traits(t)->from_float(x, a.data(), 64);
    type_traits(t)->from_float(x, b.data(), 64);
    EXPECT_EQ(a, b) << type_name(t);
  }
}

}  // namespace
}  // namespace kestrel::kernels
