#include "server/routes.h"

#include <chrono>
#include <ctime>
#include <memory>

#include <httplib.h>

#include "model/chat.h"
#include "server/responses.h"

namespace kestrel::server {
namespace {

using httplib::Request;
using httplib::Response;
using std::chrono::milliseconds;

void send_json(Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json; charset=utf-8");
}

void send_error(Response& res, int status, const std::string& message) {
  send_json(res, status, error_json(status, message, error_type_for(status)));
}

// The body as a JSON object, or a 400 answer.
bool parse_body(const Request& req, Response& res, json* out) {
  *out = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) {
    send_error(res, 400, "the request body is not valid JSON");
    return false;
  }
  if (!out->is_object()) {
    send_error(res, 400, "the request body must be a JSON object");
    return false;
  }
  return true;
}

bool check_ready(const ServerState& st, Response& res) {
  if (st.stopping) {
    send_error(res, 503, "the server is shutting down");
    return false;
  }
  if (!st.ready) {
    send_error(res, 503, "Loading model");
    return false;
  }
  return true;
}

enum class Api { Completion, Chat };

// Runs one generation and answers with its result, whole or as Server-Sent Events.
void serve_generation(ServerState& st, Response& res, Api api, CompletionRequest r, bool chat_wants_logprobs) {
  auto task = std::make_shared<Task>(std::move(r.gen));
  if (Status s = st.scheduler->submit(task); !s) return send_error(res, 503, s.message());
  const Tokenizer& tok = st.model->tokenizer();
  ResponseMeta meta{new_response_id(api == Api::Chat ? "chatcmpl-" : "cmpl-"),
                    static_cast<long long>(std::time(nullptr)), r.model.empty() ? st.model_name : r.model};
  const bool logprobs = api == Api::Chat ? chat_wants_logprobs : task->params.logprobs >= 0;
  st.in_flight++;

  if (!r.stream) {
    Generation g;
    if (task->params.echo) g.text = r.echo_text;
    g.echo_bytes = g.text.size();
    Event e;
    while (true) {
      if (!task->pop(&e, milliseconds(1000))) continue;
      if (e.kind == Event::Kind::Error) {
        st.in_flight--;
        return send_error(res, 500, e.error);
      }
      if (e.kind == Event::Kind::Done) break;
      if (e.prompt) {
        g.prompt_tokens = std::move(e.tokens);
        continue;
      }
      g.text += e.text;
      g.tokens.insert(g.tokens.end(), e.tokens.begin(), e.tokens.end());
    }
    g.finish_reason = e.finish_reason;
    g.n_prompt = e.n_prompt;
    g.n_cached = e.n_cached;
    g.n_gen = e.n_gen;
    g.timings = timings_json(e);
    send_json(res, 200, api == Api::Chat ? chat_body(meta, g, tok, logprobs) : completion_body(meta, g, tok, logprobs));
    st.in_flight--;
    return;
  }

  res.set_header("Cache-Control", "no-cache");
  const bool include_usage = r.include_usage;
  std::string echo = task->params.echo ? r.echo_text : std::string();
  auto provider = [&st, task, meta, api, logprobs, include_usage, echo, text_offset = size_t{0}](
                      size_t, httplib::DataSink& sink) mutable {
    const Tokenizer& tok = st.model->tokenizer();
    auto send = [&](const json& j) {
      const std::string line = "data: " + dump(j) + "\n\n";
      return sink.write(line.data(), line.size());
    };
    auto gone = [&] {
      task->cancelled = true;
      return false;  // httplib closes the connection
    };
    if (api == Api::Chat) {
      if (!send(chat_chunk(meta, {{"role", "assistant"}, {"content", ""}}, nullptr, ""))) return gone();
    } else if (!echo.empty() && !logprobs) {  // with logprobs: once the prompt's arrive
      if (!send(completion_chunk(meta, echo, nullptr, "", nullptr))) return gone();
      text_offset = echo.size();
    }
    Event e;
    while (true) {
      if (!task->pop(&e, milliseconds(50))) {
        // No output yet (queued, or a long prompt): notice a client that has gone away meanwhile.
        if (!sink.is_writable()) return gone();
        continue;
      }
      if (e.kind == Event::Kind::Error) {
        send(error_json(500, e.error, "server_error"));
        break;
      }
      if (e.kind == Event::Kind::Done) {
        const json usage = usage_json(e.n_prompt, e.n_cached, e.n_gen);
        // The chunk with finish_reason carries llama-server's timings (draft counts included).
        if (api == Api::Chat) {
          json last = chat_chunk(meta, json::object(), nullptr, e.finish_reason);
          last["timings"] = timings_json(e);
          if (!send(last)) return gone();
          if (include_usage && !send(chat_usage_chunk(meta, usage))) return gone();
        } else {
          json last = completion_chunk(meta, "", nullptr, e.finish_reason, &usage);
          last["timings"] = timings_json(e);
          if (!send(last)) return gone();
        }
        break;
      }
      bool ok;
      if (e.prompt) {  // echo + logprobs: the prompt's text with its tokens' log-probabilities
        ok = send(completion_chunk(meta, echo, completion_logprobs(e.tokens, tok, 0), "", nullptr));
        text_offset = echo.size();
      } else if (api == Api::Chat) {
        ok = send(chat_chunk(meta, {{"content", e.text}}, logprobs ? chat_logprobs(e.tokens, tok) : json(nullptr), ""));
      } else {
        ok = send(completion_chunk(meta, e.text, logprobs ? completion_logprobs(e.tokens, tok, text_offset) : json(nullptr),
                                   "", nullptr));
        text_offset += e.text.size();
      }
      if (!ok) return gone();
    }
    static const std::string kDone = "data: [DONE]\n\n";
    sink.write(kDone.data(), kDone.size());
    sink.done();
    return true;
  };
  // Called once the response is sent or the connection dropped: either way the slot is not needed.
  auto release = [&st, task](bool) {
    task->cancelled = true;
    st.in_flight--;
  };
  res.set_chunked_content_provider("text/event-stream", std::move(provider), std::move(release));
}

void handle_completion(ServerState& st, const Request& req, Response& res) {
  if (!check_ready(st, res)) return;
  json body;
  if (!parse_body(req, res, &body)) return;
  auto r = parse_completion_request(body, st.model->tokenizer(), st.limits);
  if (!r) return send_error(res, 400, r.error());
  serve_generation(st, res, Api::Completion, std::move(*r), false);
}

void handle_chat(ServerState& st, const Request& req, Response& res) {
  if (!check_ready(st, res)) return;
  json body;
  if (!parse_body(req, res, &body)) return;
  const Tokenizer& tok = st.model->tokenizer();
  auto c = parse_chat_request(body, tok, st.limits);
  if (!c) return send_error(res, 400, c.error());
  CompletionRequest& r = c->req;
  auto prompt = st.render_chat(c->messages, c->template_kwargs);
  if (!prompt) return send_error(res, 400, "chat template: " + prompt.error());
  r.gen.prompt = chat_prompt_tokens(tok, *prompt);  // the BOS rule llm-cli -cnv and the Python module use
  if (Status s = check_prompt(r.gen.prompt, tok, st.limits); !s) return send_error(res, 400, s.message());
  r.gen.stop_tokens = st.chat_stop_tokens;
  serve_generation(st, res, Api::Chat, std::move(r), c->want_logprobs);
}

void handle_tokenize(ServerState& st, const Request& req, Response& res) {
  if (!check_ready(st, res)) return;
  json body;
  if (!parse_body(req, res, &body)) return;
  if (!body.contains("content") || !body["content"].is_string())
    return send_error(res, 400, "'content' must be a string");
  bool add_special = false, with_pieces = false, parse_special = true;
  for (auto [key, out] : {std::pair{"add_special", &add_special}, std::pair{"with_pieces", &with_pieces},
                          std::pair{"parse_special", &parse_special}}) {
    if (!body.contains(key) || body[key].is_null()) continue;
    if (!body[key].is_boolean()) return send_error(res, 400, "'" + std::string(key) + "' must be true or false");
    *out = body[key].get<bool>();
  }
  const Tokenizer& tok = st.model->tokenizer();
  const auto ids = tok.encode(body["content"].get<std::string>(), add_special, parse_special);
  json tokens = json::array();
  for (int32_t id : ids) {
    if (with_pieces) tokens.push_back({{"id", id}, {"piece", tok.token_to_piece(id, true)}});
    else tokens.push_back(id);
  }
  send_json(res, 200, {{"tokens", tokens}});
}

void handle_detokenize(ServerState& st, const Request& req, Response& res) {
  if (!check_ready(st, res)) return;
  json body;
  if (!parse_body(req, res, &body)) return;
  if (!body.contains("tokens") || !body["tokens"].is_array()) return send_error(res, 400, "'tokens' must be an array");
  const Tokenizer& tok = st.model->tokenizer();
  std::vector<int32_t> ids;
  for (const json& v : body["tokens"]) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= tok.n_vocab())
      return send_error(res, 400, "'tokens' must hold token ids in [0, " + std::to_string(tok.n_vocab()) + ")");
    ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  send_json(res, 200, {{"content", tok.decode(ids)}});
}

}  // namespace

void register_routes(httplib::Server& svr, ServerState& st) {
  // Authentication before routing, so an unknown path with a wrong key is 401, not 404.
  svr.set_pre_routing_handler([&st](const Request& req, Response& res) {
    if (st.api_key.empty() || req.path == "/health" || req.path == "/v1/health") return httplib::Server::HandlerResponse::Unhandled;
    const std::string want = "Bearer " + st.api_key;
    if (req.get_header_value("Authorization") == want) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, 401, "Invalid API Key");
    // The body was not read: close the connection rather than parse it as the next request.
    res.set_header("Connection", "close");
    return httplib::Server::HandlerResponse::Handled;
  });
  // Any error status without a body (unknown path, body too large, ...) gets an error object.
  svr.set_error_handler([](const Request& req, Response& res) {
    if (!res.body.empty()) return;
    std::string msg = res.status == 404 ? "File Not Found: " + req.path
                      : res.status == 413 ? "the request body is too large"
                                          : "HTTP error " + std::to_string(res.status);
    send_error(res, res.status, msg);
  });
  // Nothing here throws by design; if something does, the client still gets an answer.
  svr.set_exception_handler([](const Request&, Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, 500, what);
  });
  svr.set_logger([&st](const Request&, const Response& res) {
    st.metrics.requests_total++;
    if (res.status >= 400) st.metrics.requests_errors++;
  });

  auto health = [&st](const Request&, Response& res) {
    if (!st.ready) return send_error(res, 503, "Loading model");
    send_json(res, 200, {{"status", "ok"}});
  };
  svr.Get("/health", health);
  svr.Get("/v1/health", health);
  auto models = [&st](const Request&, Response& res) {
    if (!check_ready(st, res)) return;
    const ModelConfig& c = st.model->config();
    json meta = {{"n_vocab", c.n_vocab}, {"n_ctx_train", c.n_ctx_train}, {"n_embd", c.n_embd},
                 {"n_params", st.model->n_params()}, {"size", st.model->weights().total_bytes()},
                 {"n_ctx_slot", st.limits.n_ctx_slot}, {"n_slots", st.metrics.n_slots}};
    json m = {{"id", st.model_name}, {"object", "model"}, {"created", st.created}, {"owned_by", "kestrel"}, {"meta", meta}};
    send_json(res, 200, {{"object", "list"}, {"data", json::array({m})}});
  };
  svr.Get("/v1/models", models);
  svr.Get("/models", models);
  for (const char* p : {"/v1/completions", "/completions", "/completion"})
    svr.Post(p, [&st](const Request& req, Response& res) { handle_completion(st, req, res); });
  for (const char* p : {"/v1/chat/completions", "/chat/completions"})
    svr.Post(p, [&st](const Request& req, Response& res) { handle_chat(st, req, res); });
  svr.Post("/tokenize", [&st](const Request& req, Response& res) { handle_tokenize(st, req, res); });
  svr.Post("/detokenize", [&st](const Request& req, Response& res) { handle_detokenize(st, req, res); });
  svr.Get("/metrics", [&st](const Request&, Response& res) {
    res.set_content(st.metrics.prometheus(), "text/plain; version=0.0.4");
  });
}

}  // namespace kestrel::server
