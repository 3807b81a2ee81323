// Sampler: greedy, temperature, top-k, top-p, min-p, repetition penalty window, seeded reproducibility,
// and the drawn frequencies matching the intended distribution.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/sampler.h"

namespace kestrel {
namespace {

SamplerParams plain(float temp, uint64_t seed = 42) {
  SamplerParams p;
  p.temp = temp;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

std::vector<double> frequencies(Sampler& s, const std::vector<float>& logits, int n) {
  std::vector<double> f(logits.size(), 0);
  for (int i = 0; i < n; ++i) {
    int32_t t = s.sample(logits.data(), static_cast<int32_t>(logits.size()));
    EXPECT_GE(t, 0);
    f[t] += 1.0 / n;
  }
  return f;
}

const std::vector<float> kLogits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};

TEST(Sampler, GreedyTakesTheFirstMaximum) {
  Sampler s(plain(0.0f));
  std::vector<float> l = {0.1f, 3.0f, -2.0f, 3.0f};
  EXPECT_EQ(s.sample(l.data(), 4), 1);
  SamplerParams neg = plain(-1.0f);
  Sampler s2(neg);
  EXPECT_EQ(s2.sample(l.data(), 4), 1);
}

TEST(Sampler, DrawsFollowTheDistribution) {
  Sampler s(plain(1.0f));
  auto f = frequencies(s, kLogits, 20000);
  EXPECT_NEAR(f[0], 0.5, 0.02);
  EXPECT_NEAR(f[1], 0.3, 0.02);
  EXPECT_NEAR(f[2], 0.2, 0.02);
}

TEST(Sampler, TemperatureSharpens) {
  Sampler s(plain(0.5f));  // p ~ p^2: 0.25, 0.09, 0.04 normalised
  auto f = frequencies(s, kLogits, 20000);
  EXPECT_NEAR(f[0], 0.25 / 0.38, 0.02);
  EXPECT_NEAR(f[1], 0.09 / 0.38, 0.02);
  EXPECT_NEAR(f[2], 0.04 / 0.38, 0.02);
}

TEST(Sampler, TopKTopPMinPCutTheTail) {
  SamplerParams k1 = plain(1.0f);
  k1.top_k = 1;
  Sampler sk(k1);
  EXPECT_NEAR(frequencies(sk, kLogits, 500)[0], 1.0, 1e-9);

  SamplerParams k2 = plain(1.0f);
  k2.top_k = 2;
  Sampler sk2(k2);
  auto f = frequencies(sk2, kLogits, 20000);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_NEAR(f[0], 0.5 / 0.8, 0.02);

  SamplerParams tp = plain(1.0f);
  tp.top_p = 0.6f;  // 0.5 < 0.6 <= 0.5 + 0.3: keeps two tokens
  Sampler sp(tp);
  f = frequencies(sp, kLogits, 20000);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_NEAR(f[1], 0.3 / 0.8, 0.02);

  SamplerParams mp = plain(1.0f);
  mp.min_p = 0.5f;  // keeps p >= 0.25: tokens 0 and 1
  Sampler sm(mp);
  f = frequencies(sm, kLogits, 20000);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_GT(f[1], 0.3);

  mp.min_p = 0.7f;  // keeps only token 0
  Sampler sm2(mp);
  EXPECT_NEAR(frequencies(sm2, kLogits, 500)[0], 1.0, 1e-9);
}

TEST(Sampler, RepetitionPenaltyOverTheLastN) {
  SamplerParams p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 2;
  Sampler s(p);
  std::vector<float> pos = {2.0f, 1.9f, -1.0f, -5.0f};
  EXPECT_EQ(s.sample(pos.data(), 4), 0);
  s.accept(0);
  s.accept(0);  // counted once
  EXPECT_EQ(s.sample(pos.data(), 4), 1);  // 2.0 / 2 < 1.9
  std::vector<float> neg = {-1.0f, -1.5f, -9.0f, -9.0f};
  EXPECT_EQ(s.sample(neg.data(), 4), 1);  // -1 * 2 < -1.5
  s.accept(2);
  s.accept(3);  // token 0 has left the window of 2
  EXPECT_EQ(s.sample(pos.data(), 4), 0);
}

// OpenAI's penalties as llama.cpp applies them: logit -= count * frequency + presence (count in the window).
TEST(Sampler, FrequencyAndPresencePenalties) {
  SamplerParams p = plain(0.0f);
  p.frequency_penalty = 0.5f;
  p.repeat_last_n = 8;
  Sampler f(p);
  std::vector<float> l = {2.0f, 1.2f, 0.0f};
  f.accept(0);
  EXPECT_EQ(f.sample(l.data(), 3), 0);  // 2.0 - 0.5 > 1.2
  f.accept(0);
  EXPECT_EQ(f.sample(l.data(), 3), 1);  // 2.0 - 2 * 0.5 < 1.2

  SamplerParams q = plain(0.0f);
  q.presence_penalty = 0.9f;
  q.repeat_last_n = 8;
  Sampler pr(q);
  pr.accept(0);
  pr.accept(0);
  pr.accept(0);
  EXPECT_EQ(pr.sample(l.data(), 3), 1);  // 2.0 - 0.9 < 1.2, whatever the count
  std::vector<float> far = {2.5f, 1.2f, 0.0f};
  EXPECT_EQ(pr.sample(far.data(), 3), 0);  // 2.5 - 0.9 > 1.2: presence does not grow with the count
}

TEST(Sampler, SeedMakesItReproducible) {
  std::vector<float> l(50);
  for (int i = 0; i < 50; ++i) l[i] = std::sin(i * 1.7f);
  auto run = [&](uint64_t seed) {
    SamplerParams p;  // llama.cpp defaults: temp 0.8, top-k 40, top-p 0.95, min-p 0.05
    p.seed = seed;
    Sampler s(p);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(s.sample(l.data(), 50));
    return out;
  };
  EXPECT_EQ(run(123), run(123));
  EXPECT_NE(run(123), run(124));
  Sampler random_seed(SamplerParams{});
  EXPECT_NE(random_seed.seed(), 0xFFFFFFFFu);
}

}  // namespace
}  // namespace kestrel
