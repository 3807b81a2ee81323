#pragma once
// Summary statistics used by llm-bench (t/s mean ± sample stddev, like llama-bench) and llm-perplexity
// (KL-divergence percentiles). Header-only so tests can use the same definitions.
#include <algorithm>
#include <cmath>
#include <vector>

namespace kestrel::cli {

inline double mean_of(const std::vector<double>& v) {
  if (v.empty()) return 0.0;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// Sample standard deviation (n - 1 in the denominator); 0 for fewer than two values.
inline double stddev_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  double m = mean_of(v), s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

// p-th quantile (p in [0, 1]) of values already sorted ascending, interpolating linearly between the
// two nearest ranks. 0 for an empty vector.
inline double quantile_sorted(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  p = std::clamp(p, 0.0, 1.0);
  double idx = p * static_cast<double>(sorted.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(idx));
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  double frac = idx - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

}  // namespace kestrel::cli
