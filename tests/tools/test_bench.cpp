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
  ASSERT_EQ(v->size(), 2u * 2u * 3u);  // models x threads x (pp16, pp32, tg4)
  std::set<std::string> seen;
  for (const json::Json& o : *v) {
    ASSERT_TRUE(o.is_object());
    for (const char* k : {"model", "type", "test", "isa", "model_filename"}) {
      ASSERT_TRUE(o.contains(k)) << k;
      EXPECT_TRUE(o[k].is_string()) << k;
    }
    for (const char* k : {"n_threads", "n_prompt", "n_gen", "model_size", "model_n_params", "avg_ns"}) {
      ASSERT_TRUE(o.contains(k)) << k;
      EXPECT_TRUE(json::is_int(o[k])) << k;
    }
    ASSERT_TRUE(o.contains("samples_ts"));
    const json::Json& samples = o["samples_ts"];
    ASSERT_TRUE(samples.is_array());
    ASSERT_EQ(samples.size(), 2u);  // -r 2
    double sum = 0;
    for (const auto& s : samples) {
      ASSERT_TRUE(s.is_number());
      EXPECT_GT(s.get<double>(), 0);
      sum += s.get<double>();
    }
    EXPECT_NEAR(o["avg_ts"].get<double>(), sum / 2, 1e-3 * sum);
    EXPECT_GE(o["stddev_ts"].get<double>(), 0);
    const std::string test = o["test"].get<std::string>();
    const int p = o["n_prompt"].get<int>(), g = o["n_gen"].get<int>();
    EXPECT_EQ(test, p > 0 ? "pp" + std::to_string(p) : "tg" + std::to_string(g));
    EXPECT_TRUE((p == 0) != (g == 0));
    seen.insert(o["type"].get<std::string>() + "/" + test + "/" + std::to_string(o["n_threads"].get<int>()));
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

// -d: each test after an untimed context of D tokens, named and reported as llama-bench does.
TEST(Bench, DepthRunsEachTestAfterAContext) {
  KESTREL_REQUIRE_SHARED();
  RunResult r = bench("-m " + model_file("stories260K-q8_0.gguf") + " -p 8 -n 4 -d 0,32 -t 1 -r 1 -o json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto v = json::parse(r.out);
  ASSERT_TRUE(v) << v.error() << "\n" << r.out;
  ASSERT_EQ(v->size(), 4u);  // (pp8, tg4) x (d0, d32)
  std::set<std::string> seen;
  for (const json::Json& o : *v) {
    ASSERT_TRUE(json::is_int(o["n_depth"]));
    const int d = o["n_depth"].get<int>();
    const std::string test = o["test"].get<std::string>();
    EXPECT_EQ(test.find(" @ d") != std::string::npos, d > 0) << test;
    seen.insert(test);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"pp8", "tg4", "pp8 @ d32", "tg4 @ d32"}));
}

TEST(BenchErrors, BadArguments) {
  KESTREL_REQUIRE_SHARED();
  const std::string m = model_file("stories260K-f32.gguf");
  expect_one_line_error(bench(""), "llm-bench", "no model given");
  expect_one_line_error(bench("-m " + m + " -o xml"), "llm-bench", "expected md or json");
  expect_one_line_error(bench("-m " + m + " -r 0"), "llm-bench", "-r");
  expect_one_line_error(bench("-m " + m + " -p 12,x"), "llm-bench", "invalid value '12,x' for -p");
  expect_one_line_error(bench("-m " + m + " -t 0"), "llm-bench", "-t");
  expect_one_line_error(bench("-m " + m + " -d -5"), "llm-bench", "invalid value '-5' for -d");
  expect_one_line_error(bench("-m " + m + " -p 0 -n 0"), "llm-bench", "nothing to do");
  expect_one_line_error(bench("-m " + shell_quote(temp_dir() + "/missing.gguf")), "llm-bench", "missing.gguf");
}

}  // namespace
}  // namespace kestrel::test
