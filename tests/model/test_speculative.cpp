// Speculative decoding (model/speculative.h, Generator's verify step): greedy tokens with drafts equal
// plain greedy decoding — with a drafter that is deliberately wrong at known places (rollback of the KV
// cache, also through Gemma 3 sliding-window rings), with prompt lookup and with a quantized draft model,
// on llm-synth models and stories260K — plus the lookup matcher itself, the vocabulary check and the
// errors of the API and of llm-cli's flags.
#include <gtest/gtest.h>

#include "model/generate.h"
#include "model/speculative.h"
#include "model/synthetic_model.h"
#include "tests/model/test_model_support.h"

namespace kestrel::test {
namespace {

SyntheticSpec llama_spec(TensorType type = TensorType::F32) {
  SyntheticSpec s;
  s.n_vocab = 300;
  s.n_embd = 64;
  s.n_layer = 2;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ff = 128;
  s.n_ctx = 128;
  s.type = type;
  s.seed = 21;
  return s;
}

// Gemma 3 shape with a 4-token window on every other layer: with n_batch 6 the sliding layers keep
// rings of 4 + 6 - 1 = 9 rows, far fewer than the positions generated.
SyntheticSpec gemma3_spec(TensorType type = TensorType::F32) {
  SyntheticSpec s = llama_spec(type);
  s.arch = "gemma3";
  s.head_dim = 32;
  s.n_head = 4;
  s.n_head_kv = 1;
  s.n_swa = 4;
  s.swa_pattern = 2;
  s.tied_embeddings = true;
  s.seed = 23;
  return s;
}

std::unique_ptr<Model> load(const std::string& name, const SyntheticSpec& spec) {
  const std::string path = temp_dir() + "/" + name + ".gguf";
  EXPECT_TRUE(write_synthetic_model(path, spec));
  auto m = Model::load(path);
  EXPECT_TRUE(m) << m.error();
  return m ? std::move(*m) : nullptr;
}

struct GenOutcome {
  std::vector<int32_t> tokens;
  std::string text;
  FinishReason reason = FinishReason::Running;
  int n_drafted = 0, n_accepted = 0, n_evals = 0, n_decoded = 0;
};

SessionParams session_params(int n_batch) {
  return {.n_ctx = 96, .n_threads = 1, .cache_type = TensorType::F32, .n_batch = n_batch};
}

GenOutcome generate(const Model& m, const std::vector<int32_t>& prompt, GenerateParams gp, int n_batch = 512) {
  GenOutcome r;
  auto s = Session::create(m, session_params(n_batch));
  EXPECT_TRUE(s) << s.error();
  if (!s) return r;
  Generator gen(**s, m, gp);
  Status st = gen.start(prompt);
  EXPECT_TRUE(st) << st.message();
  while (st && !gen.done()) {
    auto piece = gen.next();
    EXPECT_TRUE(piece) << piece.error();
    if (!piece) break;
    r.text += *piece;
  }
  r.tokens = gen.tokens();
  r.reason = gen.finish_reason();
  r.n_drafted = gen.n_drafted();
  r.n_accepted = gen.n_accepted();
  r.n_evals = gen.n_evals();
  r.n_decoded = gen.n_decoded();
  return r;
}

GenerateParams greedy(int max_tokens) {
  GenerateParams gp;
  gp.sampling.temp = 0;
  gp.max_tokens = max_tokens;
  return gp;
}

// Guesses the known plain-greedy continuation, but wrong at every `wrong_every`-th guess of a step
// (and, every third step, at the first guess): each step is partly accepted, and the cache is rolled
// back over the rest.
class WrongAtKnownPlaces final : public Drafter {
 public:
  WrongAtKnownPlaces(std::vector<int32_t> reference, size_t prompt_len, int n_vocab, int wrong_every)
      : ref_(std::move(reference)), prompt_len_(prompt_len), n_vocab_(n_vocab), wrong_every_(wrong_every) {}
  Result<std::vector<int32_t>> draft(const std::vector<int32_t>& context, int max_n) override {
    std::vector<int32_t> out;
    const size_t g = context.size() - prompt_len_;  // tokens generated so far
    ++steps_;
    for (int i = 0; i < max_n && g + i < ref_.size(); ++i) {
      int32_t id = ref_[g + i];
      if ((i + 1) % wrong_every_ == 0 || (i == 0 && steps_ % 3 == 0)) id = (id + 1) % n_vocab_;
      out.push_back(id);
    }
    return out;
  }

 private:
  std::vector<int32_t> ref_;
  size_t prompt_len_;
  int n_vocab_, wrong_every_, steps_ = 0;
};

struct RollbackCase {
  const char* name;
  SyntheticSpec (*spec)(TensorType);
  TensorType type;
  int n_batch;
};

class SpeculativeRollback : public ::testing::TestWithParam<RollbackCase> {};

TEST_P(SpeculativeRollback, WrongGuessesAreRolledBackAndTheTokensArePlainGreedy) {
  const RollbackCase& c = GetParam();
  auto m = load(std::string("spec_rb_") + c.name, c.spec(c.type));
  ASSERT_TRUE(m);
  const std::vector<int32_t> prompt = {1, 17, 93, 41, 200, 8};
  const GenOutcome plain = generate(*m, prompt, greedy(60), c.n_batch);
  ASSERT_EQ(plain.tokens.size(), 60u);
  for (int wrong_every : {3, 5}) {
    WrongAtKnownPlaces drafter(plain.tokens, prompt.size(), m->config().n_vocab, wrong_every);
    GenerateParams gp = greedy(60);
    gp.drafter = &drafter;
    gp.n_draft = 8;
    const GenOutcome spec_out = generate(*m, prompt, gp, c.n_batch);
    EXPECT_EQ(spec_out.tokens, plain.tokens) << "wrong every " << wrong_every;
    EXPECT_EQ(spec_out.text, plain.text);
    EXPECT_EQ(spec_out.reason, FinishReason::Length);
    EXPECT_EQ(spec_out.n_decoded, plain.n_decoded);
    EXPECT_GT(spec_out.n_accepted, 0);
    EXPECT_LT(spec_out.n_accepted, spec_out.n_drafted);  // rejected guesses: the cache was rolled back
    EXPECT_LT(spec_out.n_evals, plain.n_evals);
    // Drafts never exceed n_batch - 1 (one forward pass; a ring holds every position a rollback needs).
    EXPECT_LE(spec_out.n_drafted, spec_out.n_evals * std::min(8, c.n_batch - 1));
  }
}

INSTANTIATE_TEST_SUITE_P(Models, SpeculativeRollback,
                         ::testing::Values(RollbackCase{"llama_f32", llama_spec, TensorType::F32, 512},
                                           RollbackCase{"llama_q4_0", llama_spec, TensorType::Q4_0, 512},
                                           RollbackCase{"gemma3_ring", gemma3_spec, TensorType::F32, 6},
                                           RollbackCase{"gemma3_ring_q8", gemma3_spec, TensorType::Q8_0, 5}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(LookupDrafter, MostRecentLongestMatch) {
  LookupDrafter d(3);
  // "1 2 3" ends the context and occurred at 0 and at 4: the later one is followed by 7 5 1 ...
  const std::vector<int32_t> c = {1, 2, 3, 9, 1, 2, 3, 7, 5, 1, 2, 3};
  EXPECT_EQ(*d.draft(c, 3), (std::vector<int32_t>{7, 5, 1}));
  EXPECT_EQ(*d.draft(c, 100), (std::vector<int32_t>{7, 5, 1, 2, 3}));  // up to the end of the context
  EXPECT_TRUE(d.draft(c, 0)->empty());
  // No 3- or 2-gram match: the last token alone.
  EXPECT_EQ(*d.draft({5, 6, 8, 4, 7, 5}, 2), (std::vector<int32_t>{6, 8}));
  // The 2-gram "4 5" beats the more recent 1-gram "5".
  EXPECT_EQ(*d.draft({4, 5, 6, 5, 9, 4, 5}, 1), (std::vector<int32_t>{6}));
  EXPECT_TRUE(d.draft({1, 2, 3, 4}, 4)->empty());
  EXPECT_TRUE(d.draft({7}, 4)->empty());
  EXPECT_TRUE(d.draft({}, 4)->empty());
}

// A prompt that repeats itself, so that lookup finds matches from the start.
std::vector<int32_t> repeating_prompt() {
  std::vector<int32_t> p = {1};
  for (int r = 0; r < 3; ++r)
    for (int32_t t : {40, 77, 123, 9, 250, 31, 64})
      p.push_back(t);
  return p;
}

TEST(Speculative, LookupGivesThePlainTokens) {
  for (const auto& [name, spec, n_batch] :
       {std::tuple{"llama", llama_spec(TensorType::F32), 512}, std::tuple{"gemma3", gemma3_spec(TensorType::F32), 6}}) {
    auto m = load(std::string("spec_lookup_") + name, spec);
    ASSERT_TRUE(m);
    const auto prompt = repeating_prompt();
    const GenOutcome plain = generate(*m, prompt, greedy(64), n_batch);
    GenerateParams gp = greedy(64);
    gp.lookup = 16;
    const GenOutcome spec_run = generate(*m, prompt, gp, n_batch);
    std::printf("[%s] lookup: %d drafted, %d accepted, %d evals for %d tokens\n", name, spec_run.n_drafted,
                spec_run.n_accepted, spec_run.n_evals, spec_run.n_decoded);
    EXPECT_EQ(spec_run.tokens, plain.tokens) << name;
    EXPECT_EQ(spec_run.text, plain.text) << name;
    EXPECT_GT(spec_run.n_drafted, 0) << name;
  }
}

TEST(Speculative, QuantizedDraftModelGivesThePlainTokens) {
  for (const auto& [name, target_spec, draft_type, n_batch] :
       {std::tuple{"llama", llama_spec(TensorType::F32), TensorType::Q4_0, 512},
        std::tuple{"gemma3", gemma3_spec(TensorType::F32), TensorType::Q8_0, 6}}) {
    auto target = load(std::string("spec_target_") + name, target_spec);
    SyntheticSpec ds = target_spec;
    ds.type = draft_type;  // the same random weights, quantized
    auto draft = load(std::string("spec_draft_") + name, ds);
    ASSERT_TRUE(target && draft);
    const std::vector<int32_t> prompt = {1, 40, 77, 123};
    const GenOutcome plain = generate(*target, prompt, greedy(48), n_batch);
    auto drafter = ModelDrafter::create(*target, *draft, session_params(n_batch), /*p_min=*/0.0f);
    ASSERT_TRUE(drafter) << drafter.error();
    GenerateParams gp = greedy(48);
    gp.drafter = drafter->get();
    gp.n_draft = 6;
    const GenOutcome spec_run = generate(*target, prompt, gp, n_batch);
    std::printf("[%s] draft model: %d drafted, %d accepted, %d evals for %d tokens\n", name, spec_run.n_drafted,
                spec_run.n_accepted, spec_run.n_evals, spec_run.n_decoded);
    EXPECT_EQ(spec_run.tokens, plain.tokens) << name;
    EXPECT_GT(spec_run.n_accepted, 0) << name;  // a quantized copy mostly agrees
    EXPECT_LT(spec_run.n_evals, plain.n_evals) << name;
  }
}

// A draft model that (almost) never agrees with the target (other random weights, same vocabulary)
// backs off: after two failed steps in a row it sits out 1, 2, 4 ... up to ModelDrafter::kMaxSkip steps,
// so it drafts in a handful of the ~47 decode steps instead of in every one; the tokens stay plain.
// The draft shares the target session's threads (SessionParams::pool), as llm-cli and llm-server do.
TEST(Speculative, DisagreeingDraftModelBacksOff) {
  auto target = load("spec_backoff_target", llama_spec());
  SyntheticSpec ds = llama_spec(TensorType::Q8_0);
  ds.seed = 99;  // other weights: its guesses are right about 1 in n_vocab times
  auto draft = load("spec_backoff_draft", ds);
  ASSERT_TRUE(target && draft);
  const std::vector<int32_t> prompt = {1, 40, 77, 123};
  const GenOutcome plain = generate(*target, prompt, greedy(48));
  auto s = Session::create(*target, session_params(512));
  ASSERT_TRUE(s) << s.error();
  SessionParams dp = session_params(512);
  dp.pool = &(*s)->pool();
  auto drafter = ModelDrafter::create(*target, *draft, dp, /*p_min=*/0.0f);
  ASSERT_TRUE(drafter) << drafter.error();
  GenerateParams gp = greedy(48);
  gp.drafter = drafter->get();
  gp.n_draft = 6;
  Generator gen(**s, *target, gp);
  ASSERT_TRUE(gen.start(prompt));
  while (!gen.done()) ASSERT_TRUE(gen.next());
  std::printf("disagreeing draft: %d drafted, %d accepted, %d evals for %d tokens\n", gen.n_drafted(),
              gen.n_accepted(), gen.n_evals(), gen.n_decoded());
  EXPECT_EQ(gen.tokens(), plain.tokens);
  EXPECT_GT(gen.n_drafted(), 0);
  EXPECT_LE(gen.n_drafted(), 10 * gp.n_draft);  // without the back-off: every step, ~47 x 6
}

TEST(Speculative, DraftWithAnotherVocabularyIsRefused) {
  auto target = load("spec_vocab_target", llama_spec());
  SyntheticSpec other = llama_spec();
  other.n_vocab = 320;
  auto draft = load("spec_vocab_draft", other);
  ASSERT_TRUE(target && draft);
  auto d = ModelDrafter::create(*target, *draft, session_params(512));
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().find("vocabulary"), std::string::npos) << d.error();
  EXPECT_TRUE(check_same_vocab(*target, *target));
}

TEST(Speculative, SettingsErrors) {
  auto m = load("spec_errors", llama_spec());
  ASSERT_TRUE(m);
  auto s = Session::create(*m, session_params(512));
  ASSERT_TRUE(s);
  GenerateParams gp = greedy(8);
  gp.lookup = 4;
  gp.sampling.temp = 0.8f;  // no speculative sampling: refused, not silently different
  Status st = Generator(**s, *m, gp).start({1, 2, 3});
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("temperature"), std::string::npos) << st.message();
  gp = greedy(8);
  gp.lookup = -1;
  EXPECT_FALSE(Generator(**s, *m, gp).start({1, 2, 3}));
  // A drafter needs to know what the session already holds.
  gp = greedy(8);
  gp.lookup = 4;
  ASSERT_TRUE((*s)->eval({1, 2}));
  st = Generator(**s, *m, gp).start({3});
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("holds 2"), std::string::npos) << st.message();
  Generator ok(**s, *m, gp);
  EXPECT_TRUE(ok.start({3}, false, {1, 2}));
}

// stories260K (llama.cpp's test model, real vocabulary): lookup and the Q8_0 / Q4_0 copies as drafts of
// the F32 model.
TEST(Speculative, Stories260KTokenIdentical) {
  KESTREL_REQUIRE_SHARED();
  auto target = Model::load(shared_dir() + "/models/stories260K-f32.gguf");
  ASSERT_TRUE(target) << target.error();
  const Model& t = **target;
  const std::vector<int32_t> prompt = t.tokenizer().encode("Once upon a time, there was a little dog named Max. Max", true, false);
  const GenOutcome plain = generate(t, prompt, greedy(80));
  ASSERT_GE(plain.tokens.size(), 40u);  // the story ends (EOS) after 77
  GenerateParams gp = greedy(80);
  gp.lookup = 8;
  const GenOutcome lk = generate(t, prompt, gp);
  EXPECT_EQ(lk.tokens, plain.tokens);
  EXPECT_GT(lk.n_drafted, lk.n_accepted);
  for (const char* file : {"stories260K-q8_0.gguf", "stories260K-q4_0.gguf"}) {
    auto draft = Model::load(shared_dir() + "/models/" + file);
    ASSERT_TRUE(draft) << draft.error();
    auto drafter = ModelDrafter::create(t, **draft, session_params(512));
    ASSERT_TRUE(drafter) << drafter.error();
    gp = greedy(80);
    gp.drafter = drafter->get();
    const GenOutcome dm = generate(t, prompt, gp);
    std::printf("[%s draft] %d drafted, %d accepted, %d evals for %d tokens\n", file, dm.n_drafted, dm.n_accepted,
                dm.n_evals, dm.n_decoded);
    EXPECT_EQ(dm.tokens, plain.tokens) << file;
    EXPECT_GT(dm.n_accepted, 0) << file;
  }
}

// llm-cli: speculative output equals plain output; bad flags are one-line errors with exit code 1.
TEST(Speculative, LlmCliFlags) {
  const std::string target = temp_dir() + "/spec_cli_target.gguf", draft = temp_dir() + "/spec_cli_draft.gguf",
                    other = temp_dir() + "/spec_cli_other.gguf";
  ASSERT_TRUE(write_synthetic_model(target, llama_spec(TensorType::F32)));
  ASSERT_TRUE(write_synthetic_model(draft, llama_spec(TensorType::Q8_0)));
  SyntheticSpec o = llama_spec();
  o.n_vocab = 320;
  ASSERT_TRUE(write_synthetic_model(other, o));
  const std::string cli = bin_dir() + "/llm-cli -m " + target + " -p 'Once upon a time' -n 40 -t 1 --no-echo --temp 0";
  std::string plain, lookup, dm, err;
  ASSERT_EQ(run_command(cli + " 2>/dev/null", &plain), 0);
  ASSERT_EQ(run_command(cli + " --lookup 8 2>/dev/null", &lookup), 0);
  ASSERT_EQ(run_command(cli + " -md " + draft + " --draft 4 2>/dev/null", &dm), 0);
  EXPECT_FALSE(plain.empty());
  EXPECT_EQ(lookup, plain);
  EXPECT_EQ(dm, plain);
  ASSERT_EQ(run_command(cli + " -md " + draft + " 2>&1 >/dev/null", &err), 0);
  EXPECT_NE(err.find("drafted"), std::string::npos) << err;
  EXPECT_NE(err.find("accepted"), std::string::npos) << err;

  const std::vector<std::pair<std::string, std::string>> bad = {
      {" --lookup -1", "--lookup"},
      {" -md " + draft + " --draft 0", "--draft"},
      {" -md " + temp_dir() + "/no-such-draft.gguf", "no-such-draft.gguf"},
      {" -md " + other, "vocabulary"},
      {" --lookup 4 --temp 0.8", "--temp 0"},
      {" --lookup 4 -md " + draft, "not both"},
      {" --draft 4", "-md"},
  };
  for (const auto& [args, needle] : bad) {
    err.clear();
    EXPECT_EQ(run_command(cli + args + " 2>&1 >/dev/null", &err), 1) << args;
    EXPECT_EQ(err.find('\n'), err.size() - 1) << args << " -> " << err;  // one line
    EXPECT_EQ(err.rfind("llm-cli: error: ", 0), 0u) << args << " -> " << err;
    EXPECT_NE(err.find(needle), std::string::npos) << args << " -> " << err;
  }
}

}  // namespace
}  // namespace kestrel::test
