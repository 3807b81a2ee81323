#include "server/request_params.h"

#include <cmath>
#include <limits>

namespace kestrel::server {
namespace {

bool present(const json& b, const char* key) { return b.contains(key) && !b[key].is_null(); }

Status read_number(const json& b, const char* key, double lo, double hi, double* out) {
  if (!present(b, key)) return Status::ok();
  const json& v = b[key];
  if (!v.is_number()) return Status::error("'" + std::string(key) + "' must be a number");
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi)
    return Status::error("'" + std::string(key) + "' must be in [" + json(lo).dump() + ", " + json(hi).dump() + "]");
  *out = d;
  return Status::ok();
}

Status read_float(const json& b, const char* key, double lo, double hi, float* out) {
  double d = *out;
  if (Status st = read_number(b, key, lo, hi, &d); !st) return st;
  *out = static_cast<float>(d);
  return Status::ok();
}

Status read_int(const json& b, const char* key, int64_t lo, int64_t hi, int64_t* out) {
  if (!present(b, key)) return Status::ok();
  const json& v = b[key];
  if (v.is_number_integer()) {
    // Unsigned values above int64's range are out of range too.
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return Status::error("'" + std::string(key) + "' is out of range");
    const int64_t i = v.get<int64_t>();
    if (i < lo || i > hi)
      return Status::error("'" + std::string(key) + "' must be an integer in [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "]");
    *out = i;
    return Status::ok();
  }
  return Status::error("'" + std::string(key) + "' must be an integer");
}

Status read_bool(const json& b, const char* key, bool* out) {
  if (!present(b, key)) return Status::ok();
  if (!b[key].is_boolean()) return Status::error("'" + std::string(key) + "' must be true or false");
  *out = b[key].get<bool>();
  return Status::ok();
}

// A prompt given as token ids.
Status read_ids(const json& arr, const Tokenizer& tok, std::vector<int32_t>* out) {
  for (const json& v : arr) {
    if (!v.is_number_integer()) return Status::error("'prompt' token ids must be integers");
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id >= tok.n_vocab())
      return Status::error("'prompt' token id " + std::to_string(id) + " is out of range [0, " +
                           std::to_string(tok.n_vocab()) + ")");
    out->push_back(static_cast<int32_t>(id));
  }
  return Status::ok();
}

// Chat messages: an array of {role, content} with content a string, null or text parts; parts are
// joined into one string (templates expect strings).
Status normalize_messages(const json& in, json* out) {
  if (!in.is_array() || in.empty()) return Status::error("'messages' must be a non-empty array");
  *out = json::array();
  for (const json& m : in) {
    if (!m.is_object()) return Status::error("each message must be an object");
    if (!m.contains("role") || !m["role"].is_string()) return Status::error("each message needs a string 'role'");
    json msg = m;
    if (!m.contains("content") || m["content"].is_null()) {
      msg["content"] = "";
    } else if (m["content"].is_array()) {
      std::string text;
      for (const json& part : m["content"]) {
        if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
            !part["text"].is_string())
          return Status::error("message content parts must be {\"type\": \"text\", \"text\": \"...\"}");
        text += part["text"].get<std::string>();
      }
      msg["content"] = text;
    } else if (!m["content"].is_string()) {
      return Status::error("message 'content' must be a string or an array of text parts");
    }
    out->push_back(std::move(msg));
  }
  return Status::ok();
}

// llama-server's per-request speculative fields (dotted keys at the top level). The server caps n_max by
// its batch and the context; any n_max is accepted, since speculation changes only the speed.
Status read_speculative(const json& b, const RequestLimits& lim, GenParams* g) {
  int64_t n_max = lim.spec_n_max, n_min = lim.spec_n_min;
  if (Status st = read_int(b, "speculative.n_max", 0, 1 << 20, &n_max); !st) return st;
  if (Status st = read_int(b, "speculative.n_min", 0, 1 << 20, &n_min); !st) return st;
  g->spec_p_min = lim.spec_p_min;
  if (Status st = read_float(b, "speculative.p_min", 0, 1, &g->spec_p_min); !st) return st;
  if (n_max > 0 && n_min > n_max)
    return Status::error("'speculative.n_min' (" + std::to_string(n_min) + ") must be <= 'speculative.n_max' (" +
                         std::to_string(n_max) + ")");
  g->spec_n_max = static_cast<int>(n_max);
  g->spec_n_min = static_cast<int>(n_min);
  return Status::ok();
}

}  // namespace

Status check_prompt(const std::vector<int32_t>& ids, const Tokenizer& tok, const RequestLimits& lim) {
  if (ids.empty()) return Status::error("the prompt is empty (no tokens)");
  if (static_cast<int>(ids.size()) > lim.n_ctx_slot)
    return Status::error("the prompt is " + std::to_string(ids.size()) + " tokens, longer than the context size of " +
                         std::to_string(lim.n_ctx_slot) + " tokens per slot");
  return Status::ok();
}

Status parse_common_fields(const json& b, const Tokenizer& tok, const RequestLimits& lim, CompletionRequest* r) {
  GenParams& g = r->gen;
  SamplerParams& sp = g.sampling;
  int64_t max_tokens = -1;
  // max_tokens (OpenAI), max_completion_tokens (OpenAI chat's newer name), n_predict (llama-server).
  for (const char* key : {"n_predict", "max_tokens", "max_completion_tokens"})
    if (Status st = read_int(b, key, key[0] == 'n' ? -1 : 0, lim.max_tokens, &max_tokens); !st) return st;
  g.max_tokens = static_cast<int>(max_tokens);
  if (Status st = read_float(b, "temperature", 0, 1e4, &sp.temp); !st) return st;
  if (Status st = read_float(b, "top_p", 0, 1, &sp.top_p); !st) return st;
  if (Status st = read_float(b, "min_p", 0, 1, &sp.min_p); !st) return st;
  int64_t top_k = sp.top_k;
  if (Status st = read_int(b, "top_k", 0, 1 << 30, &top_k); !st) return st;
  sp.top_k = static_cast<int>(top_k);
  if (Status st = read_float(b, "presence_penalty", -2, 2, &sp.presence_penalty); !st) return st;
  if (Status st = read_float(b, "frequency_penalty", -2, 2, &sp.frequency_penalty); !st) return st;
  if (Status st = read_float(b, "repeat_penalty", 0.01, 100, &sp.repeat_penalty); !st) return st;
  int64_t last_n = sp.repeat_last_n;
  if (Status st = read_int(b, "repeat_last_n", -1, 1 << 20, &last_n); !st) return st;
  sp.repeat_last_n = static_cast<int>(last_n);
  int64_t seed = -1;
  if (Status st = read_int(b, "seed", -1, std::numeric_limits<int64_t>::max(), &seed); !st) return st;
  if (seed >= 0) sp.seed = static_cast<uint64_t>(seed);
  if (present(b, "stop")) {
    const json& s = b["stop"];
    if (s.is_string()) {
      g.stop.push_back(s.get<std::string>());
    } else if (s.is_array()) {
      if (static_cast<int>(s.size()) > lim.max_stop)
        return Status::error("'stop' has more than " + std::to_string(lim.max_stop) + " strings");
      for (const json& x : s) {
        if (!x.is_string()) return Status::error("'stop' must be a string or an array of strings");
        g.stop.push_back(x.get<std::string>());
      }
    } else {
      return Status::error("'stop' must be a string or an array of strings");
    }
  }
  if (Status st = read_bool(b, "stream", &r->stream); !st) return st;
  if (Status st = read_bool(b, "ignore_eos", &g.ignore_eos); !st) return st;
  if (Status st = read_bool(b, "cache_prompt", &g.cache_prompt); !st) return st;
  if (present(b, "stream_options")) {
    if (!b["stream_options"].is_object()) return Status::error("'stream_options' must be an object");
    if (Status st = read_bool(b["stream_options"], "include_usage", &r->include_usage); !st) return st;
  }
  if (Status st = read_speculative(b, lim, &g); !st) return st;
  int64_t n = 1;
  if (Status st = read_int(b, "n", 1, 1 << 20, &n); !st) return st;
  if (n != 1) return Status::error("'n' other than 1 is not supported (send one request per choice)");
  if (present(b, "model")) {
    if (!b["model"].is_string()) return Status::error("'model' must be a string");
    r->model = b["model"].get<std::string>();
  }
  (void)tok;
  return Status::ok();
}

Result<CompletionRequest> parse_completion_request(const json& b, const Tokenizer& tok, const RequestLimits& lim) {
  if (!b.is_object()) return Status::error("the request body must be a JSON object");
  CompletionRequest r;
  if (Status st = parse_common_fields(b, tok, lim, &r); !st) return st;
  if (!present(b, "prompt")) return Status::error("'prompt' is required");
  const json* p = &b["prompt"];
  // A one-element batch is the same as its element; more prompts per request are not supported.
  if (p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array())) p = &(*p)[0];
  if (p->is_string()) {
    const std::string text = p->get<std::string>();
    r.gen.prompt = tok.encode(text, true, true);  // BOS as the vocab asks; special tokens parsed (llama-server)
    r.echo_text = text;
  } else if (p->is_array() && (p->empty() || (*p)[0].is_number())) {
    if (Status st = read_ids(*p, tok, &r.gen.prompt); !st) return st;
    r.echo_text = tok.decode(r.gen.prompt);
  } else if (p->is_array()) {
    return Status::error("'prompt' with several prompts is not supported (send one request per prompt)");
  } else {
    return Status::error("'prompt' must be a string or an array of token ids");
  }
  if (Status st = check_prompt(r.gen.prompt, tok, lim); !st) return st;
  if (Status st = read_bool(b, "echo", &r.gen.echo); !st) return st;
  if (present(b, "logprobs")) {
    int64_t lp = -1;
    if (b["logprobs"].is_boolean()) {  // accepted as chat's form too
      lp = b["logprobs"].get<bool>() ? 0 : -1;
    } else if (Status st = read_int(b, "logprobs", 0, 20, &lp); !st) {
      return st;
    }
    r.gen.logprobs = static_cast<int>(lp);
  }
  return r;
}

Result<ChatRequest> parse_chat_request(const json& b, const Tokenizer& tok, const RequestLimits& lim) {
  if (!b.is_object()) return Status::error("the request body must be a JSON object");
  ChatRequest c;
  if (Status st = parse_common_fields(b, tok, lim, &c.req); !st) return st;
  if (!b.contains("messages")) return Status::error("'messages' is required");
  if (Status st = normalize_messages(b["messages"], &c.messages); !st) return st;
  if (Status st = read_bool(b, "logprobs", &c.want_logprobs); !st) return st;
  int64_t top = 0;
  if (Status st = read_int(b, "top_logprobs", 0, 20, &top); !st) return st;
  c.req.gen.logprobs = c.want_logprobs ? static_cast<int>(top) : -1;
  c.template_kwargs = json::object();
  if (present(b, "chat_template_kwargs")) {
    if (!b["chat_template_kwargs"].is_object()) return Status::error("'chat_template_kwargs' must be an object");
    c.template_kwargs = b["chat_template_kwargs"];
  }
  return c;
}

}  // namespace kestrel::server
