// llm-perplexity: agreement with llama.cpp's perplexity (llref ppl), KL divergence against a saved base,
// multiple-choice scoring and its JSONL parser, and error handling.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "cli/common_json.h"
#include "model/synthetic_model.h"
#include "tests/common/test_paths.h"
#include "tests/tools/tools_test_util.h"

namespace kestrel::test {
namespace {

namespace json = cli::json;

std::string story() { return tools_data_dir() + "/story.txt"; }
std::string choices() { return tools_data_dir() + "/choices.jsonl"; }
std::string model_file(const std::string& name) { return shared_dir() + "/models/" + name; }

RunResult perplexity(const std::string& args) { return run(program("llm-perplexity") + " " + args); }

std::string write_file(const std::string& name, const std::string& text) {
  const std::string p = temp_dir() + "/" + name;
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

TEST(Perplexity, MatchesLlamaCppOnStories260K) {
  KESTREL_REQUIRE_SHARED();
  KESTREL_REQUIRE_LLREF();
  const std::string m = shell_quote(model_file("stories260K-f32.gguf"));
  // Same numerics on both sides: F32 KV cache, no flash attention. One llref thread: its spinning
  // thread pool is very slow on a loaded machine.
  RunResult ref = run(shell_quote(llref_path()) + " ppl " + m + " " + shell_quote(story()) + " -c 128 -t 1 -fa off -ctk f32 -ctv f32");
  ASSERT_EQ(ref.rc, 0) << ref.err;
  RunResult ours = perplexity("-m " + m + " -f " + shell_quote(story()) + " -c 128 -t 2 -ctk f32");
  ASSERT_EQ(ours.rc, 0) << ours.err;
  double ppl_ref, err_ref, ppl, err;
  ASSERT_TRUE(parse_final_ppl(ref.out, &ppl_ref, &err_ref)) << ref.out;
  ASSERT_TRUE(parse_final_ppl(ours.out, &ppl, &err)) << ours.out;
  EXPECT_NEAR(ppl, ppl_ref, 1e-3 * ppl_ref);
  EXPECT_NEAR(err, err_ref, 1e-2 * err_ref);
  // Running estimates are printed per chunk like llama-perplexity: [1]x,[2]y,...
  EXPECT_NE(ours.out.find("[1]"), std::string::npos);
  EXPECT_NE(ours.out.find("[28]"), std::string::npos);
}

TEST(Perplexity, ChunksAndBatchSizeDoNotChangeTheAnswer) {
  KESTREL_REQUIRE_SHARED();
  const std::string m = shell_quote(model_file("stories260K-f32.gguf"));
  RunResult whole = perplexity("-m " + m + " -f " + shell_quote(story()) + " -c 64 --chunks 6 -t 1 -ctk f32");
  RunResult pieces = perplexity("-m " + m + " -f " + shell_quote(story()) + " -c 64 --chunks 6 -b 16 -t 2 -ctk f32");
  ASSERT_EQ(whole.rc, 0) << whole.err;
  ASSERT_EQ(pieces.rc, 0) << pieces.err;
  double a, ea, b, eb;
  ASSERT_TRUE(parse_final_ppl(whole.out, &a, &ea));
  ASSERT_TRUE(parse_final_ppl(pieces.out, &b, &eb));
  EXPECT_NEAR(a, b, 1e-4 * a);
  EXPECT_EQ(whole.out.find("[7]"), std::string::npos) << "--chunks 6 must stop after six chunks";
}

TEST(KlDivergence, SelfComparisonIsZeroAndQuantizedModelsDiverge) {
  KESTREL_REQUIRE_SHARED();
  const std::string base = temp_dir() + "/base.kld";
  RunResult r = perplexity("-m " + shell_quote(model_file("stories260K-f32.gguf")) + " -f " + shell_quote(story()) +
                           " -c 64 --chunks 8 -t 2 --kl-divergence-base " + shell_quote(base));
  ASSERT_EQ(r.rc, 0) << r.err;
  auto kld = [&](const std::string& model, json::Json* out) {
    const std::string stats = temp_dir() + "/stats-" + model + ".json";
    RunResult k = perplexity("-m " + shell_quote(model_file(model)) + " --kl-divergence-base " + shell_quote(base) +
                             " --kl-divergence -t 2 --stats-json " + shell_quote(stats));
    ASSERT_EQ(k.rc, 0) << k.err;
    EXPECT_NE(k.out.find("Mean    KLD:"), std::string::npos);
    EXPECT_NE(k.out.find("Same top p:"), std::string::npos);
    std::ifstream f(stats);
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto v = cli::json::parse(text);
    ASSERT_TRUE(v) << v.error();
    *out = *v;
  };
  json::Json self, q8, q4;
  kld("stories260K-f32.gguf", &self);
  kld("stories260K-q8_0.gguf", &q8);
  kld("stories260K-q4_0.gguf", &q4);
  auto num = [](const json::Json& v, const char* k) { return v.contains(k) ? v[k].get<double>() : -1.0; };
  EXPECT_EQ(num(self, "n"), 8 * 31);
  EXPECT_LT(num(self, "kld_mean"), 1e-6);
  EXPECT_DOUBLE_EQ(num(self, "same_top"), 1.0);
  EXPECT_NEAR(num(self, "ppl_ratio"), 1.0, 1e-6);
  EXPECT_GT(num(q8, "kld_mean"), 0.0);
  EXPECT_GT(num(q4, "kld_mean"), num(q8, "kld_mean")) << "4-bit weights should diverge more than 8-bit";
  EXPECT_GT(num(q4, "kld_max"), num(q4, "kld_median"));
  EXPECT_LT(num(q4, "same_top"), 1.0);
  EXPECT_GT(num(q4, "same_top"), 0.5);
}

TEST(KlDivergence, MismatchedBaseIsAnError) {
  KESTREL_REQUIRE_SHARED();
  const std::string base = temp_dir() + "/base-mismatch.kld";
  const std::string m = shell_quote(model_file("stories260K-f32.gguf"));
  ASSERT_EQ(perplexity("-m " + m + " -f " + shell_quote(story()) + " -c 64 --chunks 2 -t 1 --kl-divergence-base " + shell_quote(base)).rc, 0);
  // Different context size.
  expect_one_line_error(perplexity("-m " + m + " --kl-divergence --kl-divergence-base " + shell_quote(base) + " -c 128"),
                        "llm-perplexity", "base run used -c 64");
  // Different text.
  const std::string other = write_file("other.txt", std::string(4000, 'a'));
  expect_one_line_error(perplexity("-m " + m + " --kl-divergence --kl-divergence-base " + shell_quote(base) + " -f " + shell_quote(other)),
                        "llm-perplexity", "tokens differ");
  // Different vocabulary.
  SyntheticSpec spec;
  spec.n_vocab = 300;
  spec.n_layer = 1;
  const std::string synth = temp_dir() + "/synth-v300.gguf";
  ASSERT_TRUE(write_synthetic_model(synth, spec).is_ok());
  expect_one_line_error(perplexity("-m " + shell_quote(synth) + " --kl-divergence --kl-divergence-base " + shell_quote(base)),
                        "llm-perplexity", "vocabulary of 512 tokens");
  // Not a base file / truncated base file.
  expect_one_line_error(perplexity("-m " + m + " --kl-divergence --kl-divergence-base " + shell_quote(story())),
                        "llm-perplexity", "not a KL-divergence base file");
  std::ifstream in(base, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string cut = write_file("cut.kld", bytes.substr(0, bytes.size() - 100));
  expect_one_line_error(perplexity("-m " + m + " --kl-divergence --kl-divergence-base " + shell_quote(cut)), "llm-perplexity",
                        "truncated or corrupt");
}

TEST(PerplexityErrors, BadInputs) {
  KESTREL_REQUIRE_SHARED();
  const std::string m = shell_quote(model_file("stories260K-f32.gguf"));
  expect_one_line_error(perplexity("-m " + m + " -f " + shell_quote(temp_dir() + "/missing.txt")), "llm-perplexity", "cannot open text file");
  const std::string short_text = write_file("short.txt", "Once upon a time there was a cat.");
  expect_one_line_error(perplexity("-m " + m + " -f " + shell_quote(short_text) + " -c 64"), "llm-perplexity", "need at least 128");
  expect_one_line_error(perplexity("-m " + m), "llm-perplexity", "no text given");
  expect_one_line_error(perplexity("-f " + shell_quote(story())), "llm-perplexity", "no model given");
  expect_one_line_error(perplexity("-m " + shell_quote(temp_dir() + "/nope.gguf") + " -f " + shell_quote(story())), "llm-perplexity", "nope.gguf");
  expect_one_line_error(perplexity("-m " + m + " --kl-divergence -f " + shell_quote(story())), "llm-perplexity", "needs --kl-divergence-base");
  expect_one_line_error(perplexity("-m " + m + " -f " + shell_quote(story()) + " -c 2"), "llm-perplexity", "-c");
}

TEST(MultipleChoice, ScoresTasks) {
  KESTREL_REQUIRE_SHARED();
  const std::string stats = temp_dir() + "/mc.json";
  RunResult r = perplexity("-m " + shell_quote(model_file("stories260K-f32.gguf")) + " --multiple-choice " + shell_quote(choices()) +
                           " -c 128 -t 2 --stats-json " + shell_quote(stats));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("Final result: acc = "), std::string::npos);
  std::ifstream f(stats);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto v = cli::json::parse(text);
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ((*v)["tasks"].get<int>(), 12);
  // The tasks are easy for a TinyStories model (one sensible ending among nonsense): far above chance (1/3).
  EXPECT_GE((*v)["acc"].get<double>(), 0.6);
}

TEST(MultipleChoice, MalformedLinesAreErrorsNamingTheLine) {
  KESTREL_REQUIRE_SHARED();
  const std::string m = shell_quote(model_file("stories260K-f32.gguf"));
  auto check = [&](const std::string& name, const std::string& content, const std::string& needle) {
    const std::string p = write_file(name, content);
    expect_one_line_error(perplexity("-m " + m + " --multiple-choice " + shell_quote(p) + " -c 64"), "llm-perplexity", needle);
  };
  check("mc1.jsonl", "{\"context\": \"a\", \"endings\": [\"b\"], \"label\": 0}\n", "mc1.jsonl:1: \"endings\"");
  check("mc2.jsonl", "\n{\"context\": \"a\", \"endings\": [\"b\", \"c\"], \"label\": 0,}\n", "mc2.jsonl:2: invalid JSON");
  check("mc3.jsonl", "{\"context\": \"a\", \"endings\": [\"b\", \"c\"], \"label\": 2}\n", "not an index");
  check("mc4.jsonl", "{\"context\": 5, \"endings\": [\"b\", \"c\"], \"label\": 0}\n", "\"context\" must be a string");
  check("mc5.jsonl", "{\"context\": \"a\", \"endings\": [\"b\", \"c\"], \"label\": 0.5}\n", "\"label\" must be an integer");
  check("mc6.jsonl", "[1, 2]\n", "expected a JSON object");
  check("mc7.jsonl", "\n\n", "no tasks");
  check("mc8.jsonl", "{\"context\": \"a\", \"endings\": [\"b\", \"c\"], \"label\": 0}\n{\"context\": \"unterminated\n", "mc8.jsonl:2");
}

// ---- the JSON reader used for task files and tool output (nlohmann-json behind cli/common_json.h)

TEST(Json, ParsesValuesAndEscapes) {
  auto v = cli::json::parse(R"( {"a": [1, -2.5e1, true, false, null], "s": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "o": {}} )");
  ASSERT_TRUE(v) << v.error();
  const json::Json& j = *v;
  ASSERT_TRUE(j["a"].is_array());
  EXPECT_EQ(j["a"].size(), 5u);
  EXPECT_EQ(j["a"][1].get<double>(), -25.0);
  EXPECT_TRUE(json::is_int(j["a"][0]));
  EXPECT_FALSE(json::is_int(j["a"][1]));
  EXPECT_EQ(j["s"].get<std::string>(), "x\"\\/\b\f\n\r\t\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_TRUE(j["o"].is_object());
  EXPECT_FALSE(j.contains("missing"));
  // keys keep their order, as the tools write them
  auto o = cli::json::parse(R"({"z": 1, "a": 2})");
  EXPECT_EQ(o->begin().key(), "z");
  // quote() (llref's piece format) round-trips through parse(); dump() never throws on bad UTF-8.
  const std::string raw = std::string("tab\there \"q\" back\\slash \x01 end");
  auto back = cli::json::parse(cli::json::quote(raw));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->get<std::string>(), raw);
  EXPECT_EQ(cli::json::dump(json::Json(std::string("a\xff"))), "\"a\xEF\xBF\xBD\"");
}

TEST(Json, RejectsMalformedInput) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\":1,}", "[01]", "1.", "-", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"",
                          "\"\\udc00\"", "tru", "{\"a\" 1}", "{1: 2}", "[1 2]", "\"a\nb\"", "1 2", "nan", "1e999"}) {
    auto v = cli::json::parse(bad);
    EXPECT_FALSE(v) << "accepted: " << bad;
    if (!v) {
      EXPECT_NE(v.error().find("json.exception"), std::string::npos) << v.error();
    }
  }
  // Deep nesting is parsed and freed without recursion: hostile input cannot exhaust the stack.
  std::string deep(100000, '[');
  EXPECT_TRUE(cli::json::parse(deep + std::string(100000, ']')));
  EXPECT_FALSE(cli::json::parse(deep + std::string(99999, ']')));
}

}  // namespace
}  // namespace kestrel::test
