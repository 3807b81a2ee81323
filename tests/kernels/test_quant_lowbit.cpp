// Q2_K / Q3_K / IQ4_XS quantization: byte-identical to `llref quantize --pure` (llama.cpp's no-imatrix
// quantizer) on random tensors with outliers, ties, all-zero and tiny blocks, plus hand-checked blocks
// and round-trip error bounds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "kernels/quant_q2k_q3k_iq4xs.h"
#include "kernels/type_traits.h"
#include "tests/common/test_paths.h"

namespace kestrel::kernels {
namespace {

// Quantizes n floats (multiple of 256) to `t` with the reference quantizer.
std::vector<uint8_t> quantize(TensorType t, const float* x, int64_t n) {
  std::vector<uint8_t> out(*bytes_for(t, static_cast<uint64_t>(n)));
  switch (t) {
    case TensorType::Q2_K: quantize_row_q2_k_ref(x, reinterpret_cast<BlockQ2_K*>(out.data()), n); break;
    case TensorType::Q3_K: quantize_row_q3_k_ref(x, reinterpret_cast<BlockQ3_K*>(out.data()), n); break;
    case TensorType::IQ4_XS: quantize_row_iq4_xs_ref(x, reinterpret_cast<BlockIQ4_XS*>(out.data()), n); break;
    default: ADD_FAILURE() << "not a low-bit type";
  }
  return out;
}

std::vector<float> dequantize(TensorType t, const std::vector<uint8_t>& q, int64_t n) {
  std::vector<float> y(n);
  switch (t) {
    case TensorType::Q2_K: dequantize_row_q2_k(reinterpret_cast<const BlockQ2_K*>(q.data()), y.data(), n); break;
    case TensorType::Q3_K: dequantize_row_q3_k(reinterpret_cast<const BlockQ3_K*>(q.data()), y.data(), n); break;
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

// Random tensors with the patterns that exercise every branch of the quantizers.
std::vector<float> adversarial(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = nd(rng);
    const size_t blk = i / 256, sub = i / 16;
    if (i % 977 == 0) v[i] *= 40.0f;                                           // outliers
    if (blk % 13 == 7) v[i] = 0.0f;                                            // all-zero super-blocks
    if (sub % 29 == 3) v[i] = 0.0f;                                            // all-zero sub-blocks
    if (blk % 11 == 3) v[i] = 0.25f * static_cast<float>(static_cast<int>(i % 32) - 16);  // exact ties
    if (blk % 17 == 5) v[i] = std::ldexp(nd(rng), -20);                        // tiny scales
    if (blk % 19 == 2) v[i] = std::fabs(v[i]);                                 // all positive (min 0)
    if (sub % 23 == 9) v[i] = 0.125f;                                          // constant groups
    if (blk % 31 == 4 && i % 256 == 17) v[i] = -30.0f;                         // one big negative
  }
  return v;
}

// llama.cpp quantizes the same F32 file with --pure; every tensor it wrote in the target type must
// equal our bytes. The file keeps stories260K's metadata (llama.cpp needs a known architecture) with
// tensors whose rows are multiples of 256.
TEST(LowBitQuantBytes, RandomTensorsMatchLlrefQuantize) {
  KESTREL_REQUIRE_SHARED();
  KESTREL_REQUIRE_LLREF();
  auto f32 = GGUFFile::open(test::shared_dir() + "/models/stories260K-f32.gguf");
  ASSERT_TRUE(f32.is_ok()) << f32.error();
  GGUFWriter w;
  for (const KeyValue& kv : (*f32)->metadata()) w.set(kv.key, kv.value);
  std::mt19937 rng(7);
  std::vector<std::vector<float>> data;
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> shapes;
  for (const TensorInfo& ti : (*f32)->tensors()) {
    std::vector<int64_t> ne(ti.ne.begin(), ti.ne.end());
    if (ne.size() == 2) ne = {int64_t(256 * (1 + data.size() % 3)), int64_t(8 + data.size() % 5)};  // quantizable rows
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    std::vector<float> v = adversarial(n, rng);
    ASSERT_TRUE(w.add_tensor(ti.name, TensorType::F32, ne, v.data(), v.size() * 4).is_ok()) << ti.name;
    data.push_back(std::move(v));
    names.push_back(ti.name);
    shapes.push_back(ne);
  }
  const std::string tmp = test::temp_dir();
  const std::string in = tmp + "/lowbit-f32.gguf";
  ASSERT_TRUE(w.write(in).is_ok());
  // q3_k_m with --pure writes every quantizable tensor as Q3_K (the mixture rules are off).
  for (auto [name, type] : {std::pair{"q2_k", TensorType::Q2_K}, std::pair{"q3_k_m", TensorType::Q3_K},
                            std::pair{"iq4_xs", TensorType::IQ4_XS}}) {
    const std::string out = tmp + "/lowbit-" + name + ".gguf";
    const std::string cmd = test::llref_path() + " quantize " + in + " " + out + " " + name + " --pure > /dev/null 2>&1";
    ASSERT_EQ(test::run_command(cmd), 0) << cmd;
    auto q = GGUFFile::open(out);
    ASSERT_TRUE(q.is_ok()) << q.error();
    int compared = 0;
    for (size_t k = 0; k < names.size(); ++k) {
      const TensorInfo* ti = (*q)->find_tensor(names[k]);
      ASSERT_NE(ti, nullptr) << names[k];
      if (ti->type != type) continue;
      const std::vector<uint8_t> ours = quantize(type, data[k].data(), static_cast<int64_t>(data[k].size()));
      ASSERT_EQ(ours.size(), ti->bytes) << names[k];
      const uint8_t* theirs = static_cast<const uint8_t*>((*q)->tensor_data(*ti));
      if (std::memcmp(ours.data(), theirs, ours.size()) != 0) {
        size_t i = 0;
        while (ours[i] == theirs[i]) ++i;
        const size_t bb = *bytes_for(type, 256);
        ADD_FAILURE() << names[k] << " (" << name << ") differs from llama.cpp at byte " << i << " (super-block "
                      << i / bb << ", offset " << i % bb << "): ours " << int(ours[i]) << " theirs " << int(theirs[i]);
      }
      ++compared;
    }
    EXPECT_GT(compared, 10) << name << ": too few tensors compared";
    std::printf("%s: %d tensors compared\n", name, compared);
  }
}

}  // namespace
}  // namespace kestrel::kernels
