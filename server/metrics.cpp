#include "server/metrics.h"

#include <cstdio>

namespace kestrel::server {
namespace {

void metric(std::string* out, const char* name, const char* type, const char* help, double value) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "# HELP kestrel:%s %s\n# TYPE kestrel:%s %s\nkestrel:%s %.10g\n", name, help, name,
                type, name, value);
  *out += buf;
}

}  // namespace

std::string Metrics::prometheus() const {
  std::string o;
  const double pt = static_cast<double>(prompt_tokens.load()), dt = static_cast<double>(predicted_tokens.load());
  const double ps = prompt_us.load() / 1e6, ds = decode_us.load() / 1e6;
  metric(&o, "requests_total", "counter", "HTTP requests answered.", static_cast<double>(requests_total.load()));
  metric(&o, "requests_errors_total", "counter", "HTTP requests answered with an error status.",
         static_cast<double>(requests_errors.load()));
  metric(&o, "generations_total", "counter", "Completion and chat requests finished.",
         static_cast<double>(generations_total.load()));
  metric(&o, "generations_cancelled_total", "counter", "Generations stopped because the client disconnected.",
         static_cast<double>(generations_cancelled.load()));
  metric(&o, "prompt_tokens_total", "counter", "Prompt tokens evaluated.", pt);
  metric(&o, "prompt_tokens_cached_total", "counter", "Prompt tokens reused from a slot's KV cache.",
         static_cast<double>(prompt_tokens_cached.load()));
  metric(&o, "tokens_predicted_total", "counter", "Tokens generated.", dt);
  metric(&o, "prompt_seconds_total", "counter", "Wall time of the steps that evaluated prompt tokens.", ps);
  metric(&o, "tokens_predicted_seconds_total", "counter", "Wall time of the steps that generated tokens.", ds);
  metric(&o, "prompt_tokens_seconds", "gauge", "Prompt tokens per second (over all steps so far).",
         ps > 0 ? pt / ps : 0);
  metric(&o, "predicted_tokens_seconds", "gauge", "Generated tokens per second, all slots together.",
         ds > 0 ? dt / ds : 0);
  metric(&o, "decode_steps_total", "counter", "Forward passes (one batch of every active slot).",
         static_cast<double>(steps.load()));
  metric(&o, "draft_tokens_total", "counter", "Speculative decoding: drafted tokens verified.",
         static_cast<double>(draft_tokens.load()));
  metric(&o, "draft_tokens_accepted_total", "counter", "Speculative decoding: drafted tokens accepted.",
         static_cast<double>(draft_tokens_accepted.load()));
  metric(&o, "requests_processing", "gauge", "Busy slots.", busy_slots.load());
  metric(&o, "requests_deferred", "gauge", "Requests waiting for a free slot.", queue_length.load());
  metric(&o, "slots_total", "gauge", "Slots (-np).", n_slots);
  metric(&o, "slot_context_size", "gauge", "Context positions per slot (-c / -np).", n_ctx_slot);
  return o;
}

}  // namespace kestrel::server
