#include "model/sampler.h"

#include <algorithm>
#include <cmath>

namespace kestrel {
namespace {

constexpr uint64_t kRandomSeed = 0xFFFFFFFF;

// Probabilities of candidates sorted by descending logit (max first), in place in `p`.
void softmax_sorted(const std::vector<std::pair<float, int32_t>>& c, size_t n, std::vector<float>& p) {
  p.resize(n);
  const float mx = c[0].first;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    p[i] = std::exp(c[i].first - mx);
    sum += p[i];
  }
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<float>(p[i] / sum);
}

bool by_logit_desc(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

}  // namespace

Sampler::Sampler(const SamplerParams& p)
    : p_(p), seed_(p.seed == kRandomSeed ? std::random_device{}() : p.seed), rng_(static_cast<uint32_t>(seed_)) {}

void Sampler::accept(int32_t token) {
  if (p_.repeat_last_n == 0) return;
  recent_.push_back(token);
  if (p_.repeat_last_n > 0)
    while (static_cast<int>(recent_.size()) > p_.repeat_last_n) recent_.pop_front();
}

int32_t Sampler::sample(const float* logits, int32_t n_vocab) {
  if (n_vocab <= 0) return -1;
  cand_.resize(n_vocab);
  for (int32_t i = 0; i < n_vocab; ++i) cand_[i] = {logits[i], i};

  // Penalties (llama.cpp's): each distinct recent token's logit is divided by the repetition penalty
  // when positive and multiplied when negative, then lowered by count * frequency + presence.
  const bool penalize = p_.repeat_penalty != 1.0f || p_.frequency_penalty != 0.0f || p_.presence_penalty != 0.0f;
  if (penalize && !recent_.empty()) {
    seen_.assign(recent_.begin(), recent_.end());
    std::sort(seen_.begin(), seen_.end());
    for (size_t i = 0; i < seen_.size();) {
      size_t j = i;
      while (j < seen_.size() && seen_[j] == seen_[i]) ++j;
      const int32_t t = seen_[i];
      const float count = static_cast<float>(j - i);
      i = j;
      if (t < 0 || t >= n_vocab) continue;
      float& l = cand_[t].first;
      if (p_.repeat_penalty != 1.0f) l = l <= 0 ? l * p_.repeat_penalty : l / p_.repeat_penalty;
      l -= count * p_.frequency_penalty + p_.presence_penalty;
    }
  }

  if (p_.temp <= 0) {  // greedy: the first maximum
    size_t best = 0;
    for (size_t i = 1; i < cand_.size(); ++i)
      if (cand_[i].first > cand_[best].first) best = i;
    return cand_[best].second;
  }

  // top-k (sorting only the kept part), else a full sort for top-p / min-p.
  size_t n = cand_.size();
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < n) {
    n = static_cast<size_t>(p_.top_k);
    std::partial_sort(cand_.begin(), cand_.begin() + n, cand_.end(), by_logit_desc);
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit_desc);
  }

  std::vector<float>& prob = prob_;
  if (p_.top_p < 1.0f) {  // smallest prefix whose probability mass reaches top_p
    softmax_sorted(cand_, n, prob);
    double cum = 0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      cum += prob[i];
      if (cum >= p_.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
  }
  if (p_.min_p > 0.0f) {  // drop tokens less likely than min_p times the most likely one
    softmax_sorted(cand_, n, prob);
    size_t keep = 1;
    while (keep < n && prob[keep] >= p_.min_p * prob[0]) ++keep;
    n = keep;
  }

  // Temperature, then draw from the renormalised distribution.
  for (size_t i = 0; i < n; ++i) cand_[i].first /= p_.temp;
  softmax_sorted(cand_, n, prob);
  const double u = std::generate_canonical<double, 32>(rng_);
  double cum = 0;
  for (size_t i = 0; i < n; ++i) {
    cum += prob[i];
    if (u < cum) return cand_[i].second;
  }
  return cand_[n - 1].second;
}

}  // namespace kestrel
