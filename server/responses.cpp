#include "server/responses.h"

#include <random>

namespace kestrel::server {
namespace {

json bytes_of(const std::string& s) {
  json a = json::array();
  for (unsigned char c : s) a.push_back(static_cast<int>(c));
  return a;
}

json reason_or_null(const std::string& r) { return r.empty() ? json(nullptr) : json(r); }

}  // namespace

std::string new_response_id(const char* prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string id = prefix;
  uint64_t v = rng();
  for (int i = 0; i < 16; ++i, v >>= 4) id += hex[v & 15];
  return id;
}

json usage_json(int n_prompt, int n_cached, int n_gen) {
  return json{{"prompt_tokens", n_prompt},
              {"completion_tokens", n_gen},
              {"total_tokens", n_prompt + n_gen},
              {"prompt_tokens_details", {{"cached_tokens", n_cached}}}};
}

json timings_json(const Event& d) {
  const int prompt_n = d.n_prompt - d.n_cached;
  json t = {{"cache_n", d.n_cached},
            {"prompt_n", prompt_n},
            {"prompt_ms", d.prompt_ms},
            {"prompt_per_second", d.prompt_ms > 0 ? 1e3 * prompt_n / d.prompt_ms : 0.0},
            {"predicted_n", d.n_gen},
            {"predicted_ms", d.predicted_ms},
            {"predicted_per_second", d.predicted_ms > 0 ? 1e3 * d.n_gen / d.predicted_ms : 0.0}};
  if (d.speculative) {
    t["draft_n"] = d.n_drafted;
    t["draft_n_accepted"] = d.n_accepted;
  }
  return t;
}

json completion_logprobs(const std::vector<TokenLogprob>& t, const Tokenizer& tok, size_t text_offset) {
  json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  for (const TokenLogprob& x : t) {
    const std::string piece = tok.token_to_piece(x.id);
    tokens.push_back(piece);
    if (x.has_logprob) {
      lps.push_back(x.logprob);
      json top = json::object();
      for (const auto& [id, lp] : x.top) top[tok.token_to_piece(id)] = lp;
      tops.push_back(top);
    } else {
      lps.push_back(nullptr);
      tops.push_back(nullptr);
    }
    offsets.push_back(text_offset);
    text_offset += piece.size();
  }
  return json{{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

json completion_body(const ResponseMeta& m, const Generation& g, const Tokenizer& tok, bool logprobs) {
  json lp = nullptr;
  if (logprobs) {
    // The echoed prompt's tokens (offsets from 0), then the generated ones (after the echoed text).
    lp = completion_logprobs(g.prompt_tokens, tok, 0);
    const json gen = completion_logprobs(g.tokens, tok, g.echo_bytes);
    for (const char* k : {"tokens", "token_logprobs", "top_logprobs", "text_offset"})
      lp[k].insert(lp[k].end(), gen[k].begin(), gen[k].end());
  }
  json choice = {{"index", 0},
                 {"text", g.text},
                 {"logprobs", lp},
                 {"finish_reason", reason_or_null(g.finish_reason)}};
  return json{{"id", m.id},
              {"object", "text_completion"},
              {"created", m.created},
              {"model", m.model},
              {"choices", json::array({choice})},
              {"usage", usage_json(g.n_prompt, g.n_cached, g.n_gen)},
              {"timings", g.timings}};
}

json completion_chunk(const ResponseMeta& m, const std::string& text, const json& logprobs,
                      const std::string& finish_reason, const json* usage) {
  json choice = {{"index", 0}, {"text", text}, {"logprobs", logprobs}, {"finish_reason", reason_or_null(finish_reason)}};
  json c = {{"id", m.id},
            {"object", "text_completion"},
            {"created", m.created},
            {"model", m.model},
            {"choices", json::array({choice})}};
  if (usage) c["usage"] = *usage;
  return c;
}

json chat_logprobs(const std::vector<TokenLogprob>& t, const Tokenizer& tok) {
  json content = json::array();
  for (const TokenLogprob& x : t) {
    const std::string piece = tok.token_to_piece(x.id);
    json top = json::array();
    for (const auto& [id, lp] : x.top) {
      const std::string p = tok.token_to_piece(id);
      top.push_back({{"token", p}, {"logprob", lp}, {"bytes", bytes_of(p)}});
    }
    content.push_back({{"token", piece}, {"logprob", x.logprob}, {"bytes", bytes_of(piece)}, {"top_logprobs", top}});
  }
  return json{{"content", content}};
}

json chat_body(const ResponseMeta& m, const Generation& g, const Tokenizer& tok, bool logprobs) {
  json choice = {{"index", 0},
                 {"message", {{"role", "assistant"}, {"content", g.text}}},
                 {"logprobs", logprobs ? chat_logprobs(g.tokens, tok) : json(nullptr)},
                 {"finish_reason", reason_or_null(g.finish_reason)}};
  return json{{"id", m.id},
              {"object", "chat.completion"},
              {"created", m.created},
              {"model", m.model},
              {"choices", json::array({choice})},
              {"usage", usage_json(g.n_prompt, g.n_cached, g.n_gen)},
              {"timings", g.timings}};
}

json chat_chunk(const ResponseMeta& m, const json& delta, const json& logprobs, const std::string& finish_reason) {
  json choice = {{"index", 0}, {"delta", delta}, {"logprobs", logprobs}, {"finish_reason", reason_or_null(finish_reason)}};
  return json{{"id", m.id},
              {"object", "chat.completion.chunk"},
              {"created", m.created},
              {"model", m.model},
              {"choices", json::array({choice})}};
}

json chat_usage_chunk(const ResponseMeta& m, const json& usage) {
  return json{{"id", m.id},
              {"object", "chat.completion.chunk"},
              {"created", m.created},
              {"model", m.model},
              {"choices", json::array()},
              {"usage", usage}};
}

}  // namespace kestrel::server
