#pragma once
// Human-readable sizes and counts for tool output ("370.28 KiB", "292.80 K"), llama-bench style.
#include <cstdint>
#include <cstdio>
#include <string>

namespace kestrel::cli {

inline std::string format_bytes(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  char buf[32];
  if (b >= 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  else if (b >= 1024.0 * 1024) std::snprintf(buf, sizeof buf, "%.2f MiB", b / (1024.0 * 1024));
  else std::snprintf(buf, sizeof buf, "%.2f KiB", b / 1024.0);
  return buf;
}

// Parameter counts: "292.80 K", "1.10 B".
inline std::string format_count(uint64_t n) {
  const double x = static_cast<double>(n);
  char buf[32];
  if (x >= 1e9) std::snprintf(buf, sizeof buf, "%.2f B", x / 1e9);
  else if (x >= 1e6) std::snprintf(buf, sizeof buf, "%.2f M", x / 1e6);
  else if (x >= 1e3) std::snprintf(buf, sizeof buf, "%.2f K", x / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", x);
  return buf;
}

// Short model size label as in model descriptions ("260K", "7B"): rounded, one significant unit.
inline std::string format_count_short(uint64_t n) {
  const double x = static_cast<double>(n);
  char buf[32];
  if (x >= 1e9) std::snprintf(buf, sizeof buf, "%.0fB", x / 1e9);
  else if (x >= 1e6) std::snprintf(buf, sizeof buf, "%.0fM", x / 1e6);
  else if (x >= 1e3) std::snprintf(buf, sizeof buf, "%.0fK", x / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", x);
  return buf;
}

}  // namespace kestrel::cli
