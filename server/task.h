#pragma once
// One generation request as the scheduler sees it (GenParams) and the channel its results come back
// through (Task): the scheduler thread pushes Events, the HTTP thread that owns the request pops them.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "model/sampler.h"

namespace kestrel::server {

struct GenParams {
  std::vector<int32_t> prompt;
  int max_tokens = -1;               // -1: until end of generation or the slot's context is full
  SamplerParams sampling;
  std::vector<std::string> stop;     // stop strings (not included in the output)
  std::vector<int32_t> stop_tokens;  // extra end-of-generation tokens (e.g. the chat template's)
  int logprobs = -1;                 // -1: none; else the number of alternatives per token (0..20)
  bool echo = false;                 // completions: the prompt text comes first in the output (with
                                     // logprobs >= 0 also the prompt tokens' log-probabilities)
  bool ignore_eos = false;           // llama-server's: end-of-generation tokens do not end it
  bool cache_prompt = true;          // llama-server's: reuse the slot's KV of a shared prompt prefix
  // Speculative decoding (llama-server's speculative.n_max / n_min / p_min; the server's defaults when
  // the request does not set them). Used only by greedy requests (temperature 0): drafts of up to
  // spec_n_max tokens (0: off), dropped when shorter than spec_n_min; spec_p_min is the draft model's
  // confidence cutoff (prompt lookup has none).
  int spec_n_max = 0;
  int spec_n_min = 0;
  float spec_p_min = 0.75f;
};

// A generated token with its log-probability and the top alternatives (when asked for).
struct TokenLogprob {
  int32_t id = 0;
  bool has_logprob = true;  // false for the first prompt token (echo + logprobs): nothing predicts it
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;
};

struct Event {
  enum class Kind { Text, Done, Error };
  Kind kind = Kind::Text;
  std::string text;                  // Text: new output text (whole UTF-8 characters)
  std::vector<TokenLogprob> tokens;  // Text: the tokens behind it, when logprobs were asked for
  bool prompt = false;               // Text: `tokens` are the prompt's (echo + logprobs), before any output
  std::string finish_reason;         // Done: "stop" or "length"
  int n_prompt = 0, n_cached = 0, n_gen = 0;  // Done: usage (n_cached prompt tokens were reused)
  bool speculative = false;          // Done: the request decoded speculatively (greedy, n_max > 0)
  int n_drafted = 0, n_accepted = 0; // Done: draft tokens verified, and how many the model agreed with
  double prompt_ms = 0, predicted_ms = 0;  // Done: slot start -> first token -> end
  std::string error;                 // Error
};

class Task {
 public:
  explicit Task(GenParams p) : params(std::move(p)) {}

  void push(Event e) {
    {
      std::lock_guard<std::mutex> lk(m_);
      events_.push_back(std::move(e));
    }
    cv_.notify_one();
  }
  // Waits up to `timeout` for an event; false on timeout.
  template <class Dur>
  bool pop(Event* out, Dur timeout) {
    std::unique_lock<std::mutex> lk(m_);
    if (!cv_.wait_for(lk, timeout, [&] { return !events_.empty(); })) return false;
    *out = std::move(events_.front());
    events_.pop_front();
    return true;
  }

  const GenParams params;
  // Set by the HTTP side when the client went away: the scheduler frees the slot at its next step.
  std::atomic<bool> cancelled{false};
  const std::chrono::steady_clock::time_point created = std::chrono::steady_clock::now();

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Event> events_;
};

}  // namespace kestrel::server
