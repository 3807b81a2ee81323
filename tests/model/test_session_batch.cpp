// Multi-sequence sessions (Session::eval_batch): several sequences' tokens in one forward pass give
// each sequence the logits it gets alone; truncate keeps a common prefix; the errors.
#include <gtest/gtest.h>

#include "kernels/isa.h"
#include "model/synthetic_model.h"
#include "tests/model/test_model_support.h"

namespace kestrel::test {
namespace {

std::unique_ptr<Model> load_model(TensorType type) {
  SyntheticSpec spec;
  spec.n_vocab = 300;
  spec.n_embd = 128;
  spec.n_layer = 2;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ff = 192;
  spec.n_ctx = 128;
  spec.type = type;
  spec.seed = 11;
  const std::string path = temp_dir() + "/batch_" + std::string(type_name(type)) + ".gguf";
  EXPECT_TRUE(write_synthetic_model(path, spec));
  auto m = Model::load(path);
  EXPECT_TRUE(m) << m.error();
  return m ? std::move(*m) : nullptr;
}

std::vector<int32_t> ids_for(int seed, int n) {
  std::vector<int32_t> ids(n);
  ids[0] = 1;
  for (int i = 1; i < n; ++i) ids[i] = 3 + (i * 31 + seed * 17) % 290;
  return ids;
}

// Three sequences: a prompt each (in one batch, different lengths), then decode steps that mix one
// sequence's prompt continuation with the others' single tokens. Each row must equal the same
// sequence evaluated alone in its own session, up to summation order: the F32 matmul has a packed
// multi-row kernel and a one-row kernel (measured 4.5e-6 here, as in test_session); Q8_0-activation
// types compute every row the same way whatever the batch (measured 0).
class BatchTypes : public ::testing::TestWithParam<TensorType> {};

TEST_P(BatchTypes, EachSequenceEqualsItselfAlone) {
  ASSERT_TRUE(kernels::init_isa_from_env());
  auto m = load_model(GetParam());
  ASSERT_TRUE(m);
  const int V = m->config().n_vocab;
  const std::vector<std::vector<int32_t>> seqs = {ids_for(0, 9), ids_for(1, 4), ids_for(2, 13)};
  auto multi = Session::create(*m, {.n_ctx = 40, .n_threads = 2, .cache_type = TensorType::F32, .n_seq = 3});
  ASSERT_TRUE(multi) << multi.error();
  EXPECT_EQ((*multi)->n_seq(), 3);

  // Prompts: the first 5 tokens of each (or all when shorter) in one batch.
  std::vector<SeqTokens> items;
  std::vector<int> done(3);
  for (int s = 0; s < 3; ++s) {
    done[s] = std::min<int>(5, seqs[s].size());
    items.push_back({s, seqs[s].data(), done[s], true});
  }
  ASSERT_TRUE((*multi)->eval_batch(items));
  std::vector<std::vector<float>> got(3);
  for (int s = 0; s < 3; ++s) got[s].assign((*multi)->item_logits(s), (*multi)->item_logits(s) + V);
  // The rest one token at a time, sequences in reverse order, sequence 1 (done) left out.
  while (done[0] < 9 || done[2] < 13) {
    items.clear();
    for (int s : {2, 0})
      if (done[s] < static_cast<int>(seqs[s].size())) items.push_back({s, seqs[s].data() + done[s], 1, true});
    ASSERT_TRUE((*multi)->eval_batch(items));
    for (size_t k = 0; k < items.size(); ++k) {
      const float* l = (*multi)->item_logits(static_cast<int>(k));
      ASSERT_NE(l, nullptr);
      got[items[k].seq].assign(l, l + V);
      ++done[items[k].seq];
    }
  }
  const float tol = GetParam() == TensorType::F32 ? 1e-5f : 1e-3f;
  for (int s = 0; s < 3; ++s) {
    EXPECT_EQ((*multi)->n_past(s), static_cast<int>(seqs[s].size()));
    auto alone = Session::create(*m, {.n_ctx = 40, .n_threads = 1, .cache_type = TensorType::F32});
    ASSERT_TRUE(alone);
    ASSERT_TRUE((*alone)->eval(seqs[s]));
    const float d = max_abs_diff(got[s].data(), (*alone)->logits(), V);
    std::printf("[%s] sequence %d: batched vs alone max |diff| %.3g\n", std::string(type_name(GetParam())).c_str(), s, d);
    EXPECT_LE(d, tol);
  }
}

INSTANTIATE_TEST_SUITE_P(Types, BatchTypes, ::testing::Values(TensorType::F32, TensorType::Q8_0, TensorType::Q4_0),
                         [](const auto& info) { return std::string(type_name(info.param)); });

// all_logits on one item of a batch (the server's echo + logprobs): every token's row, equal to eval()
// with all_logits alone; the other items keep their last-token rows; item_logits(k, i) is nullptr where
// an item did not ask for all rows or i is out of range.
TEST(SessionBatch, AllLogitsOfOneItem) {
  auto m = load_model(TensorType::F32);
  ASSERT_TRUE(m);
  const int V = m->config().n_vocab;
  auto s = Session::create(*m, {.n_ctx = 32, .n_threads = 1, .cache_type = TensorType::F32, .n_seq = 3});
  ASSERT_TRUE(s);
  const auto a = ids_for(5, 3), b = ids_for(6, 6), c = ids_for(7, 2);
  SeqTokens ia{0, a.data(), 3, true}, ib{1, b.data(), 6, false, true}, ic{2, c.data(), 2, true};
  ASSERT_TRUE((*s)->eval_batch({ia, ib, ic}));
  auto alone = Session::create(*m, {.n_ctx = 32, .n_threads = 1, .cache_type = TensorType::F32});
  ASSERT_TRUE((*alone)->eval(b, true));
  for (int i = 0; i < 6; ++i) {
    ASSERT_NE((*s)->item_logits(1, i), nullptr) << i;
    EXPECT_LE(max_abs_diff((*s)->item_logits(1, i), (*alone)->logits(i), V), 1e-5f) << i;
  }
  EXPECT_EQ((*s)->item_logits(1), (*s)->item_logits(1, 5));
  EXPECT_EQ((*s)->item_logits(1, 6), nullptr);
  EXPECT_EQ((*s)->item_logits(1, -1), nullptr);
  EXPECT_EQ((*s)->item_logits(0, 0), nullptr);
  (*alone)->truncate(0);
  ASSERT_TRUE((*alone)->eval(c));
  EXPECT_LE(max_abs_diff((*s)->item_logits(2), (*alone)->logits(), V), 1e-5f);
}

// A new request that shares a prefix with the previous one re-evaluates only the rest.
TEST(SessionBatch, TruncateKeepsThePrefix) {
  auto m = load_model(TensorType::F32);
  ASSERT_TRUE(m);
  const int V = m->config().n_vocab;
  auto s = Session::create(*m, {.n_ctx = 32, .n_threads = 1, .cache_type = TensorType::F32, .n_seq = 2});
  ASSERT_TRUE(s);
  const auto a = ids_for(3, 12);
  auto b = a;
  b.resize(7);
  for (int32_t t : ids_for(4, 5)) b.push_back(t == 1 ? 2 : t);
  ASSERT_TRUE((*s)->eval_batch({{1, a.data(), 12, false}}));
  (*s)->truncate(1, 7);
  EXPECT_EQ((*s)->n_past(1), 7);
  ASSERT_TRUE((*s)->eval_batch({{1, b.data() + 7, 5, true}}));
  auto alone = Session::create(*m, {.n_ctx = 32, .n_threads = 1, .cache_type = TensorType::F32});
  ASSERT_TRUE((*alone)->eval(b));
  EXPECT_LE(max_abs_diff((*s)->item_logits(0), (*alone)->logits(), V), 1e-5f);  // 5 rows vs 12: see above
  (*s)->truncate(1, 100);  // beyond n_past: nothing changes
  EXPECT_EQ((*s)->n_past(1), 12);
  EXPECT_EQ((*s)->n_past(0), 0);
}

// Gemma 2 with a 4-token sliding window on every other layer (ring caches of window + batch - 1 rows):
// batched sequences still equal themselves alone, and a kept prefix whose window the ring has already
// overwritten is dropped instead of used (the sequence is evaluated again from the start).
TEST(SessionBatch, SlidingWindowRingsAndTruncate) {
  SyntheticSpec spec;
  spec.arch = "gemma2";
  spec.n_vocab = 300;
  spec.n_embd = 64;
  spec.n_layer = 2;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ff = 128;
  spec.n_ctx = 64;
  spec.n_swa = 4;
  spec.attn_softcap = 50.0f;
  spec.final_softcap = 30.0f;
  spec.seed = 5;
  const std::string path = temp_dir() + "/batch_gemma2.gguf";
  ASSERT_TRUE(write_synthetic_model(path, spec));
  auto m = Model::load(path);
  ASSERT_TRUE(m) << m.error();
  const int V = (*m)->config().n_vocab;
  auto s = Session::create(**m, {.n_ctx = 32, .n_threads = 1, .cache_type = TensorType::F32, .n_batch = 6, .n_seq = 2});
  ASSERT_TRUE(s) << s.error();
  const auto a = ids_for(6, 20), b = ids_for(7, 20);
  auto alone_logits = [&](const std::vector<int32_t>& ids) {
    auto one = Session::create(**m, {.n_ctx = 32, .n_threads = 1, .cache_type = TensorType::F32, .n_batch = 6});
    EXPECT_TRUE((*one)->eval(ids));
    return std::vector<float>((*one)->logits(), (*one)->logits() + V);
  };
  // Both sequences in 3-token chunks side by side.
  for (int i = 0; i < 20; i += 3) {
    const int n = std::min(3, 20 - i);
    ASSERT_TRUE((*s)->eval_batch({{0, a.data() + i, n, true}, {1, b.data() + i, n, true}}));
  }
  EXPECT_LE(max_abs_diff((*s)->item_logits(0), alone_logits(a).data(), V), 1e-5f);
  EXPECT_LE(max_abs_diff((*s)->item_logits(1), alone_logits(b).data(), V), 1e-5f);
  // Rings hold 4 + 6 - 1 = 9 rows: back 3 positions is within reach, back 13 is not.
  (*s)->truncate(0, 17);
  EXPECT_EQ((*s)->n_past(0), 17);
  (*s)->truncate(1, 7);
  EXPECT_EQ((*s)->n_past(1), 0);
  auto c = a;
  c.resize(17);
  for (int t : {9, 8, 7}) c.push_back(t);
  ASSERT_TRUE((*s)->eval_batch({{0, c.data() + 17, 3, true}}));
  EXPECT_LE(max_abs_diff((*s)->item_logits(0), alone_logits(c).data(), V), 1e-5f);
}

TEST(SessionBatch, BadBatchesAreErrors) {
  auto m = load_model(TensorType::F32);
  ASSERT_TRUE(m);
  auto s = Session::create(*m, {.n_ctx = 8, .n_threads = 1, .n_batch = 6, .n_seq = 2});
  ASSERT_TRUE(s);
  const auto ids = ids_for(5, 9);
  EXPECT_FALSE((*s)->eval_batch({}));
  EXPECT_FALSE((*s)->eval_batch({{2, ids.data(), 1, true}}));                           // no sequence 2
  EXPECT_FALSE((*s)->eval_batch({{0, ids.data(), 1, true}, {0, ids.data(), 1, true}}));  // twice
  EXPECT_FALSE((*s)->eval_batch({{0, ids.data(), 4, true}, {1, ids.data(), 3, true}}));  // 7 > n_batch 6
  EXPECT_FALSE((*s)->eval_batch({{1, ids.data(), 0, true}}));
  const int32_t bad = 300;
  EXPECT_FALSE((*s)->eval_batch({{1, &bad, 1, true}}));
  ASSERT_TRUE((*s)->eval_batch({{1, ids.data(), 6, false}}));
  Status over = (*s)->eval_batch({{1, ids.data(), 3, true}});  // 6 + 3 > n_ctx 8
  ASSERT_FALSE(over);
  EXPECT_NE(over.message().find("context"), std::string::npos) << over.message();
  EXPECT_EQ((*s)->n_past(1), 6);
  EXPECT_EQ((*s)->item_logits(0), nullptr);  // the last good batch wanted none
  EXPECT_FALSE(Session::create(*m, {.n_ctx = 8, .n_seq = 0}));
}

}  // namespace
}  // namespace kestrel::test
