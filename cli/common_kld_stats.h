#pragma once
// Statistics of a run compared token by token with a base run (llm-perplexity --kl-divergence), the
// quantities llama-perplexity reports: perplexities and their ratio, KL divergence of the base
// distribution to the current one (mean ± standard error and percentiles), the change in the probability
// of the correct token (Δp), and how often both runs rank the same token first.
#include <cstdint>
#include <string>
#include <vector>

namespace kestrel::cli {

struct KldSummary {
  size_t n = 0;
  double ppl = 0, ppl_err = 0;            // current run
  double ppl_base = 0, ppl_base_err = 0;  // base run
  double ln_ratio = 0, ln_ratio_err = 0;  // mean ln(PPL / PPL_base) = mean(nll - nll_base)
  double ppl_ratio = 0, ppl_ratio_err = 0;
  double cor_logprob = 0;                 // correlation of per-token log-probs
  double kld_mean = 0, kld_err = 0;
  double kld_max = 0, kld_p999 = 0, kld_p99 = 0, kld_p95 = 0, kld_p90 = 0, kld_median = 0, kld_p10 = 0,
         kld_p5 = 0, kld_p1 = 0, kld_min = 0;
  double dp_mean = 0, dp_err = 0, dp_rms = 0;  // Δp of the correct token, in probability units
  double same_top = 0, same_top_err = 0;       // fraction of positions with the same argmax
};

class KldAccumulator {
 public:
  // One scored position: the base and current log-prob rows (n_vocab each) and the correct token.
  void add(const float* base_logprobs, const float* cur_logprobs, int n_vocab, int32_t target);
  size_t count() const { return kld_.size(); }
  // Running values for per-chunk progress lines.
  double running_ppl() const;
  double running_kld() const;
  double running_same_top() const;
  KldSummary summary() const;

 private:
  std::vector<double> kld_;
  std::vector<double> lp_, lp_base_;  // log-prob of the correct token, current and base
  std::vector<double> dp_;
  size_t same_top_ = 0;
};

// The human-readable statistics block (stdout) and a flat JSON object (for scripts/report.py).
std::string format_kld_summary(const KldSummary& s);
std::string kld_summary_json(const KldSummary& s);

}  // namespace kestrel::cli
