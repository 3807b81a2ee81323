#pragma once
// kestrel.Model (the C++ half; python/kestrel/__init__.py adds the llama-cpp-python style dict methods):
// a loaded GGUF model plus one session, over model/llm.h and model/generate.h.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/chat.h"
#include "model/generate.h"
#include "python/src/engine.h"
#include "python/src/generation.h"

namespace kestrel::binding {

// generate()'s keyword arguments, checked.
struct GenerateArgs {
  std::optional<int> max_tokens;
  float temperature = 0.8f;
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int repeat_last_n = 64;
  std::optional<uint64_t> seed;
  pybind11::object stop;  // None, a str, or a list of str
  std::vector<int32_t> stop_tokens;  // extra end-of-generation ids (a chat template's)
  int lookup = 0;                    // > 0: speculative decoding with prompt-lookup drafts (greedy only)
  GenerateParams params() const;  // throws ArgumentError
};

class PyModel {
 public:
  PyModel(const pybind11::object& path, int n_ctx, int n_threads, bool use_mmap, int n_batch,
          const std::string& cache_type, const pybind11::object& chat_template_file, bool repack = true);

  std::vector<int32_t> tokenize(const pybind11::object& text, bool add_special, bool parse_special);
  pybind11::str detokenize(const std::vector<int32_t>& ids, bool remove_special, bool unparse_special);
  pybind11::str token_to_piece(int32_t id, bool special);
  void eval(const std::vector<int32_t>& ids, bool logits_all);
  pybind11::object logits();
  void reset();
  std::shared_ptr<Generation> generation(const pybind11::object& prompt, const GenerateArgs& args);
  pybind11::object generate(const pybind11::object& prompt, const GenerateArgs& args, bool stream);
  pybind11::object metadata();
  void close();
  bool closed();

  int n_ctx();
  int n_past();
  int n_vocab();
  int n_ctx_train();
  int token_bos();
  int token_eos();
  int token_eot();
  std::string path() const { return eng_->path; }

  // Chat (py_chat.cpp): the model's template (tokenizer.chat_template, the override file, or ChatML).
  std::string apply_chat_template(const pybind11::object& messages, bool add_generation_prompt,
                                  const pybind11::dict& extra);
  std::vector<int32_t> chat_prompt_tokens(const std::string& prompt);
  std::vector<int32_t> chat_stop_tokens();
  std::string chat_template_source();

 private:
  const ChatTemplate& chat_template();  // made on first use; TemplateError when it does not parse

  std::shared_ptr<Engine> eng_;
  pybind11::object metadata_;  // built on first use
  std::string chat_template_file_;
  std::optional<ChatTemplate> chat_template_;  // guarded by the GIL
};

}  // namespace kestrel::binding
