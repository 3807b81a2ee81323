// llm-bench: JSON and markdown output structure (not speed: that is measured by benchmarks, not tests)
// and error handling.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "cli/common_json.h"
#include "tests/common/test_paths.h"
#include "tests/tools/tools_test_util.h"

namespace kestrel::test {
namespace {

namespace json = cli::json;

std::string model_file(const std::string& name) { return shell_quote(shared_dir() + "/models/" + name); }
RunResult bench(const std::string& args) { return run(program("llm-bench") + " " + args); }

TEST(Bench, JsonOutputHasOneObjectPerTest) {
  KESTREL_REQUIRE_SHARED();
  RunResult r = bench("-m " + model_file("stories260K-f32.gguf") + " -m " + model_file("stories260K-q8_0.gguf") +
                      " -p 16,32 -n 4 -t 1,2 -r 2 -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto v = json::parse(r.out);
  ASSERT_TRUE(v) << v.error() << "\n" << r.out;
  ASSERT_TRUE(v->is_array());
  ASSERT_EQ(v->items.size(), 2u * 2u * 3u);  // models x threads x (pp16, pp32, tg4)
  std::set<std::string> seen;
  for (const json::Value& o : v->items) {
    ASSERT_TRUE(o.is_object());
    for (const char* k : {"model", "type", "test", "isa", "model_filename"}) {
      ASSERT_NE(o.get(k), nullptr) << k;
      EXPECT_TRUE(o.get(k)->is_string()) << k;
    }
    for (const char* k : {"n_threads", "n_prompt", "n_gen", "model_size", "model_n_params", "avg_ns"}) {
      ASSERT_NE(o.get(k), nullptr) << k;
      EXPECT_TRUE(o.get(k)->is_int()) << k;
    }
    const json::Value* samples = o.get("samples_ts");
    ASSERT_NE(samples, nullptr);
    ASSERT_TRUE(samples->is_array());
    ASSERT_EQ(samples->items.size(), 2u);  // -r 2
    double sum = 0;
    for (const auto& s : samples->items) {
      ASSERT_TRUE(s.is_number());
      EXPECT_GT(s.number, 0);
      sum += s.number;
    }
    EXPECT_NEAR(o.get("avg_ts")->number, sum / 2, 1e-3 * sum);
    EXPECT_GE(o.get("stddev_ts")->number, 0);
    const std::string test = o.get("test")->str;
    const int p = static_cast<int>(o.get("n_prompt")->number), g = static_cast<int>(o.get("n_gen")->number);
    EXPECT_EQ(test, p > 0 ? "pp" + std::to_string(p) : "tg" + std::to_string(g));
    EXPECT_TRUE((p == 0) != (g == 0));
    seen.insert(o.get("type")->str + "/" + test + "/" + std::to_string(static_cast<int>(o.get("n_threads")->number)));
  }
  EXPECT_EQ(seen.size(), 12u);
  EXPECT_TRUE(seen.count("Q8_0/tg4/2")) << "types: F32 and Q8_0 expected";
  EXPECT_TRUE(seen.count("F32/pp32/1"));
}

TEST(Bench, MarkdownTableAndSkippedTests) {
  KESTREL_REQUIRE_SHARED();
  RunResult r = bench("-m " + model_file("stories260K-q4_0.gguf") + " -p 0 -n 4 -r 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("| model"), std::string::npos);
  EXPECT_NE(r.out.find("t/s"), std::string::npos);
  EXPECT_NE(r.out.find("tg4"), std::string::npos);
  EXPECT_EQ(r.out.find("pp"), std::string::npos) << "-p 0 skips prompt processing";
  EXPECT_NE(r.out.find("Q4_0"), std::string::npos);
  EXPECT_NE(r.out.find("CPU "), std::string::npos) << "the ISA is shown in the backend column";
}

TEST(BenchErrors, BadArguments) {
  KESTREL_REQUIRE_SHARED();
  const std::string m = model_file("stories260K-f32.gguf");
  expect_one_line_error(bench(""), "llm-bench", "no model given");
  expect_one_line_error(bench("-m " + m + " -o xml"), "llm-bench", "expected md or json");
  expect_one_line_error(bench("-m " + m + " -r 0"), "llm-bench", "-r");
  expect_one_line_error(bench("-m " + m + " -p 12,x"), "llm-bench", "invalid value '12,x' for -p");
  expect_one_line_error(bench("-m " + m + " -t 0"), "llm-bench", "-t");
  expect_one_line_error(bench("-m " + m + " -p 0 -n 0"), "llm-bench", "nothing to do");
  expect_one_line_error(bench("-m " + shell_quote(temp_dir() + "/missing.gguf")), "llm-bench", "missing.gguf");
}

}  // namespace
}  // namespace kestrel::test
