// llm-gguf end to end: header, metadata (abbreviated and --all), tensor table, totals, and one-line
// errors with exit code 1. Skips when the program was not built (e.g. only test targets were built).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "tests/gguf/gguf_test_util.h"

namespace kestrel {
namespace {
namespace fs = std::filesystem;

std::string tool() { return test::bin_dir() + "/llm-gguf"; }

#define REQUIRE_TOOL() \
  if (!fs::exists(tool())) GTEST_SKIP() << tool() << " not built"

int run(const std::string& args, std::string* out) {
  return test::run_command(tool() + " " + args + " 2>&1", out);
}

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

TEST(LlmGguf, PrintsAWrittenFile) {
  REQUIRE_TOOL();
  GGUFWriter w;
  w.set_string("general.architecture", "llama");
  std::vector<std::string> toks;
  for (int i = 0; i < 40; ++i) toks.push_back("tok" + std::to_string(i));
  w.set("tokenizer.ggml.tokens", Value::string_array(toks));
  w.set("nested", Value::array(ValueType::ARRAY, {Value::i32_array({1, 2})}));
  test::add_pattern_tensor(w, "a.weight", TensorType::Q8_0, {64, 3}, 1);
  test::add_pattern_tensor(w, "b.weight", TensorType::F32, {7}, 2);
  test::add_pattern_tensor(w, "c.weight", TensorType::Q4_K, {256, 2}, 3);
  std::string path = test::tmp_path("cli.gguf");
  ASSERT_TRUE(w.write(path).is_ok());

  std::string out;
  ASSERT_EQ(run("'" + path + "'", &out), 0) << out;
  EXPECT_TRUE(contains(out, "version: 3\n")) << out;
  EXPECT_TRUE(contains(out, "alignment: 32\n"));
  EXPECT_TRUE(contains(out, "n_kv: 3\n"));
  EXPECT_TRUE(contains(out, "n_tensors: 3\n"));
  EXPECT_TRUE(contains(out, "array[string]"));
  EXPECT_TRUE(contains(out, "[ \"tok0\", \"tok1\",")) << out;
  EXPECT_TRUE(contains(out, ", ... ] (40 items)")) << out;
  EXPECT_FALSE(contains(out, "\"tok39\""));
  EXPECT_TRUE(contains(out, "array[array[int32]]"));
  EXPECT_TRUE(contains(out, "[ [ 1, 2 ] ]"));
  EXPECT_TRUE(contains(out, "a.weight")) << out;
  EXPECT_TRUE(contains(out, "q8_0"));
  EXPECT_TRUE(contains(out, "64 x 3"));
  EXPECT_TRUE(contains(out, "q4_K"));
  EXPECT_TRUE(contains(out, "total parameters: 711\n")) << out;  // 192 + 7 + 512
  EXPECT_TRUE(contains(out, "total tensor bytes: 520\n")) << out;  // 204 + 28 + 288

  std::string all;
  ASSERT_EQ(run("--all '" + path + "'", &all), 0);
  EXPECT_TRUE(contains(all, "\"tok39\" ]")) << all;
  EXPECT_FALSE(contains(all, "(40 items)"));
}

TEST(LlmGguf, Stories260K) {
  REQUIRE_TOOL();
  KESTREL_REQUIRE_SHARED();
  std::string out;
  ASSERT_EQ(run(test::shared_dir() + "/models/stories260K-q4_0.gguf", &out), 0) << out;
  EXPECT_TRUE(contains(out, "n_kv: 21\nn_tensors: 48\n")) << out;
  EXPECT_TRUE(contains(out, "(512 items)"));
  EXPECT_TRUE(contains(out, "total parameters: 292800\n"));
  EXPECT_TRUE(contains(out, "q4_0") && contains(out, "32 tensors"));
}

TEST(LlmGguf, ErrorsAreOneLineAndExit1) {
  REQUIRE_TOOL();
  std::string out;
  EXPECT_EQ(run("'" + test::tmp_path("missing.gguf") + "'", &out), 1);
  EXPECT_TRUE(contains(out, "llm-gguf: error: ")) << out;
  EXPECT_TRUE(contains(out, "missing.gguf: cannot open"));
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;

  std::string junk = test::tmp_path("junk.gguf");
  test::write_bytes(junk, {'G', 'G', 'U', 'F', 1, 0, 0, 0});
  EXPECT_EQ(run("'" + junk + "'", &(out = "")), 1);
  EXPECT_TRUE(contains(out, "GGUF version 1 is not supported")) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;

  EXPECT_EQ(run("", &(out = "")), 1);
  EXPECT_EQ(run("a b", &(out = "")), 1);
  EXPECT_EQ(run("--nope x", &(out = "")), 1);
  EXPECT_EQ(run("--help", &(out = "")), 0);
}

}  // namespace
}  // namespace kestrel
