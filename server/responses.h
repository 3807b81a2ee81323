#pragma once
// The JSON bodies the OpenAI API defines for completions and chat completions, whole and as
// streamed chunks (object "text_completion", "chat.completion", "chat.completion.chunk").
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "server/json_util.h"
#include "server/task.h"

namespace kestrel::server {

// What one request produced, gathered from its Events.
struct Generation {
  std::string text;                        // with echo, the prompt's text first
  size_t echo_bytes = 0;                   // bytes of `text` that are the echoed prompt
  std::vector<TokenLogprob> prompt_tokens; // echo + logprobs: the prompt's tokens, the first without a logprob
  std::vector<TokenLogprob> tokens;
  std::string finish_reason;
  int n_prompt = 0, n_cached = 0, n_gen = 0;
  json timings;                            // timings_json() of the Done event
};

struct ResponseMeta {
  std::string id;     // "cmpl-..." / "chatcmpl-..."
  long long created;  // Unix seconds
  std::string model;
};

std::string new_response_id(const char* prefix);
json usage_json(int n_prompt, int n_cached, int n_gen);
// llama-server's `timings` (cache_n, prompt_n, prompt_ms, prompt_per_second, predicted_n, predicted_ms,
// predicted_per_second; draft_n and draft_n_accepted when the request decoded speculatively), from a
// Done event. In the body beside `usage`, and in the last chunk of a stream.
json timings_json(const Event& done);

// Completions: logprobs in the legacy shape {tokens, token_logprobs, top_logprobs, text_offset}; a
// token without a logprob (the first of an echoed prompt) has null in token_logprobs and top_logprobs,
// as OpenAI's legacy API and vLLM answer echo + logprobs.
json completion_logprobs(const std::vector<TokenLogprob>& t, const Tokenizer& tok, size_t text_offset);
json completion_body(const ResponseMeta& m, const Generation& g, const Tokenizer& tok, bool logprobs);
// One streamed chunk; finish_reason "" means null; usage only when given (the final chunk).
json completion_chunk(const ResponseMeta& m, const std::string& text, const json& logprobs,
                      const std::string& finish_reason, const json* usage);

// Chat: logprobs as {content: [{token, logprob, bytes, top_logprobs: [...]}]}.
json chat_logprobs(const std::vector<TokenLogprob>& t, const Tokenizer& tok);
json chat_body(const ResponseMeta& m, const Generation& g, const Tokenizer& tok, bool logprobs);
json chat_chunk(const ResponseMeta& m, const json& delta, const json& logprobs, const std::string& finish_reason);
json chat_usage_chunk(const ResponseMeta& m, const json& usage);  // choices: [], usage: {...}

}  // namespace kestrel::server
