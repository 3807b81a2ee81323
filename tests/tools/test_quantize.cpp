// llm-quantize: byte-identity with llama.cpp's quantizer (through llref) for
// stories260K and synthetic models, metadata, and error handling.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <set>
#include <string>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/synthetic_model.h"
#include "tests/common/test_paths.h"
#include "tests/tools/tools_test_util.h"

namespace kestrel::test {
namespace {

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
  expect_same_file(ours, ref);
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
    expect_same_file(ours, ref);
  }
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
  RunResult r = quantize(shared_dir() + "/models/stories260K-f32.gguf", temp_dir() + "/x.gguf", "q9_z", false);
  expect_one_line_error(r, "llm-quantize", "unknown type 'q9_z'");
  r = run(program("llm-quantize") + " " + shell_quote(shared_dir() + "/models/stories260K-f32.gguf") + " " +
          shell_quote(temp_dir() + "/x.gguf") + " q4_0 --output-tensor-type q9_z");
  expect_one_line_error(r, "llm-quantize", "--output-tensor-type: unknown tensor type 'q9_z'");
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
