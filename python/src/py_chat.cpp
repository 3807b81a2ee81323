// kestrel.Model's chat methods: the model's chat template (model/chat.h) over Python messages.
#include "python/src/py_json.h"
#include "python/src/py_model.h"

namespace py = pybind11;

namespace kestrel::binding {

const ChatTemplate& PyModel::chat_template() {
  if (!chat_template_) {
    Held h = eng_->hold(false);
    auto t = ChatTemplate::from_model(*h.model, chat_template_file_);
    if (!t) throw TemplateError(t.error());
    chat_template_.emplace(std::move(*t));
  }
  return *chat_template_;
}

std::string PyModel::apply_chat_template(const py::object& messages, bool add_generation_prompt,
                                         const py::dict& extra) {
  if (!py::isinstance<py::list>(messages) && !py::isinstance<py::tuple>(messages))
    throw ArgumentError("messages must be a list of dicts like {\"role\": \"user\", \"content\": \"...\"}");
  const nlohmann::ordered_json msgs = to_json(messages, "messages");
  for (size_t i = 0; i < msgs.size(); ++i)
    if (!msgs[i].is_object() || !msgs[i].contains("role"))
      throw ArgumentError("messages[" + std::to_string(i) + "] must be a dict with a \"role\"");
  const nlohmann::ordered_json vars = to_json(extra, "chat template variables");
  auto text = chat_template().apply(msgs, add_generation_prompt, vars);
  if (!text) throw TemplateError(text.error());
  return *text;
}

std::vector<int32_t> PyModel::chat_prompt_tokens(const std::string& prompt) {
  Held h = eng_->hold(false);
  return kestrel::chat_prompt_tokens(h.model->tokenizer(), prompt);
}

std::vector<int32_t> PyModel::chat_stop_tokens() { return chat_template().stop_tokens(); }

std::string PyModel::chat_template_source() { return chat_template().source(); }

}  // namespace kestrel::binding
