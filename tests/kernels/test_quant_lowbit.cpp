// Q2_K / Q3_K / IQ4_XS quantization: hand-checked blocks and round-trip error bounds. Byte identity
// with llama.cpp's quantizer is checked in tests/model/test_kquant_llref.cpp (all K-quant types).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/quant_q2k_q3k_iq4xs.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

// Quantizes n floats (multiple of 256) to `t` with the reference quantizer.
std::vector<uint8_t> quantize(TensorType t, const float* x, int64_t n) {
  std::vector<uint8_t> out(*bytes_for(t, static_cast<uint64_t>(n)));
  switch (t) {
    case TensorType::Q2_K: quantize_row_q2_K_ref(x, reinterpret_cast<BlockQ2_K*>(out.data()), n); break;
    case TensorType::Q3_K: quantize_row_q3_K_ref(x, reinterpret_cast<BlockQ3_K*>(out.data()), n); break;
    case TensorType::IQ4_XS: quantize_row_iq4_xs_ref(x, reinterpret_cast<BlockIQ4_XS*>(out.data()), n); break;
    default: ADD_FAILURE() << "not a low-bit type";
  }
  return out;
}

std::vector<float> dequantize(TensorType t, const std::vector<uint8_t>& q, int64_t n) {
  std::vector<float> y(n);
  switch (t) {
    case TensorType::Q2_K: dequantize_row_q2_K(reinterpret_cast<const BlockQ2_K*>(q.data()), y.data(), n); break;
    case TensorType::Q3_K: dequantize_row_q3_K(reinterpret_cast<const BlockQ3_K*>(q.data()), y.data(), n); break;
    case TensorType::IQ4_XS: dequantize_row_iq4_xs(reinterpret_cast<const BlockIQ4_XS*>(q.data()), y.data(), n); break;
    default: ADD_FAILURE() << "not a low-bit type";
  }
  return y;
}

const TensorType kTypes[] = {TensorType::Q2_K, TensorType::Q3_K, TensorType::IQ4_XS};

TEST(LowBitQuant, AllZeroBlock) {
  std::vector<float> x(256, 0.0f);
  for (TensorType t : kTypes) {
    const std::vector<uint8_t> q = quantize(t, x.data(), 256);
    for (float v : dequantize(t, q, 256)) EXPECT_EQ(v, 0.0f) << type_name(t);
  }
  // IQ4_XS writes d = fp16(-0.0) for an all-zero block (its super-scale is -max/32), as ggml does.
  const std::vector<uint8_t> iq = quantize(TensorType::IQ4_XS, x.data(), 256);
  EXPECT_EQ(iq[0] | (iq[1] << 8), 0x8000);
}

TEST(LowBitQuant, LevelsOfAnExactGrid) {
  // Q3_K: each 16-group holds the levels -4..3 times one scale; the dequantized block reproduces the
  // grid up to the fp16 rounding of the scales.
  std::vector<float> x(256);
  for (int e = 0; e < 256; ++e) x[e] = 0.5f * static_cast<float>((e % 8) - 4);
  std::vector<uint8_t> q = quantize(TensorType::Q3_K, x.data(), 256);
  std::vector<float> y = dequantize(TensorType::Q3_K, q, 256);
  for (int e = 0; e < 256; ++e) EXPECT_NEAR(y[e], x[e], 2e-3) << e;
  // Q2_K: levels 0..3 with offset -1.5.
  for (int e = 0; e < 256; ++e) x[e] = 0.5f * static_cast<float>(e % 4) - 1.5f;
  q = quantize(TensorType::Q2_K, x.data(), 256);
  y = dequantize(TensorType::Q2_K, q, 256);
  for (int e = 0; e < 256; ++e) EXPECT_NEAR(y[e], x[e], 1e-2) << e;
}

TEST(LowBitQuant, RoundTripErrorBounds) {
  // Relative RMS error per type on Gaussian data, a loose bound (typical values: Q2_K ~0.35 with
  // its 4 levels, Q3_K ~0.18, IQ4_XS ~0.09).
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t n = 256 * 32;
  std::vector<float> x(n);
  for (float& v : x) v = nd(rng);
  const double bound[] = {0.45, 0.25, 0.12};
  for (int k = 0; k < 3; ++k) {
    const std::vector<float> y = dequantize(kTypes[k], quantize(kTypes[k], x.data(), n), n);
    double e2 = 0, x2 = 0;
    for (int64_t i = 0; i < n; ++i) e2 += (x[i] - y[i]) * double(x[i] - y[i]), x2 += double(x[i]) * x[i];
    EXPECT_LT(std::sqrt(e2 / x2), bound[k]) << type_name(kTypes[k]);
  }
}

}  // namespace
}  // namespace kestrel::kernels
