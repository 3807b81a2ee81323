#pragma once
// A model's chat template: `tokenizer.chat_template` from the GGUF (or a file that overrides it),
// rendered by jinja/ with the variables Hugging Face passes (messages, tools, documents,
// add_generation_prompt, bos_token, eos_token and any extra keys of the request). A model without a
// template gets ChatML, as llama.cpp falls back.
//
//   auto tmpl = kestrel::ChatTemplate::from_model(*model);
//   auto prompt = tmpl->apply(nlohmann::json::array({{{"role", "user"}, {"content", "Hi"}}}), true);
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gguf/gguf_file.h"
#include "gguf/status.h"
#include "jinja/jinja.h"
#include "model/llm.h"

namespace kestrel {

class ChatTemplate {
 public:
  // override_file: a .jinja file used instead of the model's template (--chat-template-file).
  static Result<ChatTemplate> from_model(const Model& model, const std::string& override_file = "");
  // Same from a GGUF's metadata and its tokenizer (works on vocab-only files).
  static Result<ChatTemplate> from_gguf(const GGUFFile& file, const Tokenizer& tok, const std::string& override_file = "");
  // A template given as text, with the bos/eos texts it sees and the token ids that end a reply.
  static Result<ChatTemplate> from_source(const std::string& source, std::string bos_token, std::string eos_token,
                                          std::vector<int32_t> stop_tokens = {});

  // messages: [{"role": ..., "content": ...}, ...]. extra: more variables, e.g. {"tools": [...]}; keys
  // given here override the defaults (tools/documents = none). ordered_json keeps the request's key order
  // (what tojson prints), as Python does.
  Result<std::string> apply(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                            const nlohmann::ordered_json& extra = nlohmann::ordered_json::object()) const;
  Result<std::string> apply(const nlohmann::json& messages, bool add_generation_prompt,
                            const nlohmann::json& extra = nlohmann::json::object()) const;

  // End-of-generation tokens of the vocab (EOS, EOT, <end_of_turn>, <|im_end|>, <|eot_id|>, ...).
  std::vector<int32_t> stop_tokens() const { return stop_tokens_; }
  const std::string& source() const { return source_; }
  bool is_chatml_fallback() const { return fallback_; }
  const std::string& bos_token() const { return bos_; }
  const std::string& eos_token() const { return eos_; }
  void set_time(std::time_t now) { now_ = now; }  // what strftime_now() sees (0: the clock); for tests

  // llama.cpp's fallback for models without a template.
  static const char* chatml_source();

 private:
  jinja::Template tmpl_;
  std::string source_, bos_, eos_;
  std::vector<int32_t> stop_tokens_;
  bool fallback_ = false;
  std::time_t now_ = 0;
};

// Token ids of a rendered chat prompt (llm-cli -cnv, the Python module): special tokens parsed; the
// template writes bos_token itself, so, like llama.cpp, BOS is added only when the vocab wants one and the
// text does not already start with it.
std::vector<int32_t> chat_prompt_tokens(const Tokenizer& tok, const std::string& prompt);

}  // namespace kestrel
