// Quantization is byte-identical to llama.cpp: fp16/bf16 conversions, Q8_0/Q4_0 reference rounding,
// checked against the stories260K files quantized by llama.cpp and against `llref quantize` on random
// tensors. Plus round-trip error bounds and hand-computed blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tests/common/test_paths.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "kernels/quant.h"
#include "kernels/quant_k.h"
#include "kernels/type_traits.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace kestrel::kernels {
namespace {

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(Fp16, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_EQ(fp32_to_fp16(f) & 0x7E00, 0x7E00) << h;
      continue;
    }
    ASSERT_EQ(fp32_to_fp16(f), h) << "half " << h << " -> " << f;
  }
}

TEST(Fp16, KnownValuesAndRounding) {
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3C00);
  EXPECT_EQ(fp32_to_fp16(-2.0f), 0xC000);
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(65519.996f), 0x7BFF);      // just below the tie: stays finite
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);        // tie rounds to even = infinity
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -24)), 0x0001);   // smallest subnormal
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);   // tie to even: 0
  EXPECT_EQ(fp32_to_fp16(std::ldexp(3.0f, -25)), 0x0002);   // 1.5 ulp ties to 2
  EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie to even (down)
  EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(3.0f, -11)), 0x3C02);  // tie to even (up)
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_fp16(INFINITY), 0x7C00);
  EXPECT_EQ(fp32_to_fp16(-std::nanf("")), 0xFE00);
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(fp16_to_fp32(0x03FF), std::ldexp(1023.0f, -24));
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) uint16_t hw_fp16(float f) { return static_cast<uint16_t>(_cvtss_sh(f, 0)); }

TEST(Fp16, MatchesF16cHardwareOnRandomBits) {
  if (!__builtin_cpu_supports("f16c")) GTEST_SKIP() << "no F16C";
  std::mt19937 rng(1);
  for (int i = 0; i < 2000000; ++i) {
    const float f = from_bits(rng());
    if (std::isnan(f)) continue;
    ASSERT_EQ(fp32_to_fp16(f), hw_fp16(f)) << std::hexfloat << f;
  }
}
#endif

TEST(Bf16, RoundingAndNaN) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3F808000)), 0x3F80);  // tie, even stays
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3F818000)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3F808001)), 0x3F81);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x00000001)), 0x0000);  // subnormals are rounded, not flushed
  EXPECT_EQ(fp32_to_bf16(from_bits(0x00008000)), 0x0000);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x00018000)), 0x0002);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x7F800001)), 0x7FC0);  // signalling NaN made quiet
  EXPECT_EQ(fp32_to_bf16(from_bits(0xFF800001)), 0xFFC0);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x7F7FFFFF)), 0x7F80);  // FLT_MAX rounds to infinity
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(fp32_to_bf16(f), h);
  }
}

TEST(Q4_0, HandComputedBlock) {
  // Largest magnitude -4 -> d = -4 / -8 = 0.5; q = trunc(x / 0.5 + 8.5), capped at 15.
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = 0.25f * static_cast<float>(j - 16);  // -4 .. 3.75
  BlockQ4_0 b;
  quantize_row_q4_0_ref(x, &b, 32);
  EXPECT_EQ(b.d, fp32_to_fp16(0.5f));
  for (int j = 0; j < 16; ++j) {
    const int lo = std::min(15, static_cast<int>(x[j] * 2.0f + 8.5f));
    const int hi = std::min(15, static_cast<int>(x[j + 16] * 2.0f + 8.5f));
    EXPECT_EQ(b.qs[j], lo | (hi << 4)) << j;
  }
  EXPECT_EQ(b.qs[0] & 0x0F, 0);         // -4 -> 0
  EXPECT_EQ(b.qs[15] >> 4, 15);         // 3.75 -> trunc(16) capped to 15
}

TEST(Q8_0, HandComputedBlockWithTies) {
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j) - 15.5f;  // amax 15.5 -> d = 15.5/127
  x[0] = 127.0f;                                                      // now d = 1: ties at .5
  BlockQ8_0 b;
  quantize_row_q8_0_ref(x, &b, 32);
  EXPECT_EQ(b.d, fp32_to_fp16(1.0f));
  EXPECT_EQ(b.qs[0], 127);
  EXPECT_EQ(b.qs[1], -15);  // -14.5 rounds away from zero
  EXPECT_EQ(b.qs[16], 1);   // 0.5 -> 1
  EXPECT_EQ(b.qs[15], -1);  // -0.5 -> -1
}

TEST(Quant, RoundTripErrorBounds) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  const int n = 32 * 64;
  std::vector<float> x(n), y(n);
  for (float& v : x) v = nd(rng);
  std::vector<BlockQ8_0> q8(n / 32);
  std::vector<BlockQ4_0> q4(n / 32);
  quantize_row_q8_0_ref(x.data(), q8.data(), n);
  dequantize_row_q8_0(q8.data(), y.data(), n);
  for (int i = 0; i < n; ++i) {
    const float d = fp16_to_fp32(q8[i / 32].d);
    // Half a step, plus |q| <= 127 times the fp16 rounding error of d (2^-11 relative).
    ASSERT_LE(std::fabs(x[i] - y[i]), d * (0.5f + 127.0f * 0x1p-11f) + 1e-6f) << i;
  }
  quantize_row_q4_0_ref(x.data(), q4.data(), n);
  dequantize_row_q4_0(q4.data(), y.data(), n);
  for (int i = 0; i < n; ++i) {
    const float d = std::fabs(fp16_to_fp32(q4[i / 32].d));
    ASSERT_LE(std::fabs(x[i] - y[i]), d * 1.01f + 1e-6f) << i;  // the +max side is capped at 7*d
  }
  const TypeTraits* tr = type_traits(TensorType::F16);
  std::vector<uint16_t> h(n);
  tr->from_float(x.data(), h.data(), n);
  tr->to_float(h.data(), y.data(), n);
  for (int i = 0; i < n; ++i) ASSERT_LE(std::fabs(x[i] - y[i]), std::fabs(x[i]) * 0x1p-11f) << i;
}

TEST(KQuant, ScaleMinPackingRoundTrips) {
  // Every 6-bit (scale, min) pair in every position survives the 12-byte packing that quantize uses.
  std::mt19937 rng(9);
  for (int trial = 0; trial < 200; ++trial) {
    float x[kQK_K];
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (float& v : x) v = nd(rng) + (trial % 3 == 0 ? 2.0f : 0.0f);
    BlockQ4_K b;
    quantize_row_q4_K_ref(x, &b, kQK_K);
    uint8_t sc[8], m[8];
    unpack_scales_mins_k4(b.scales, sc, m);
    for (int j = 0; j < 8; ++j) ASSERT_TRUE(sc[j] < 64 && m[j] < 64);
    // The dequantized block must be close to x (4-bit steps of at most max_scale/15 per sub-block).
    float y[kQK_K];
    dequantize_row_q4_K(&b, y, kQK_K);
    double se = 0, sx = 0;
    for (int i = 0; i < kQK_K; ++i) se += (x[i] - y[i]) * (x[i] - y[i]), sx += x[i] * x[i];
    ASSERT_LT(std::sqrt(se / sx), trial % 3 == 0 ? 0.06 : 0.15) << trial;
  }
}

TEST(KQuant, RoundTripErrorIsSmallAndOrdered) {
  // Relative RMS error of normal data: Q4_K > Q5_K > Q6_K, each within its bit budget.
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int n = kQK_K * 32;
  std::vector<float> x(n), y(n);
  for (float& v : x) v = nd(rng);
  auto rel_rms = [&](TensorType t) {
    std::vector<uint8_t> q(*bytes_for(t, n));
    type_traits(t)->from_float(x.data(), q.data(), n);
    type_traits(t)->to_float(q.data(), y.data(), n);
    double se = 0, sx = 0;
    for (int i = 0; i < n; ++i) se += (x[i] - y[i]) * (x[i] - y[i]), sx += x[i] * x[i];
    return std::sqrt(se / sx);
  };
  const double e4 = rel_rms(TensorType::Q4_K), e5 = rel_rms(TensorType::Q5_K), e6 = rel_rms(TensorType::Q6_K);
  EXPECT_LT(e4, 0.12);
  EXPECT_LT(e5, 0.06);
  EXPECT_LT(e6, 0.03);
  EXPECT_GT(e4, e5);
  EXPECT_GT(e5, e6);
}

TEST(KQuant, Q8KBlock) {
  float x[kQK_K * 2];
  for (int i = 0; i < kQK_K; ++i) x[i] = 0.01f * static_cast<float>(i % 51) - 0.2f;
  x[7] = -2.54f;  // the signed value of largest magnitude: d = -2.54 / -127 = 0.02
  for (int i = kQK_K; i < 2 * kQK_K; ++i) x[i] = 0.0f;  // all-zero block
  BlockQ8_K b[2];
  quantize_row_q8_K_ref(x, b, 2 * kQK_K);
  EXPECT_FLOAT_EQ(b[0].d, 2.54f / 127.0f);
  EXPECT_EQ(b[0].qs[7], -127);
  for (int k = 0; k < 16; ++k) {
    int sum = 0;
    for (int i = 0; i < 16; ++i) sum += b[0].qs[16 * k + i];
    EXPECT_EQ(b[0].bsums[k], sum) << k;
  }
  for (int i = 0; i < kQK_K; ++i)
    ASSERT_LE(std::fabs(b[0].d * b[0].qs[i] - x[i]), 0.5f * b[0].d * 1.0001f) << i;
  EXPECT_EQ(b[1].d, 0.0f);
  for (int i = 0; i < kQK_K; ++i) ASSERT_EQ(b[1].qs[i], 0);
  // Ties go to even, like ggml's nearest_int: with d = 1 exactly, 2.5 -> 2 and 3.5 -> 4.
  float t[kQK_K] = {};
  t[0] = -127.0f;
  t[1] = 2.5f;
  t[2] = 3.5f;
  t[3] = -2.5f;
  quantize_row_q8_K_ref(t, b, kQK_K);
  EXPECT_EQ(b[0].d, 1.0f);
  EXPECT_EQ(b[0].qs[1], 2);
  EXPECT_EQ(b[0].qs[2], 4);
  EXPECT_EQ(b[0].qs[3], -2);
}

TEST(KQuant, Q6KAllZeroAndHandBlock) {
  float x[kQK_K] = {};
  BlockQ6_K b;
  std::memset(&b, 0xAB, sizeof b);
  quantize_row_q6_K_ref(x, &b, kQK_K);
  const BlockQ6_K zero{};
  EXPECT_EQ(0, std::memcmp(&b, &zero, sizeof b));
  // Values that are exact multiples of one step are reproduced exactly when every sub-block spans
  // the same range: x = (k - 32) * 2^-6 with k covering 0..63 in each sub-block is representable.
  for (int i = 0; i < kQK_K; ++i) x[i] = std::ldexp(static_cast<float>(((i * 37) % 64) - 32), -6);
  quantize_row_q6_K_ref(x, &b, kQK_K);
  float y[kQK_K];
  dequantize_row_q6_K(&b, y, kQK_K);
  double se = 0, sx = 0;
  for (int i = 0; i < kQK_K; ++i) se += (x[i] - y[i]) * (x[i] - y[i]), sx += x[i] * x[i];
  EXPECT_LT(std::sqrt(se / sx), 0.02);
}

TEST(TypeTraits, Table) {
  EXPECT_EQ(type_traits(TensorType::Q4_0)->vec_dot_type, TensorType::Q8_0);
  EXPECT_EQ(type_traits(TensorType::Q8_0)->block_bytes, 34u);
  EXPECT_EQ(type_traits(TensorType::Q4_0)->block_bytes, 18u);
  EXPECT_EQ(type_traits(TensorType::F16)->vec_dot_type, TensorType::F16);
  EXPECT_EQ(type_traits(TensorType::BF16)->vec_dot_type, TensorType::BF16);
  EXPECT_EQ(type_traits(TensorType::F32)->block_size, 1u);
  EXPECT_EQ(type_traits(TensorType::Q4_1)->vec_dot_type, TensorType::Q8_1);
  EXPECT_EQ(type_traits(TensorType::Q5_1)->vec_dot_type, TensorType::Q8_1);
  EXPECT_EQ(type_traits(TensorType::Q5_0)->vec_dot_type, TensorType::Q8_0);
  EXPECT_EQ(type_traits(TensorType::IQ4_NL)->vec_dot_type, TensorType::Q8_0);
  EXPECT_EQ(type_traits(TensorType::Q5_1)->block_bytes, 24u);
  EXPECT_EQ(type_traits(TensorType::Q4_K)->vec_dot_type, TensorType::Q8_K);
  EXPECT_EQ(type_traits(TensorType::Q6_K)->block_bytes, 210u);
  EXPECT_EQ(type_traits(TensorType::Q8_K)->block_bytes, 292u);
  EXPECT_TRUE(is_computable(TensorType::Q5_K));
  EXPECT_FALSE(is_computable(TensorType::Q8_K));  // activation format only
  EXPECT_FALSE(is_computable(TensorType::IQ2_XS));
  EXPECT_TRUE(is_computable(TensorType::IQ4_NL));
  EXPECT_FALSE(is_computable(TensorType::Q8_1));  // an activation format
}

// ---------------------------------------------------------------- against llama.cpp's bytes

std::vector<uint8_t> quantize_tensor(TensorType t, const float* x, int64_t n) {
  std::vector<uint8_t> out(*bytes_for(t, n));
  type_traits(t)->from_float(x, out.data(), n);
  return out;
}

// For every tensor of `type` in `quantized`, quantizing the F32 source tensor gives the same bytes.
// Returns how many tensors were compared.
int expect_same_bytes(const GGUFFile& f32, const GGUFFile& quantized, TensorType type) {
  int compared = 0;
  for (const TensorInfo& ti : quantized.tensors()) {
    if (ti.type != type) continue;
    const TensorInfo* src = f32.find_tensor(ti.name);
    EXPECT_NE(src, nullptr) << ti.name;
    if (src == nullptr) continue;
    EXPECT_EQ(src->type, TensorType::F32) << ti.name;
    const int64_t n = static_cast<int64_t>(src->n_elements());
    const std::vector<uint8_t> ours =
        quantize_tensor(type, reinterpret_cast<const float*>(f32.tensor_data(*src)), n);
    EXPECT_EQ(ours.size(), ti.bytes) << ti.name;
    if (ours.size() != ti.bytes) continue;
    EXPECT_EQ(0, std::memcmp(ours.data(), quantized.tensor_data(ti), ours.size()))
        << ti.name << " (" << type_name(type) << ") differs from llama.cpp's bytes";
    ++compared;
  }
  return compared;
}

TEST(QuantBytes, Stories260KMatchesLlamaCpp) {
  KESTREL_REQUIRE_SHARED();
  const std::string dir = test::shared_dir() + "/models/";
  auto f32 = GGUFFile::open(dir + "stories260K-f32.gguf");
  ASSERT_TRUE(f32.is_ok()) << f32.error();
  for (auto [file, type] : {std::pair{"stories260K-q8_0.gguf", TensorType::Q8_0},
                            std::pair{"stories260K-q4_0.gguf", TensorType::Q4_0},
                            std::pair{"stories260K-q4_0.gguf", TensorType::Q8_0},
                            std::pair{"stories260K-f16.gguf", TensorType::F16},
                            std::pair{"stories260K-q8_0.gguf", TensorType::F16}}) {
    auto q = GGUFFile::open(dir + file);
    ASSERT_TRUE(q.is_ok()) << q.error();
    const int n = expect_same_bytes(**f32, **q, type);
    // The main type of each file must have been compared on many tensors (not vacuously).
    const bool main_type = (type == TensorType::Q8_0 && std::string(file) == "stories260K-q8_0.gguf") ||
                           type == TensorType::Q4_0 ||
                           (type == TensorType::F16 && std::string(file) == "stories260K-f16.gguf");
    if (main_type) {
      EXPECT_GT(n, 10) << file;
    }
  }
}

// Writes the stories260K F32 model with every tensor replaced by random data (outliers, zero blocks,
// exact ties), has llama.cpp quantize it with --pure, and compares every quantized tensor.
TEST(QuantBytes, RandomTensorsMatchLlrefQuantize) {
  KESTREL_REQUIRE_SHARED();
  KESTREL_REQUIRE_LLREF();
  const std::string dir = test::shared_dir() + "/models/";
  auto f32 = GGUFFile::open(dir + "stories260K-f32.gguf");
  ASSERT_TRUE(f32.is_ok()) << f32.error();
  GGUFWriter w;
  for (const KeyValue& kv : (*f32)->metadata()) w.set(kv.key, kv.value);
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::vector<std::vector<float>> data;
  for (const TensorInfo& ti : (*f32)->tensors()) {
    std::vector<float> v(ti.n_elements());
    for (size_t i = 0; i < v.size(); ++i) {
      v[i] = nd(rng);
      if (i % 977 == 0) v[i] *= 40.0f;                  // outliers
      if ((i / 32) % 53 == 7) v[i] = 0.0f;              // all-zero blocks
      if ((i / 32) % 61 == 3) v[i] = 0.25f * static_cast<float>(static_cast<int>(i % 32) - 16);  // ties
      if ((i / 32) % 67 == 5) v[i] = std::ldexp(nd(rng), -20);   // tiny scales (fp16 subnormal d)
    }
    ASSERT_TRUE(w.add_tensor(ti.name, TensorType::F32, ti.ne, v.data(), v.size() * 4).is_ok()) << ti.name;
    data.push_back(std::move(v));
  }
  const std::string tmp = test::temp_dir();
  const std::string in = tmp + "/random-f32.gguf";
  ASSERT_TRUE(w.write(in).is_ok());
  auto src = GGUFFile::open(in);
  ASSERT_TRUE(src.is_ok()) << src.error();
  for (auto [name, type] : {std::pair{"q8_0", TensorType::Q8_0}, std::pair{"q4_0", TensorType::Q4_0},
                            std::pair{"f16", TensorType::F16}, std::pair{"bf16", TensorType::BF16},
                            std::pair{"q4_1", TensorType::Q4_1}, std::pair{"q5_0", TensorType::Q5_0},
                            std::pair{"q5_1", TensorType::Q5_1}, std::pair{"iq4_nl", TensorType::IQ4_NL}}) {
    const std::string out = tmp + "/random-" + name + ".gguf";
    const std::string cmd = test::llref_path() + " quantize " + in + " " + out + " " + name + " --pure > /dev/null 2>&1";
    ASSERT_EQ(test::run_command(cmd), 0) << cmd;
    auto q = GGUFFile::open(out);
    ASSERT_TRUE(q.is_ok()) << q.error();
    EXPECT_GT(expect_same_bytes(**src, **q, type), 10) << name;
  }
}

}  // namespace
}  // namespace kestrel::kernels
