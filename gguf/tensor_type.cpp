#include "gguf/tensor_type.h"

#include <cctype>

namespace kestrel {
namespace {

// Block sizes and bytes per block as ggml defines them (checked against ggml_blck_size/ggml_type_size
// of the llama.cpp release llref uses). Ids 4, 5, 31-33 and 36-38 were removed from ggml: unknown here.
constexpr TypeLayout kLayouts[] = {
    {TensorType::F32, "f32", 1, 4},           {TensorType::F16, "f16", 1, 2},
    {TensorType::Q4_0, "q4_0", 32, 18},       {TensorType::Q4_1, "q4_1", 32, 20},
    {TensorType::Q5_0, "q5_0", 32, 22},       {TensorType::Q5_1, "q5_1", 32, 24},
    {TensorType::Q8_0, "q8_0", 32, 34},       {TensorType::Q8_1, "q8_1", 32, 36},
    {TensorType::Q2_K, "q2_K", 256, 84},      {TensorType::Q3_K, "q3_K", 256, 110},
    {TensorType::Q4_K, "q4_K", 256, 144},     {TensorType::Q5_K, "q5_K", 256, 176},
    {TensorType::Q6_K, "q6_K", 256, 210},     {TensorType::Q8_K, "q8_K", 256, 292},
    {TensorType::IQ2_XXS, "iq2_xxs", 256, 66}, {TensorType::IQ2_XS, "iq2_xs", 256, 74},
    {TensorType::IQ3_XXS, "iq3_xxs", 256, 98}, {TensorType::IQ1_S, "iq1_s", 256, 50},
    {TensorType::IQ4_NL, "iq4_nl", 32, 18},   {TensorType::IQ3_S, "iq3_s", 256, 110},
    {TensorType::IQ2_S, "iq2_s", 256, 82},    {TensorType::IQ4_XS, "iq4_xs", 256, 136},
    {TensorType::I8, "i8", 1, 1},             {TensorType::I16, "i16", 1, 2},
    {TensorType::I32, "i32", 1, 4},           {TensorType::I64, "i64", 1, 8},
    {TensorType::F64, "f64", 1, 8},           {TensorType::IQ1_M, "iq1_m", 256, 56},
    {TensorType::BF16, "bf16", 1, 2},         {TensorType::TQ1_0, "tq1_0", 256, 54},
    {TensorType::TQ2_0, "tq2_0", 256, 66},    {TensorType::MXFP4, "mxfp4", 32, 17},
    {TensorType::NVFP4, "nvfp4", 64, 36},     {TensorType::Q1_0, "q1_0", 128, 18},
    {TensorType::Q2_0, "q2_0", 64, 18},
};
constexpr size_t kCount = sizeof(kLayouts) / sizeof(kLayouts[0]);

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

}  // namespace

const TypeLayout* type_layout(uint32_t id) {
  for (const TypeLayout& l : kLayouts)
    if (static_cast<uint32_t>(l.type) == id) return &l;
  return nullptr;
}

const TypeLayout* all_type_layouts(size_t* count) {
  *count = kCount;
  return kLayouts;
}

std::string_view type_name(TensorType t) {
  const TypeLayout* l = type_layout(t);
  return l ? l->name : std::string_view("unknown");
}

std::optional<TensorType> type_from_name(std::string_view name) {
  for (const TypeLayout& l : kLayouts)
    if (iequal(l.name, name)) return l.type;
  return std::nullopt;
}

std::optional<uint64_t> bytes_for(TensorType t, uint64_t n) {
  const TypeLayout* l = type_layout(t);
  if (!l || n % l->block_size != 0) return std::nullopt;
  uint64_t blocks = n / l->block_size;
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(blocks, static_cast<uint64_t>(l->block_bytes), &bytes)) return std::nullopt;
  return bytes;
}

}  // namespace kestrel
