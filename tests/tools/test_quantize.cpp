// llm-quantize: tensor-type rules, byte-identity with llama.cpp's quantizer (through llref) for
// stories260K and synthetic models, metadata, and error handling.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <set>
#include <string>

#include "cli/common_quant_plan.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/synthetic_model.h"
#include "tests/common/test_paths.h"
#include "tests/tools/tools_test_util.h"

namespace kestrel::test {
namespace {

using cli::choose_tensor_type;
using cli::ModelFacts;

bool same_value(const Value& a, const Value& b) {
  if (a.type != b.type || a.u != b.u || a.i != b.i || a.b != b.b || a.str != b.str) return false;
  if (!(a.f == b.f || (a.f != a.f && b.f != b.f))) return false;
  if (a.items.size() != b.items.size()) return false;
  for (size_t i = 0; i < a.items.size(); ++i)
    if (!same_value(a.items[i], b.items[i])) return false;
  return true;
}

// Every tensor of `ref` exists in `ours` with the same shape, type and bytes, except the names in
// `other_type` which must have a different type (documented deviations). Metadata must match too.
void expect_same_model(const std::string& ours, const std::string& ref, const std::set<std::string>& other_type = {}) {
  auto a = GGUFFile::open(ours);
  auto b = GGUFFile::open(ref);
  ASSERT_TRUE(a) << a.error();
  ASSERT_TRUE(b) << b.error();
  ASSERT_EQ((*a)->tensors().size(), (*b)->tensors().size());
  int compared = 0;
  for (const TensorInfo& rt : (*b)->tensors()) {
    const TensorInfo* ot = (*a)->find_tensor(rt.name);
    ASSERT_NE(ot, nullptr) << rt.name;
    EXPECT_EQ(ot->ne, rt.ne) << rt.name;
    if (other_type.count(rt.name)) {
      EXPECT_NE(ot->type, rt.type) << rt.name;
      continue;
    }
    ASSERT_EQ(type_name(ot->type), type_name(rt.type)) << rt.name;
    ASSERT_EQ(ot->bytes, rt.bytes) << rt.name;
    EXPECT_EQ(std::memcmp((*a)->tensor_data(*ot), (*b)->tensor_data(rt), rt.bytes), 0) << "bytes differ: " << rt.name;
    ++compared;
  }
  EXPECT_GT(compared, 0);
  for (const KeyValue& kv : (*b)->metadata()) {
    const Value* mine = (*a)->find(kv.key);
    ASSERT_NE(mine, nullptr) << "missing key " << kv.key;
    EXPECT_TRUE(same_value(*mine, kv.value)) << "key " << kv.key;
  }
}

RunResult quantize(const std::string& in, const std::string& out, const std::string& type, bool pure) {
  return run(program("llm-quantize") + " " + shell_quote(in) + " " + shell_quote(out) + " " + type + (pure ? " --pure" : "") + " -t 2");
}

void llref_quantize(const std::string& in, const std::string& out, const std::string& type, bool pure) {
  RunResult r = run(shell_quote(llref_path()) + " quantize " + shell_quote(in) + " " + shell_quote(out) + " " + type + (pure ? " --pure" : ""));
  ASSERT_EQ(r.rc, 0) << r.err;
}

// ---- rules (no files needed)

TEST(QuantPlan, NormsAndRouterAreCopied) {
  ModelFacts f;
  EXPECT_TRUE(choose_tensor_type("blk.0.attn_norm.weight", {64}, TensorType::F32, TensorType::Q4_0, false, f).keep_as_is);
  EXPECT_TRUE(choose_tensor_type("rope_freqs.weight", {32}, TensorType::F32, TensorType::Q8_0, true, f).keep_as_is);
  EXPECT_TRUE(choose_tensor_type("blk.1.ffn_gate_inp.weight", {64, 8}, TensorType::F32, TensorType::Q4_0, false, f).keep_as_is);
  // A 2-D tensor with one row counts as 1-D, as ggml counts dimensions.
  EXPECT_TRUE(choose_tensor_type("x.weight", {64, 1}, TensorType::F32, TensorType::F16, true, f).keep_as_is);
}

TEST(QuantPlan, IncompatibleRowsFallBackToF16) {
  ModelFacts f;
  auto c = choose_tensor_type("blk.0.ffn_down.weight", {172, 64}, TensorType::F32, TensorType::Q4_0, true, f);
  EXPECT_EQ(c.type, TensorType::F16);
  EXPECT_FALSE(c.note.empty());
  EXPECT_EQ(choose_tensor_type("blk.0.ffn_down.weight", {172, 64}, TensorType::F32, TensorType::Q8_0, false, f).type, TensorType::F16);
  EXPECT_EQ(choose_tensor_type("blk.0.ffn_down.weight", {172, 64}, TensorType::F32, TensorType::BF16, false, f).type, TensorType::BF16);
}

TEST(QuantPlan, OutputTensorMixtureWithoutPure) {
  ModelFacts f;
  // llama.cpp: Q6_K (not writable by Kestrel: Q8_0 with a note) for 256-multiple rows, else Q8_0.
  auto big = choose_tensor_type("output.weight", {4096, 32000}, TensorType::F16, TensorType::Q4_0, false, f);
  EXPECT_EQ(big.type, TensorType::Q8_0);
  EXPECT_NE(big.note.find("q6_k"), std::string::npos);
  auto small = choose_tensor_type("output.weight", {64, 512}, TensorType::F32, TensorType::Q4_0, false, f);
  EXPECT_EQ(small.type, TensorType::Q8_0);
  EXPECT_TRUE(small.note.empty());
  EXPECT_EQ(choose_tensor_type("output.weight", {64, 512}, TensorType::F32, TensorType::Q4_0, true, f).type, TensorType::Q4_0);
  EXPECT_EQ(choose_tensor_type("token_embd.weight", {64, 512}, TensorType::F32, TensorType::Q4_0, false, f).type, TensorType::Q4_0);
  ModelFacts tied{.has_output = false};
  EXPECT_EQ(choose_tensor_type("token_embd.weight", {64, 512}, TensorType::F32, TensorType::Q4_0, false, tied).type, TensorType::Q8_0);
  ModelFacts moe{.has_output = true, .n_expert = 8};
  EXPECT_EQ(choose_tensor_type("blk.0.attn_v.weight", {64, 32}, TensorType::F32, TensorType::Q4_0, false, moe).type, TensorType::Q8_0);
  EXPECT_EQ(choose_tensor_type("blk.0.attn_v.weight", {64, 32}, TensorType::F32, TensorType::Q4_0, false, f).type, TensorType::Q4_0);
}

TEST(QuantPlan, TargetsAndFtypes) {
  EXPECT_EQ(cli::find_quant_target("Q4_0")->ftype, 2u);
  EXPECT_EQ(cli::find_quant_target("q8_0")->ftype, 7u);
  EXPECT_EQ(cli::find_quant_target("f16")->ftype, 1u);
  EXPECT_EQ(cli::find_quant_target("bf16")->ftype, 32u);
  EXPECT_EQ(cli::find_quant_target("f32")->ftype, 0u);
  EXPECT_FALSE(cli::find_quant_target("q4_k_m"));
}

// ---- the program

TEST(Quantize, SetsFileTypeAndKeepsNormsF32) {
  KESTREL_REQUIRE_SHARED();
  const std::string in = shared_dir() + "/models/stories260K-f32.gguf", out = temp_dir() + "/q4-meta.gguf";
  RunResult r = quantize(in, out, "q4_0", false);
  ASSERT_EQ(r.rc, 0) << r.err;
  auto f = GGUFFile::open(out);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(*(*f)->get_int("general.file_type"), 2);
  EXPECT_EQ(*(*f)->get_int("general.quantization_version"), 2);
  EXPECT_EQ((*f)->find_tensor("blk.0.attn_norm.weight")->type, TensorType::F32);
  EXPECT_EQ((*f)->find_tensor("blk.0.attn_q.weight")->type, TensorType::Q4_0);
  EXPECT_EQ((*f)->find_tensor("blk.0.ffn_down.weight")->type, TensorType::F16);
  EXPECT_EQ((*f)->find_tensor("output.weight")->type, TensorType::Q8_0);
  EXPECT_EQ(*(*f)->get_int("llama.block_count"), 5);
}

class QuantizeVsLlref : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(QuantizeVsLlref, Stories260KBytesMatch) {
  KESTREL_REQUIRE_SHARED();
  KESTREL_REQUIRE_LLREF();
  const auto& [type, pure] = GetParam();
  const std::string in = shared_dir() + "/models/stories260K-f32.gguf";
  const std::string tag = type + (pure ? "-pure" : "");
  const std::string ours = temp_dir() + "/s260-ours-" + tag + ".gguf", ref = temp_dir() + "/s260-ref-" + tag + ".gguf";
  RunResult r = quantize(in, ours, type, pure);
  ASSERT_EQ(r.rc, 0) << r.err;
  llref_quantize(in, ref, type, pure);
  expect_same_model(ours, ref);
}

INSTANTIATE_TEST_SUITE_P(Types, QuantizeVsLlref,
                         ::testing::Combine(::testing::Values("q8_0", "q4_0", "f16", "bf16"), ::testing::Bool()),
                         [](const auto& info) {
                           return std::get<0>(info.param) + (std::get<1>(info.param) ? "_pure" : "_mixture");
                         });

TEST(Quantize, SyntheticF16ModelBytesMatchLlref) {
  KESTREL_REQUIRE_LLREF();
  SyntheticSpec spec;
  spec.n_layer = 2;
  spec.type = TensorType::F16;
  const std::string in = temp_dir() + "/synth-f16.gguf";
  ASSERT_TRUE(write_synthetic_model(in, spec).is_ok());
  for (const char* type : {"q8_0", "q4_0"}) {
    const std::string ours = temp_dir() + "/synth-ours-" + type + ".gguf", ref = temp_dir() + "/synth-ref-" + type + ".gguf";
    RunResult r = quantize(in, ours, type, true);
    ASSERT_EQ(r.rc, 0) << r.err;
    llref_quantize(in, ref, type, true);
    SCOPED_TRACE(type);
    expect_same_model(ours, ref);
  }
}

TEST(Quantize, WideOutputUsesQ8_0WhereLlamaCppUsesQ6_K) {
  KESTREL_REQUIRE_LLREF();
  SyntheticSpec spec;
  spec.n_embd = 256;
  spec.n_ff = 512;
  spec.n_layer = 1;
  const std::string in = temp_dir() + "/synth-wide.gguf";
  ASSERT_TRUE(write_synthetic_model(in, spec).is_ok());
  const std::string ours = temp_dir() + "/wide-ours.gguf", ref = temp_dir() + "/wide-ref.gguf";
  RunResult r = quantize(in, ours, "q4_0", false);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("q6_k"), std::string::npos) << "the deviation should be reported: " << r.err;
  llref_quantize(in, ref, "q4_0", false);
  expect_same_model(ours, ref, {"output.weight"});
  auto a = GGUFFile::open(ours);
  auto b = GGUFFile::open(ref);
  EXPECT_EQ((*a)->find_tensor("output.weight")->type, TensorType::Q8_0);
  EXPECT_EQ((*b)->find_tensor("output.weight")->type, TensorType::Q6_K);
}

TEST(Quantize, RequantizesQuantizedInput) {
  KESTREL_REQUIRE_SHARED();
  const std::string in = shared_dir() + "/models/stories260K-q8_0.gguf", out = temp_dir() + "/q8-to-f32.gguf";
  RunResult r = quantize(in, out, "f32", false);
  ASSERT_EQ(r.rc, 0) << r.err;
  auto f = GGUFFile::open(out);
  ASSERT_TRUE(f);
  for (const TensorInfo& t : (*f)->tensors()) EXPECT_EQ(t.type, TensorType::F32) << t.name;
}

// ---- errors

TEST(QuantizeErrors, UnknownType) {
  KESTREL_REQUIRE_SHARED();
  RunResult r = quantize(shared_dir() + "/models/stories260K-f32.gguf", temp_dir() + "/x.gguf", "q4_k_m", false);
  expect_one_line_error(r, "llm-quantize", "unknown type 'q4_k_m'");
}

TEST(QuantizeErrors, UnreadableInput) {
  RunResult r = quantize(temp_dir() + "/does-not-exist.gguf", temp_dir() + "/x.gguf", "q8_0", false);
  expect_one_line_error(r, "llm-quantize", "does-not-exist.gguf");
  const std::string junk = temp_dir() + "/junk.gguf";
  std::ofstream(junk) << "this is not a gguf file";
  expect_one_line_error(quantize(junk, temp_dir() + "/x.gguf", "q8_0", false), "llm-quantize", "junk.gguf");
}

TEST(QuantizeErrors, UnsupportedInputTensorType) {
  // A valid file whose 2-D tensor is IQ2_XXS, which Kestrel cannot decode.
  GGUFWriter w;
  w.set_string("general.architecture", "llama");
  std::vector<uint8_t> iq2(66 * 2, 0);  // two IQ2_XXS blocks of 256 values
  ASSERT_TRUE(w.add_tensor("blk.0.attn_q.weight", TensorType::IQ2_XXS, {256, 2}, iq2.data(), iq2.size()).is_ok());
  const std::string in = temp_dir() + "/iq2xxs.gguf";
  ASSERT_TRUE(w.write(in).is_ok());
  RunResult r = quantize(in, temp_dir() + "/x.gguf", "q8_0", true);
  expect_one_line_error(r, "llm-quantize", "unsupported input type iq2_xxs");
}

TEST(QuantizeErrors, UsageAndSameFile) {
  expect_one_line_error(run(program("llm-quantize") + " a.gguf"), "llm-quantize", "expected IN.gguf OUT.gguf TYPE");
  KESTREL_REQUIRE_SHARED();
  const std::string in = shared_dir() + "/models/stories260K-f32.gguf";
  expect_one_line_error(quantize(in, in, "q8_0", false), "llm-quantize", "is the input file");
}

}  // namespace
}  // namespace kestrel::test
