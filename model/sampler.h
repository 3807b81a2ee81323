#pragma once
// Token sampling with llama.cpp's conventions and default values. temp <= 0 is greedy.
// Order: penalties (repetition, frequency, presence) -> top-k -> top-p -> min-p -> temperature -> draw.
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

namespace kestrel {

struct SamplerParams {
  float temp = 0.8f;
  int top_k = 40;            // <= 0: off
  float top_p = 0.95f;       // >= 1: off
  float min_p = 0.05f;       // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int repeat_last_n = 64;       // window of the penalties (0: no penalties, -1: everything accepted)
  float frequency_penalty = 0;  // logit -= count in the window * this (OpenAI's frequency_penalty)
  float presence_penalty = 0;   // logit -= this when the token is in the window at all
  uint64_t seed = 0xFFFFFFFF;   // 0xFFFFFFFF: random seed
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p);
  int32_t sample(const float* logits, int32_t n_vocab);
  void accept(int32_t token);  // remember for the repetition penalty
  uint64_t seed() const { return seed_; }

 private:
  SamplerParams p_;
  uint64_t seed_;
  std::mt19937 rng_;
  std::deque<int32_t> recent_;
  std::vector<std::pair<float, int32_t>> cand_;  // reused between calls: no per-token allocation
  std::vector<float> prob_;
  std::vector<int32_t> seen_;
};

}  // namespace kestrel
