#pragma once
// llm-server's HTTP routes (llama-server's endpoints): /health, /v1/models, /v1/completions,
// /v1/chat/completions (also without /v1), /tokenize, /detokenize, /metrics; Bearer-key checks;
// OpenAI-style error objects for every error status (bad JSON or fields 400, bad key 401, unknown
// path 404, body too large 413, loading or shutting down 503).
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "model/llm.h"
#include "server/json_util.h"
#include "server/metrics.h"
#include "server/request_params.h"
#include "server/scheduler.h"

namespace httplib {
class Server;
}

namespace kestrel::server {

struct ServerState {
  // Set once the model is loaded (/health answers 503 before).
  std::atomic<bool> ready{false};
  std::atomic<bool> stopping{false};  // SIGTERM: new generations get 503, running ones finish
  std::atomic<int> in_flight{0};      // generations whose response is not fully sent yet
  const Model* model = nullptr;
  Scheduler* scheduler = nullptr;
  Metrics metrics;
  RequestLimits limits;
  std::string api_key;                // empty: no authentication
  std::string model_name;             // id reported by /v1/models
  long long created = 0;              // model load time, Unix seconds
  // Chat: messages (+ extra template variables, e.g. chat_template_kwargs) -> prompt text with the
  // model's template (or ChatML), and the template's end-of-turn tokens. Set before ready.
  std::function<Result<std::string>(const json& messages, const json& extra)> render_chat;
  std::vector<int32_t> chat_stop_tokens;
};

void register_routes(httplib::Server& svr, ServerState& st);

}  // namespace kestrel::server
