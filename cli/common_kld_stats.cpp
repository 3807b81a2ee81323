#include "cli/common_kld_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "cli/common_json.h"
#include "cli/common_stats.h"

namespace kestrel::cli {
namespace {

// Mean and its standard error, llama-perplexity's way: sqrt((E[x²] - E[x]²) / (n - 1)).
void mean_and_err(const std::vector<double>& v, double* mean, double* err) {
  const double n = static_cast<double>(v.size());
  double s = 0, s2 = 0;
  for (double x : v) {
    s += x;
    s2 += x * x;
  }
  *mean = n > 0 ? s / n : 0;
  const double var = n > 0 ? s2 / n - *mean * *mean : 0;
  *err = (n > 1 && var > 0) ? std::sqrt(var / (n - 1)) : 0;
}

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const double ma = mean_of(a), mb = mean_of(b);
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return (saa > 0 && sbb > 0) ? sab / std::sqrt(saa * sbb) : 1.0;
}

}  // namespace

void KldAccumulator::add(const float* base, const float* cur, int n_vocab, int32_t target) {
  double kld = 0;
  int top_base = 0, top_cur = 0;
  for (int i = 0; i < n_vocab; ++i) {
    const double pb = std::exp(static_cast<double>(base[i]));
    kld += pb * (static_cast<double>(base[i]) - static_cast<double>(cur[i]));
    if (base[i] > base[top_base]) top_base = i;
    if (cur[i] > cur[top_cur]) top_cur = i;
  }
  kld_.push_back(std::max(kld, 0.0));  // rounding can make an exact match a hair negative
  lp_.push_back(cur[target]);
  lp_base_.push_back(base[target]);
  dp_.push_back(std::exp(static_cast<double>(cur[target])) - std::exp(static_cast<double>(base[target])));
  if (top_base == top_cur) ++same_top_;
}

double KldAccumulator::running_ppl() const { return lp_.empty() ? 0 : std::exp(-mean_of(lp_)); }
double KldAccumulator::running_kld() const { return mean_of(kld_); }
double KldAccumulator::running_same_top() const {
  return kld_.empty() ? 0 : static_cast<double>(same_top_) / static_cast<double>(kld_.size());
}

KldSummary KldAccumulator::summary() const {
  KldSummary s;
  s.n = kld_.size();
  if (s.n == 0) return s;
  double m, e;
  std::vector<double> nll(lp_.size()), nll_base(lp_base_.size()), diff(lp_.size());
  for (size_t i = 0; i < lp_.size(); ++i) {
    nll[i] = -lp_[i];
    nll_base[i] = -lp_base_[i];
    diff[i] = nll[i] - nll_base[i];
  }
  mean_and_err(nll, &m, &e);
  s.ppl = std::exp(m);
  s.ppl_err = s.ppl * e;
  mean_and_err(nll_base, &m, &e);
  s.ppl_base = std::exp(m);
  s.ppl_base_err = s.ppl_base * e;
  mean_and_err(diff, &s.ln_ratio, &s.ln_ratio_err);
  s.ppl_ratio = std::exp(s.ln_ratio);
  s.ppl_ratio_err = s.ppl_ratio * s.ln_ratio_err;
  s.cor_logprob = correlation(lp_, lp_base_);

  mean_and_err(kld_, &s.kld_mean, &s.kld_err);
  std::vector<double> sorted = kld_;
  std::sort(sorted.begin(), sorted.end());
  s.kld_max = sorted.back();
  s.kld_p999 = quantile_sorted(sorted, 0.999);
  s.kld_p99 = quantile_sorted(sorted, 0.99);
  s.kld_p95 = quantile_sorted(sorted, 0.95);
  s.kld_p90 = quantile_sorted(sorted, 0.90);
  s.kld_median = quantile_sorted(sorted, 0.5);
  s.kld_p10 = quantile_sorted(sorted, 0.10);
  s.kld_p5 = quantile_sorted(sorted, 0.05);
  s.kld_p1 = quantile_sorted(sorted, 0.01);
  s.kld_min = sorted.front();

  mean_and_err(dp_, &s.dp_mean, &s.dp_err);
  double sq = 0;
  for (double d : dp_) sq += d * d;
  s.dp_rms = std::sqrt(sq / static_cast<double>(dp_.size()));

  const double n = static_cast<double>(s.n);
  s.same_top = static_cast<double>(same_top_) / n;
  s.same_top_err = s.n > 1 ? std::sqrt(s.same_top * (1 - s.same_top) / (n - 1)) : 0;
  return s;
}

std::string format_kld_summary(const KldSummary& s) {
  std::string o;
  char b[160];
  auto line = [&](const char* fmt, auto... v) {
    std::snprintf(b, sizeof b, fmt, v...);
    o += b;
  };
  line("====== Perplexity statistics (%zu scored tokens) ======\n", s.n);
  line("Mean PPL(Q)                   : %10.6f ± %10.6f\n", s.ppl, s.ppl_err);
  line("Mean PPL(base)                : %10.6f ± %10.6f\n", s.ppl_base, s.ppl_base_err);
  line("Cor(ln(PPL(Q)), ln(PPL(base))): %9.2f%%\n", 100.0 * s.cor_logprob);
  line("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", s.ln_ratio, s.ln_ratio_err);
  line("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", s.ppl_ratio, s.ppl_ratio_err);
  line("\n====== KL divergence statistics ======\n");
  line("Mean    KLD: %10.6f ± %10.6f\n", s.kld_mean, s.kld_err);
  line("Maximum KLD: %10.6f\n", s.kld_max);
  line("99.9%%   KLD: %10.6f\n", s.kld_p999);
  line("99.0%%   KLD: %10.6f\n", s.kld_p99);
  line("95.0%%   KLD: %10.6f\n", s.kld_p95);
  line("90.0%%   KLD: %10.6f\n", s.kld_p90);
  line("Median  KLD: %10.6f\n", s.kld_median);
  line("10.0%%   KLD: %10.6f\n", s.kld_p10);
  line(" 5.0%%   KLD: %10.6f\n", s.kld_p5);
  line(" 1.0%%   KLD: %10.6f\n", s.kld_p1);
  line("Minimum KLD: %10.6f\n", s.kld_min);
  line("\n====== Token probability statistics ======\n");
  line("Mean    Δp: %8.4f ± %.4f %%\n", 100.0 * s.dp_mean, 100.0 * s.dp_err);
  line("RMS Δp    : %8.4f %%\n", 100.0 * s.dp_rms);
  line("Same top p: %8.4f ± %.4f %%\n", 100.0 * s.same_top, 100.0 * s.same_top_err);
  return o;
}

std::string kld_summary_json(const KldSummary& s) {
  json::Json o;
  o["n"] = s.n;
  const std::pair<const char*, double> fields[] = {
      {"ppl", s.ppl}, {"ppl_err", s.ppl_err}, {"ppl_base", s.ppl_base}, {"ppl_base_err", s.ppl_base_err},
      {"ln_ratio", s.ln_ratio}, {"ln_ratio_err", s.ln_ratio_err}, {"ppl_ratio", s.ppl_ratio},
      {"ppl_ratio_err", s.ppl_ratio_err}, {"cor_logprob", s.cor_logprob}, {"kld_mean", s.kld_mean},
      {"kld_err", s.kld_err}, {"kld_max", s.kld_max}, {"kld_p999", s.kld_p999}, {"kld_p99", s.kld_p99},
      {"kld_p95", s.kld_p95}, {"kld_p90", s.kld_p90}, {"kld_median", s.kld_median}, {"kld_p10", s.kld_p10},
      {"kld_p5", s.kld_p5}, {"kld_p1", s.kld_p1}, {"kld_min", s.kld_min}, {"dp_mean", s.dp_mean},
      {"dp_err", s.dp_err}, {"dp_rms", s.dp_rms}, {"same_top", s.same_top}, {"same_top_err", s.same_top_err}};
  for (const auto& [k, v] : fields) o[k] = v;
  return json::dump(o);
}

}  // namespace kestrel::cli
