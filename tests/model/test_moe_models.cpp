// Whole Mixtral-shaped models through Kestrel's forward pass: synthetic models against llama.cpp's
// logits at every prompt position, and stories260K converted to identical experts with a uniform
// router, which must generate exactly what the dense model generates (in Kestrel and llama.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "model/llm.h"
#include "model/moe_convert.h"
#include "model/synthetic_model.h"
#include "tests/common/test_paths.h"

namespace kestrel {
namespace {

std::vector<int32_t> parse_ints(const std::string& s) {
  std::vector<int32_t> v;
  std::string cur;
  for (char c : s + ",") {
    if ((c >= '0' && c <= '9') || c == '-') {
      cur += c;
    } else if (!cur.empty()) {
      v.push_back(std::stoi(cur));
      cur.clear();
    }
  }
  return v;
}

// "key v1 v2 ..." line of a stories260K *.ref.txt file.
std::vector<int32_t> ref_ids(const std::string& ref_file, const std::string& key) {
  std::ifstream f(ref_file);
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key + " ", 0) == 0) return parse_ints(line.substr(key.size()));
  return {};
}

std::string shell_quote(const std::string& s) { return "'" + s + "'"; }

// Synthetic prompts run with 2 threads (the batched, pool-split path); the 100-step greedy runs use 1
// thread, as the reference did, and because on a loaded 2-core machine a 2-thread pool waits on
// descheduled workers at each of its ~60 small matmuls per token.
std::unique_ptr<Session> make_session(const Model& model, int n_threads) {
  SessionParams sp;
  sp.n_threads = n_threads;
  sp.cache_type = TensorType::F32;
  auto s = Session::create(model, sp);
  EXPECT_TRUE(s.is_ok()) << s.error();
  return s.is_ok() ? std::move(*s) : nullptr;
}

int32_t argmax(const float* v, int n) {
  int32_t best = 0;
  for (int i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

// ------------------------------------------------------------------ dense -> identical experts

struct ConvertCase {
  const char* model;  // stories260K-<model>.gguf
  int n_expert, n_used;
};

class MoeFromDense : public testing::TestWithParam<ConvertCase> {
 protected:
  void SetUp() override {
    KESTREL_REQUIRE_SHARED();
    const ConvertCase& c = GetParam();
    base_ = test::shared_dir() + "/models/stories260K-" + c.model;
    path_ = test::temp_dir() + "/moe_from_dense_" + c.model + "_" + std::to_string(c.n_expert) + "_" +
            std::to_string(c.n_used) + ".gguf";
    const Status st = moe_from_dense(base_ + ".gguf", path_, {c.n_expert, c.n_used});
    ASSERT_TRUE(st.is_ok()) << st.message();
  }
  std::string base_, path_;
};

TEST_P(MoeFromDense, KestrelGreedyEqualsDenseReference) {
  const std::vector<int32_t> prompt = ref_ids(base_ + ".ref.txt", "prompt_ids");
  const std::vector<int32_t> expected = ref_ids(base_ + ".ref.txt", "greedy_ids");
  ASSERT_FALSE(prompt.empty());
  ASSERT_EQ(expected.size(), 100u);
  auto model = Model::load(path_);
  ASSERT_TRUE(model.is_ok()) << model.error();
  ASSERT_EQ((*model)->config().n_expert, GetParam().n_expert);
  auto session = make_session(**model, 1);
  ASSERT_NE(session, nullptr);
  const int n_vocab = (*model)->config().n_vocab;
  ASSERT_TRUE(session->eval(prompt).is_ok());
  std::vector<int32_t> got;
  for (size_t i = 0; i < expected.size(); ++i) {
    got.push_back(argmax(session->logits(), n_vocab));
    if (i + 1 < expected.size()) {
      ASSERT_TRUE(session->eval({got.back()}).is_ok());
    }
  }
  EXPECT_EQ(got, expected);
}

TEST_P(MoeFromDense, LlamaCppGreedyEqualsDenseReference) {
  KESTREL_REQUIRE_LLREF();
  const std::vector<int32_t> expected = ref_ids(base_ + ".ref.txt", "greedy_ids");
  std::string out;
  const std::string cmd = test::llref_path() + " logits " + shell_quote(path_) +
                          " 'Once upon a time' -n 99 -k 1 -t 1 -fa off -ctk f32 -ctv f32 2>/dev/null";
  ASSERT_EQ(test::run_command(cmd, &out), 0) << cmd;
  const size_t at = out.find("{\"generated\":[");
  ASSERT_NE(at, std::string::npos) << out;
  const std::string list = out.substr(at + 14, out.find(']', at) - at - 14);
  EXPECT_EQ(parse_ints(list), expected);
}

INSTANTIATE_TEST_SUITE_P(Stories260K, MoeFromDense,
                         testing::Values(ConvertCase{"f32", 4, 2}, ConvertCase{"q4_0", 8, 1},
                                         ConvertCase{"q8_0", 3, 3}),
                         [](const testing::TestParamInfo<ConvertCase>& i) {
                           return std::string(i.param.model) + "_e" + std::to_string(i.param.n_expert) + "top" +
                                  std::to_string(i.param.n_used);
                         });

TEST(MoeFromDenseErrors, BadCountsAndNonDenseInputsAreRefused) {
  KESTREL_REQUIRE_SHARED();
  const std::string dense = test::shared_dir() + "/models/stories260K-f32.gguf";
  const std::string out = test::temp_dir() + "/moe_from_dense_errors.gguf";
  Status st = moe_from_dense(dense, out, {2, 3});
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("experts-used"), std::string::npos) << st.message();
  st = moe_from_dense(dense, out, {0, 0});
  EXPECT_FALSE(st.is_ok());
  st = moe_from_dense(test::temp_dir() + "/does_not_exist.gguf", out, {4, 2});
  EXPECT_FALSE(st.is_ok());
  ASSERT_TRUE(moe_from_dense(dense, out, {4, 2}).is_ok());
  st = moe_from_dense(out, out + ".again", {4, 2});  // already a MoE file
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("expert_count"), std::string::npos) << st.message();
}

TEST(MoeFromDenseCli, ConvertsAndReportsErrors) {
  KESTREL_REQUIRE_SHARED();
  const std::string bin = test::bin_dir() + "/llm-moe-from-dense";
  if (!std::ifstream(bin).good()) GTEST_SKIP() << bin << " not built";
  const std::string dense = test::shared_dir() + "/models/stories260K-f32.gguf";
  const std::string out = test::temp_dir() + "/moe_from_dense_cli.gguf";
  EXPECT_EQ(test::run_command(bin + " " + dense + " " + out + " --experts 4 --experts-used 2"), 0);
  auto model = Model::load(out);
  ASSERT_TRUE(model.is_ok()) << model.error();
  EXPECT_EQ((*model)->config().n_expert, 4);
  EXPECT_EQ((*model)->config().n_expert_used, 2);
  EXPECT_NE(test::run_command(bin + " " + dense + " " + out + " --experts 2 --experts-used 3 2>/dev/null"), 0);
  EXPECT_NE(test::run_command(bin + " " + dense + " 2>/dev/null"), 0);
  EXPECT_NE(test::run_command(bin + " " + dense + " " + out + " --experts x 2>/dev/null"), 0);
}

// ------------------------------------------------------------ synthetic Mixtral vs llama.cpp

struct SynthCase {
  TensorType type;
  int n_expert, n_used;
};

std::string synth_name(const testing::TestParamInfo<SynthCase>& i) {
  return std::string(type_name(i.param.type)) + "_e" + std::to_string(i.param.n_expert) + "top" +
         std::to_string(i.param.n_used);
}

// max |kestrel - llama.cpp| over all positions and vocab, relative to the largest |logit|. llama.cpp
// and Kestrel round activations the same way (F16 for F16 weights, Q8_0 for Q8_0/Q4_0), so what is
// left is float summation order and the SiLU's exp, amplified through the layers. With Q8_0/Q4_0 an
// ulp-level difference in a SwiGLU value occasionally lands on the other side of a Q8_0 rounding edge
// before the down projection: one quantum moves that token's logits by ~1e-2 relative (seen: 6e-3 on
// q4_0 4-expert top-1), and can flip an argmax that was a near tie, so argmax is asserted for F32 only.
double logit_tolerance(TensorType t) {
  switch (t) {
    case TensorType::F32: return 1e-4;
    case TensorType::F16: return 2e-3;
    default: return 1e-2;
  }
}

class MoeSyntheticVsLlamaCpp : public testing::TestWithParam<SynthCase> {};

TEST_P(MoeSyntheticVsLlamaCpp, LogitsAtEveryPromptPosition) {
  KESTREL_REQUIRE_LLREF();
  const SynthCase& c = GetParam();
  SyntheticSpec spec;
  spec.n_embd = 64;
  spec.n_layer = 2;
  spec.n_head = 8;
  spec.n_head_kv = 4;
  spec.n_ff = 96;
  spec.type = c.type;
  spec.n_expert = c.n_expert;
  spec.n_expert_used = c.n_used;
  spec.seed = 1234;
  const std::string path = test::temp_dir() + "/moe_synth_" + synth_name({c, 0}) + ".gguf";
  const Status st = write_synthetic_model(path, spec);
  ASSERT_TRUE(st.is_ok()) << st.message();

  const std::string prompt = "Once upon a time there was a small robot who liked trains";
  const std::string dump = path + ".logits";
  std::string tok_out, log_out;
  const std::string llref = test::llref_path();
  ASSERT_EQ(test::run_command(llref + " tokenize " + shell_quote(path) + " " + shell_quote(prompt) + " 2>/dev/null",
                              &tok_out), 0);
  const std::vector<int32_t> ids = parse_ints(tok_out.substr(0, tok_out.find('\n')));
  ASSERT_GE(ids.size(), 4u);
  // Prompt logits at every position, then kDecode single-token steps (llama.cpp's greedy choices, fed
  // back to Kestrel too) so both the grouped prompt path and the decode path are compared.
  constexpr int kDecode = 4;
  const std::string cmd = llref + " logits " + shell_quote(path) + " " + shell_quote(prompt) + " --all -n " +
                          std::to_string(kDecode) + " --dump " + shell_quote(dump) +
                          " -t 1 -fa off -ctk f32 -ctv f32 2>/dev/null";
  ASSERT_EQ(test::run_command(cmd, &log_out), 0) << cmd;
  const size_t gen_at = log_out.find("{\"generated\":[");
  ASSERT_NE(gen_at, std::string::npos) << log_out;
  const std::vector<int32_t> generated =
      parse_ints(log_out.substr(gen_at + 14, log_out.find(']', gen_at) - gen_at - 14));
  ASSERT_EQ(generated.size(), static_cast<size_t>(kDecode + 1));

  auto model = Model::load(path);
  ASSERT_TRUE(model.is_ok()) << model.error();
  const int n_vocab = (*model)->config().n_vocab;
  const size_t n_rows = ids.size() + kDecode;
  std::vector<float> ref(n_rows * static_cast<size_t>(n_vocab));
  {
    std::ifstream f(dump, std::ios::binary);
    f.read(reinterpret_cast<char*>(ref.data()), static_cast<std::streamsize>(ref.size() * sizeof(float)));
    ASSERT_EQ(static_cast<size_t>(f.gcount()), ref.size() * sizeof(float)) << "short llama.cpp dump " << dump;
  }
  auto session = make_session(**model, 2);
  ASSERT_NE(session, nullptr);
  const Status ev = session->eval(ids, true);
  ASSERT_TRUE(ev.is_ok()) << ev.message();

  double worst_prompt = 0, worst_decode = 0, scale = 0;
  int argmax_mismatch = 0;
  auto compare = [&](const float* got, size_t row, double* worst) {
    const float* want = ref.data() + row * n_vocab;
    for (int v = 0; v < n_vocab; ++v) {
      *worst = std::max(*worst, static_cast<double>(std::fabs(got[v] - want[v])));
      scale = std::max(scale, static_cast<double>(std::fabs(want[v])));
    }
    argmax_mismatch += argmax(got, n_vocab) != argmax(want, n_vocab);
  };
  for (size_t p = 0; p < ids.size(); ++p) compare(session->logits(static_cast<int>(p)), p, &worst_prompt);
  for (int step = 1; step <= kDecode; ++step) {
    const Status st = session->eval({generated[step - 1]});
    ASSERT_TRUE(st.is_ok()) << st.message();
    compare(session->logits(), ids.size() + step - 1, &worst_decode);
  }
  const double rel = std::max(worst_prompt, worst_decode) / scale;
  std::printf("moe synthetic %-14s %zu prompt + %d decode positions: worst |dlogit| prompt %.3g decode %.3g "
              "(rel %.3g, tolerance %.0e), argmax mismatches %d\n",
              synth_name({c, 0}).c_str(), ids.size(), kDecode, worst_prompt, worst_decode, rel,
              logit_tolerance(c.type), argmax_mismatch);
  EXPECT_LE(rel, logit_tolerance(c.type));
  if (c.type == TensorType::F32) {
    EXPECT_EQ(argmax_mismatch, 0);
  }
}

std::vector<SynthCase> synth_cases() {
  std::vector<SynthCase> v;
  for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::Q8_0, TensorType::Q4_0})
    for (auto [e, k] : {std::pair{8, 2}, std::pair{4, 1}}) v.push_back({t, e, k});
  return v;
}
INSTANTIATE_TEST_SUITE_P(Types, MoeSyntheticVsLlamaCpp, testing::ValuesIn(synth_cases()), synth_name);

}  // namespace
}  // namespace kestrel
