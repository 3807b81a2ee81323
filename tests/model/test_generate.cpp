// The shared generation loop (model/generate.h): StopMatcher's hold-back and cut, and Generator against a
// hand-written sample/eval loop on a synthetic model (greedy ids, token budget, full context, stop tokens,
// stop strings, prompt errors).
#include <gtest/gtest.h>

#include <algorithm>

#include "model/generate.h"
#include "model/synthetic_model.h"
#include "tests/model/test_model_support.h"

namespace kestrel::test {
namespace {

std::string push_all(StopMatcher& m, const std::vector<std::string>& pieces, std::vector<std::string>* shown) {
  std::string out;
  for (const std::string& p : pieces) {
    std::string s = m.push(p);
    if (shown) shown->push_back(s);
    out += s;
  }
  return out;
}

TEST(StopMatcher, NoStopsPassesTextThrough) {
  StopMatcher m({});
  EXPECT_EQ(m.push("abc"), "abc");
  EXPECT_EQ(m.push(""), "");
  EXPECT_EQ(m.flush(), "");
  EXPECT_FALSE(m.matched());
  StopMatcher empty({""});  // empty stop strings are ignored
  EXPECT_EQ(empty.push("abc"), "abc");
}

TEST(StopMatcher, HoldsBackAPossibleStartAndCutsAtTheMatch) {
  StopMatcher m({"###"});
  std::vector<std::string> shown;
  const std::string out = push_all(m, {"Hello #", "#", " no", " end ##", "#", " after"}, &shown);
  EXPECT_EQ(out, "Hello ## no end ");
  EXPECT_EQ(shown, (std::vector<std::string>{"Hello ", "", "## no", " end ", "", ""}));
  EXPECT_TRUE(m.matched());
  EXPECT_EQ(m.matched_stop(), "###");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, FlushReleasesAnUnfinishedStart) {
  StopMatcher m({"\n\nUser:"});
  EXPECT_EQ(m.push("answer\n"), "answer");
  EXPECT_EQ(m.push("\nUse"), "");
  EXPECT_EQ(m.flush(), "\n\nUse");
  EXPECT_FALSE(m.matched());
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
  StopMatcher m({"world", "lo w", "xyz"});
  EXPECT_EQ(m.push("hello world"), "hel");
  EXPECT_EQ(m.matched_stop(), "lo w");
  // Overlapping self-prefix: "aab" inside "aaab".
  StopMatcher o({"aab"});
  EXPECT_EQ(push_all(o, {"a", "a", "a", "b", "c"}, nullptr), "a");
  EXPECT_TRUE(o.matched());
}

TEST(StopMatcher, MultiByteStopsKeepCharactersWhole) {
  StopMatcher m({"é!"});
  EXPECT_EQ(m.push("café"), "caf");  // "é" (2 bytes) could start the stop: held back whole
  EXPECT_EQ(m.push("?"), "é?");
  EXPECT_EQ(m.push("né!"), "n");
  EXPECT_TRUE(m.matched());
}

std::unique_ptr<Model> synthetic(int n_ctx) {
  SyntheticSpec spec;
  spec.n_vocab = 300;
  spec.n_embd = 64;
  spec.n_layer = 1;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ff = 96;
  spec.n_ctx = n_ctx;
  spec.seed = 11;
  const std::string path = temp_dir() + "/generate_synth.gguf";
  EXPECT_TRUE(write_synthetic_model(path, spec));
  auto m = Model::load(path);
  EXPECT_TRUE(m) << m.error();
  return m ? std::move(*m) : nullptr;
}

// The loop llm-cli had before Generator: the definition Generator must keep.
std::vector<int32_t> reference_greedy(const Model& m, const std::vector<int32_t>& prompt, int n) {
  auto s = Session::create(m, {.n_ctx = 64, .n_threads = 1});
  EXPECT_TRUE(s);
  Sampler sampler({.temp = 0});
  EXPECT_TRUE((*s)->eval(prompt));
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    const int32_t id = sampler.sample((*s)->logits(), m.config().n_vocab);
    if (m.tokenizer().is_eog(id)) break;
    out.push_back(id);
    EXPECT_TRUE((*s)->eval({id}));
  }
  return out;
}

struct GenRun {
  std::vector<int32_t> tokens;
  std::string text;
  FinishReason reason = FinishReason::Running;
};

GenRun run(const Model& m, const std::vector<int32_t>& prompt, const GenerateParams& gp, int n_ctx = 64) {
  auto s = Session::create(m, {.n_ctx = n_ctx, .n_threads = 1});
  EXPECT_TRUE(s);
  Generator gen(**s, m, gp);
  GenRun r;
  EXPECT_FALSE(gen.done() && gen.finish_reason() == FinishReason::Running);
  Status st = gen.start(prompt);
  EXPECT_TRUE(st) << st.message();
  while (!gen.done()) {
    auto piece = gen.next();
    EXPECT_TRUE(piece) << piece.error();
    if (!piece) break;
    r.text += *piece;
  }
  r.tokens = gen.tokens();
  r.reason = gen.finish_reason();
  EXPECT_EQ(gen.n_prompt(), static_cast<int>(prompt.size()));
  return r;
}

TEST(Generator, GreedyMatchesTheHandWrittenLoop) {
  auto m = synthetic(64);
  ASSERT_TRUE(m);
  const std::vector<int32_t> prompt = {1, 40, 77, 123};
  const std::vector<int32_t> ref = reference_greedy(*m, prompt, 20);
  ASSERT_FALSE(ref.empty());
  GenerateParams gp;
  gp.sampling.temp = 0;
  gp.max_tokens = 20;
  const GenRun r = run(*m, prompt, gp);
  EXPECT_EQ(r.tokens, ref);
  TokenStreamer streamer(m->tokenizer());  // random weights pick byte tokens too: invalid UTF-8 -> U+FFFD
  std::string text;
  for (int32_t id : ref) text += streamer.push(id);
  EXPECT_EQ(r.text, text + streamer.flush());
  EXPECT_EQ(r.reason, ref.size() == 20 ? FinishReason::Length : FinishReason::Eog);
}

TEST(Generator, BudgetContextAndStopTokens) {
  auto m = synthetic(64);
  ASSERT_TRUE(m);
  const std::vector<int32_t> prompt = {1, 40, 77, 123};
  GenerateParams gp;
  gp.sampling.temp = 0;
  gp.max_tokens = 0;
  GenRun r = run(*m, prompt, gp);
  EXPECT_TRUE(r.tokens.empty());
  EXPECT_EQ(r.reason, FinishReason::Length);

  // Unbounded: ends when the 12-token context is full (unless EOS comes first): 8 evals after the
  // 4-token prompt, and the 9th token sampled from the last position's logits.
  gp.max_tokens = -1;
  r = run(*m, prompt, gp, 12);
  const std::vector<int32_t> ref = reference_greedy(*m, prompt, 9);
  EXPECT_EQ(r.tokens, ref);
  if (ref.size() == 9) {
    EXPECT_EQ(r.reason, FinishReason::ContextFull);
  }

  ASSERT_GE(ref.size(), 4u);
  gp.stop_tokens = {ref[3]};
  r = run(*m, prompt, gp);
  const auto first = std::find(ref.begin(), ref.end(), ref[3]);
  EXPECT_EQ(r.tokens, std::vector<int32_t>(ref.begin(), first));
  EXPECT_EQ(r.reason, FinishReason::Eog);
}

TEST(Generator, StopStringCutsTheText) {
  auto m = synthetic(64);
  ASSERT_TRUE(m);
  const std::vector<int32_t> prompt = {1, 40, 77, 123};
  GenerateParams gp;
  gp.sampling.temp = 0;
  gp.max_tokens = 20;
  const GenRun full = run(*m, prompt, gp);
  ASSERT_GE(full.text.size(), 6u);
  // A stop string starting in the middle of the text (on a character boundary).
  size_t at = full.text.size() / 2;
  while (at > 0 && (static_cast<unsigned char>(full.text[at]) & 0xC0) == 0x80) --at;
  size_t end = at + 1;
  while (end < full.text.size() && (static_cast<unsigned char>(full.text[end]) & 0xC0) == 0x80) ++end;
  gp.stop = {full.text.substr(at, end - at)};  // one character
  const GenRun cut = run(*m, prompt, gp);
  const size_t first = full.text.find(gp.stop[0]);
  EXPECT_EQ(cut.text, full.text.substr(0, first));
  EXPECT_EQ(cut.reason, FinishReason::StopString);
  EXPECT_LE(cut.tokens.size(), full.tokens.size());
}

TEST(Generator, PromptErrors) {
  auto m = synthetic(64);
  ASSERT_TRUE(m);
  auto s = Session::create(*m, {.n_ctx = 8, .n_threads = 1});
  ASSERT_TRUE(s);
  Generator gen(**s, *m, {});
  EXPECT_TRUE(gen.done());
  Status st = gen.start({});
  EXPECT_FALSE(st);
  st = gen.start(std::vector<int32_t>(9, 5));
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("context"), std::string::npos) << st.message();
  EXPECT_TRUE(gen.done());
  EXPECT_EQ(gen.finish_reason(), FinishReason::Error);
  auto piece = gen.next();
  ASSERT_TRUE(piece);
  EXPECT_EQ(*piece, "");
}

}  // namespace
}  // namespace kestrel::test
