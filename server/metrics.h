#pragma once
// Counters behind GET /metrics (Prometheus text format). Written by the scheduler and the routes,
// read by the metrics route; all atomics, so nothing is locked on the hot path.
#include <atomic>
#include <cstdint>
#include <string>

namespace kestrel::server {

struct Metrics {
  std::atomic<uint64_t> requests_total{0};      // HTTP requests answered (any route, any status)
  std::atomic<uint64_t> requests_errors{0};     // answered with status >= 400
  std::atomic<uint64_t> generations_total{0};   // completions/chat requests that ran to the end
  std::atomic<uint64_t> generations_cancelled{0};  // ... whose client went away first
  std::atomic<uint64_t> prompt_tokens{0};       // prompt tokens evaluated (a reused prefix is not)
  std::atomic<uint64_t> prompt_tokens_cached{0};  // prompt tokens reused from a slot's cache
  std::atomic<uint64_t> predicted_tokens{0};    // tokens generated
  std::atomic<uint64_t> prompt_us{0};           // wall time of the steps that evaluated prompt tokens
  std::atomic<uint64_t> decode_us{0};           // wall time of the steps that decoded tokens
  std::atomic<uint64_t> steps{0};               // forward passes
  std::atomic<uint64_t> draft_tokens{0};        // speculative decoding: drafted tokens verified
  std::atomic<uint64_t> draft_tokens_accepted{0};  // ... that the model agreed with
  std::atomic<int> busy_slots{0};
  std::atomic<int> queue_length{0};
  int n_slots = 0;
  int n_ctx_slot = 0;

  std::string prometheus() const;
};

}  // namespace kestrel::server
