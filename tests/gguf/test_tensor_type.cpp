// The type table must agree with ggml's ggml_blck_size / ggml_type_size (values below were read from
// the llama.cpp release llref is built on) so every GGUF file's tensor sizes come out right.
#include <gtest/gtest.h>

#include <set>

#include "gguf/tensor_type.h"

namespace kestrel {
namespace {

struct Expected {
  uint32_t id;
  const char* name;
  uint32_t block_size, block_bytes;
};
constexpr Expected kGgml[] = {
    {0, "f32", 1, 4},         {1, "f16", 1, 2},          {2, "q4_0", 32, 18},      {3, "q4_1", 32, 20},
    {6, "q5_0", 32, 22},      {7, "q5_1", 32, 24},       {8, "q8_0", 32, 34},      {9, "q8_1", 32, 36},
    {10, "q2_K", 256, 84},    {11, "q3_K", 256, 110},    {12, "q4_K", 256, 144},   {13, "q5_K", 256, 176},
    {14, "q6_K", 256, 210},   {15, "q8_K", 256, 292},    {16, "iq2_xxs", 256, 66}, {17, "iq2_xs", 256, 74},
    {18, "iq3_xxs", 256, 98}, {19, "iq1_s", 256, 50},    {20, "iq4_nl", 32, 18},   {21, "iq3_s", 256, 110},
    {22, "iq2_s", 256, 82},   {23, "iq4_xs", 256, 136},  {24, "i8", 1, 1},         {25, "i16", 1, 2},
    {26, "i32", 1, 4},        {27, "i64", 1, 8},         {28, "f64", 1, 8},        {29, "iq1_m", 256, 56},
    {30, "bf16", 1, 2},       {34, "tq1_0", 256, 54},    {35, "tq2_0", 256, 66},   {39, "mxfp4", 32, 17},
    {40, "nvfp4", 64, 36},    {41, "q1_0", 128, 18},     {42, "q2_0", 64, 18},
};

TEST(TensorType, MatchesGgmlSizes) {
  for (const Expected& e : kGgml) {
    const TypeLayout* l = type_layout(e.id);
    ASSERT_NE(l, nullptr) << e.name;
    EXPECT_EQ(static_cast<uint32_t>(l->type), e.id);
    EXPECT_EQ(l->name, e.name);
    EXPECT_EQ(l->block_size, e.block_size) << e.name;
    EXPECT_EQ(l->block_bytes, e.block_bytes) << e.name;
  }
  size_t n = 0;
  all_type_layouts(&n);
  EXPECT_EQ(n, sizeof(kGgml) / sizeof(kGgml[0]));
}

TEST(TensorType, RemovedAndFutureIdsAreUnknown) {
  for (uint32_t id : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 43u, 1000u, 0xFFFFFFFFu})
    EXPECT_EQ(type_layout(id), nullptr) << id;
  EXPECT_EQ(type_name(static_cast<TensorType>(4)), "unknown");
}

TEST(TensorType, NamesRoundTripCaseInsensitive) {
  for (const Expected& e : kGgml) {
    auto t = type_from_name(e.name);
    ASSERT_TRUE(t.has_value()) << e.name;
    EXPECT_EQ(static_cast<uint32_t>(*t), e.id);
    EXPECT_EQ(type_name(*t), e.name);
  }
  EXPECT_EQ(type_from_name("Q8_0"), TensorType::Q8_0);
  EXPECT_EQ(type_from_name("Q4_K"), TensorType::Q4_K);
  EXPECT_EQ(type_from_name("BF16"), TensorType::BF16);
  EXPECT_FALSE(type_from_name("q4_2").has_value());
  EXPECT_FALSE(type_from_name("").has_value());
}

TEST(TensorType, BytesFor) {
  EXPECT_EQ(bytes_for(TensorType::F32, 10), 40u);
  EXPECT_EQ(bytes_for(TensorType::Q4_0, 64), 36u);
  EXPECT_EQ(bytes_for(TensorType::Q8_0, 0), 0u);
  EXPECT_EQ(bytes_for(TensorType::Q6_K, 512), 420u);
  EXPECT_FALSE(bytes_for(TensorType::Q4_0, 33).has_value());   // not a whole block
  EXPECT_FALSE(bytes_for(TensorType::Q4_K, 128).has_value());
  EXPECT_FALSE(bytes_for(TensorType::F32, UINT64_MAX / 2).has_value());  // overflows
  EXPECT_EQ(bytes_for(TensorType::I8, UINT64_MAX), UINT64_MAX);
  EXPECT_FALSE(bytes_for(static_cast<TensorType>(4), 32).has_value());
}

}  // namespace
}  // namespace kestrel
