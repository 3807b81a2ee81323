#pragma once
// Request bodies of /v1/completions and /v1/chat/completions -> GenParams, with every field checked:
// wrong types, out-of-range values, unknown token ids and prompts longer than a slot's context are
// errors whose message names the field (the routes answer them with 400).
#include <string>

#include "gguf/status.h"
#include "model/tokenizer.h"
#include "server/json_util.h"
#include "server/task.h"

namespace kestrel::server {

struct RequestLimits {
  int n_ctx_slot = 0;         // a prompt must fit in one slot
  int max_tokens = 1 << 20;   // largest max_tokens accepted
  int max_stop = 16;          // stop strings per request
  // Speculative decoding defaults (llm-server --lookup / -md --draft-max / --draft-min / --draft-p-min),
  // which a request's speculative.n_max / n_min / p_min override.
  int spec_n_max = 0;
  int spec_n_min = 0;
  float spec_p_min = 0.75f;
};

struct CompletionRequest {
  GenParams gen;
  bool stream = false;
  bool include_usage = false;   // stream_options.include_usage
  std::string echo_text;        // completions with echo: the prompt as text
  std::string model;            // as the client named it (echoed back)
};

// /v1/completions: prompt (string, token ids, or a one-element array of either), max_tokens
// (n_predict), sampling fields, stop, seed, penalties, logprobs (0..20), echo, stream.
Result<CompletionRequest> parse_completion_request(const json& body, const Tokenizer& tok, const RequestLimits& lim);

struct ChatRequest {
  CompletionRequest req;       // req.gen.prompt is empty: the routes render `messages` and tokenize
  json messages;               // content parts joined into strings, null content as ""
  json template_kwargs;        // chat_template_kwargs (an object, {} when absent)
  bool want_logprobs = false;  // logprobs: true (req.gen.logprobs = top_logprobs)
};

// /v1/chat/completions: messages (each {role, content} with content a string, null or text parts),
// logprobs (bool) + top_logprobs (0..20), chat_template_kwargs, and the fields shared with completions.
Result<ChatRequest> parse_chat_request(const json& body, const Tokenizer& tok, const RequestLimits& lim);

// The fields chat shares with completions (everything but prompt, echo and logprobs' format), read
// into r.gen; chat reads logprobs (bool) + top_logprobs itself. Among them llama-server's
// speculative.n_max (0: no speculation), speculative.n_min and speculative.p_min (0..1).
Status parse_common_fields(const json& body, const Tokenizer& tok, const RequestLimits& lim, CompletionRequest* r);

// Checks the prompt against the vocabulary and the slot's context.
Status check_prompt(const std::vector<int32_t>& ids, const Tokenizer& tok, const RequestLimits& lim);

}  // namespace kestrel::server
