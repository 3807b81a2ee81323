// ChatTemplate: the model's template + Hugging Face's variables, rendered by jinja/.
#include "model/chat.h"

#include <fstream>
#include <sstream>

namespace kestrel {

const char* ChatTemplate::chatml_source() {
  return "{%- for message in messages -%}"
         "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
         "{%- endfor -%}"
         "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";
}

Result<ChatTemplate> ChatTemplate::from_source(const std::string& source, std::string bos_token, std::string eos_token,
                                               std::vector<int32_t> stop_tokens) {
  auto t = jinja::Template::parse(source);
  if (!t) return t.status();
  ChatTemplate c;
  c.tmpl_ = std::move(*t);
  c.source_ = source;
  c.bos_ = std::move(bos_token);
  c.eos_ = std::move(eos_token);
  c.stop_tokens_ = std::move(stop_tokens);
  return c;
}

Result<ChatTemplate> ChatTemplate::from_gguf(const GGUFFile& file, const Tokenizer& tok, const std::string& override_file) {
  std::string source;
  bool fallback = false;
  if (!override_file.empty()) {
    std::ifstream f(override_file, std::ios::binary);
    if (!f) return Status::error(override_file + ": cannot open chat template file");
    std::stringstream ss;
    ss << f.rdbuf();
    source = ss.str();
  } else {
    auto s = file.get_string_or("tokenizer.chat_template", "");
    if (!s) return s.status();
    source = *s;
    if (source.empty()) {
      source = chatml_source();
      fallback = true;
    }
  }
  auto token_text = [&](int32_t id) { return id >= 0 && id < tok.n_vocab() ? tok.token_text(id) : std::string(); };
  std::vector<int32_t> stops;
  for (int32_t id = 0; id < tok.n_vocab(); ++id)
    if (tok.is_eog(id)) stops.push_back(id);
  auto c = from_source(source, token_text(tok.bos()), token_text(tok.eos()), std::move(stops));
  if (!c) return Status::error((override_file.empty() ? "tokenizer.chat_template" : override_file) + ": " + c.error());
  c->fallback_ = fallback;
  return c;
}

Result<ChatTemplate> ChatTemplate::from_model(const Model& model, const std::string& override_file) {
  return from_gguf(model.weights().file(), model.tokenizer(), override_file);
}

Result<std::string> ChatTemplate::apply(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                        const nlohmann::ordered_json& extra) const {
  if (!messages.is_array()) return Status::error("chat: messages must be an array");
  if (!extra.is_object()) return Status::error("chat: extra variables must be an object");
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  ctx["messages"] = messages;
  ctx["tools"] = nullptr;
  ctx["documents"] = nullptr;
  ctx["add_generation_prompt"] = add_generation_prompt;
  ctx["bos_token"] = bos_;
  ctx["eos_token"] = eos_;
  for (auto it = extra.begin(); it != extra.end(); ++it) ctx[it.key()] = it.value();
  return tmpl_.render(ctx, now_);
}

Result<std::string> ChatTemplate::apply(const nlohmann::json& messages, bool add_generation_prompt,
                                        const nlohmann::json& extra) const {
  return apply(nlohmann::ordered_json(messages), add_generation_prompt, nlohmann::ordered_json(extra));
}

std::vector<int32_t> chat_prompt_tokens(const Tokenizer& tok, const std::string& prompt) {
  std::vector<int32_t> ids = tok.encode(prompt, false, true);
  if (tok.add_bos() && tok.bos() >= 0 && (ids.empty() || ids[0] != tok.bos())) ids.insert(ids.begin(), tok.bos());
  return ids;
}

}  // namespace kestrel
