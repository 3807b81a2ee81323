// llm-cli end to end: greedy text of stories260K-q4_0 equals llama.cpp's, --logits-out layout, and bad
// inputs give exit code 1 with a one-line error. Also llm-synth -> llm-cli on the written model.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/model/test_model_support.h"

namespace kestrel::test {
namespace {

std::string cli() { return bin_dir() + "/llm-cli"; }
std::string q4_model() { return shared_dir() + "/models/stories260K-q4_0.gguf"; }

// Runs a command capturing stderr only (stdout discarded).
int run_stderr(const std::string& cmd, std::string* err) { return run_command(cmd + " 2>&1 >/dev/null", err); }

bool one_line_error(const std::string& s) {
  return !s.empty() && s.find('\n') == s.size() - 1 && s.rfind("llm-cli: error: ", 0) == 0;
}

TEST(LlmCli, GreedyContinuationMatchesLlamaCpp) {
  KESTREL_REQUIRE_SHARED();
  RefFile ref;
  ASSERT_TRUE(read_ref_file(shared_dir() + "/models/stories260K-q4_0.ref.txt", &ref));
  std::string out;
  ASSERT_EQ(run_command(cli() + " -m " + q4_model() +
                            " -p 'Once upon a time' --temp 0 -n 100 --cache-type f32 -t 1 --no-echo 2>/dev/null",
                        &out),
            0);
  EXPECT_EQ(out, ref.greedy_text + "\n");
  out.clear();  // weights copied to the heap instead of mapped: same tokens
  ASSERT_EQ(run_command(cli() + " -m " + q4_model() +
                            " -p 'Once upon a time' --temp 0 -n 100 --cache-type f32 -t 1 --no-echo --no-mmap 2>/dev/null",
                        &out),
            0);
  EXPECT_EQ(out, ref.greedy_text + "\n");

  // With the prompt echoed, and the logits of every prompt position written out.
  const std::string logits = temp_dir() + "/cli_logits.f32";
  out.clear();
  ASSERT_EQ(run_command(cli() + " -m " + q4_model() + " -p 'Once upon a time' --temp 0 -n 5 -c 64 --cache-type f32 " +
                            "--logits-out " + logits + " 2>/dev/null",
                        &out),
            0);
  EXPECT_EQ(out.rfind("Once upon a time, there was", 0), 0u) << out;
  const std::vector<float> l = read_f32_file(logits);
  ASSERT_EQ(l.size(), ref.prompt_ids.size() * ref.n_vocab);
  for (size_t p = 0; p < ref.prompt_ids.size(); ++p)
    EXPECT_LE(max_abs_diff(l.data() + p * ref.n_vocab, ref.logits[p].data(), ref.n_vocab), 2e-2f) << p;
}

TEST(LlmCli, StatsGoToStderr) {
  KESTREL_REQUIRE_SHARED();
  std::string err;
  ASSERT_EQ(run_stderr(cli() + " -m " + q4_model() + " -p 'Once upon a time' -n 8 --seed 3 -t 1", &err), 0);
  EXPECT_NE(err.find("load"), std::string::npos) << err;
  EXPECT_NE(err.find("prompt 5 tokens"), std::string::npos) << err;
  EXPECT_NE(err.find("tok/s"), std::string::npos) << err;
  EXPECT_NE(err.find("isa "), std::string::npos) << err;
  EXPECT_NE(err.find("threads 1"), std::string::npos) << err;
  // Seeded sampling is reproducible.
  std::string a, b;
  const std::string cmd = cli() + " -m " + q4_model() + " -p 'Once upon a time' -n 20 --seed 7 --temp 1 2>/dev/null";
  ASSERT_EQ(run_command(cmd, &a), 0);
  ASSERT_EQ(run_command(cmd, &b), 0);
  EXPECT_EQ(a, b);
}

TEST(LlmCli, BadInputsAreOneLineErrors) {
  KESTREL_REQUIRE_SHARED();
  const std::string m = " -m " + q4_model();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {" -m " + temp_dir() + "/missing.gguf -p hi", "missing.gguf"},
      {m + " -p hi --bogus", "--bogus"},
      {m + " -p hi -n abc", "abc"},
      {m + " -p ''", "empty prompt"},
      {m, "empty prompt"},
      {m + " -p hi --cache-type q8_0", "cache-type"},
      {m + " -p 'Once upon a time there was a big dog' -c 4", "longer than the context"},
      {" -p hi", "no model"},
      {m + " -f " + temp_dir() + "/no-such-prompt.txt", "no-such-prompt.txt"},
  };
  for (const auto& [args, needle] : cases) {
    std::string err;
    EXPECT_EQ(run_stderr(cli() + args, &err), 1) << args;
    EXPECT_TRUE(one_line_error(err)) << args << " -> " << err;
    EXPECT_NE(err.find(needle), std::string::npos) << args << " -> " << err;
  }
  // A context above the training context is a warning (as in llama.cpp), not an error.
  std::string err;
  EXPECT_EQ(run_stderr(cli() + m + " -p hi -n 2 -c 256", &err), 0);
  EXPECT_NE(err.find("warning"), std::string::npos) << err;
}

TEST(LlmCli, SynthRoundTrip) {
  const std::string path = temp_dir() + "/synth_cli.gguf";
  std::string err;
  ASSERT_EQ(run_stderr(bin_dir() + "/llm-synth " + path +
                           " --dim 128 --layers 2 --heads 4 --kv-heads 2 --ff 256 --vocab 1000 --tied --type q4_0 --seed 5",
                       &err),
            0)
      << err;
  std::string out;
  ASSERT_EQ(run_command(cli() + " -m " + path + " --info", &out), 0);
  EXPECT_NE(out.find("Q4_0"), std::string::npos) << out;
  EXPECT_NE(out.find("n_vocab 1000"), std::string::npos) << out;
  EXPECT_NE(out.find("tied 1"), std::string::npos) << out;
  out.clear();
  ASSERT_EQ(run_command(cli() + " -m " + path + " -p 'Once upon a time' -n 16 --temp 0 --no-echo 2>/dev/null", &out), 0);
  EXPECT_FALSE(out.empty());
  EXPECT_EQ(run_stderr(bin_dir() + "/llm-synth " + path + " --dim 100 --heads 3", &err), 1);
  EXPECT_EQ(run_stderr(bin_dir() + "/llm-synth", &err), 1);
}

}  // namespace
}  // namespace kestrel::test
