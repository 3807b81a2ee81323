// libFuzzer target for the Jinja engine: the input is a template source. It is parsed and, when it
// parses, rendered over a small chat-like context with tight limits, so every run is fast and any crash,
// leak, hang or sanitizer error in the lexer, parser or evaluator shows up.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "jinja/jinja.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::ordered_json ctx = nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi {{ x }}"},
                 {"role": "assistant", "content": "ok", "tool_calls": [{"type": "function",
                  "function": {"name": "f", "arguments": {"a": 1}}}]}, {"role": "tool", "content": "r"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "documents": null, "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>",
    "n": 3, "f": 1.5, "s": " a b ", "d": {"k": [1, 2]}})");
  auto t = kestrel::jinja::Template::parse(std::string(reinterpret_cast<const char*>(data), size));
  if (!t) return 0;
  t->limits.max_steps = 20000;
  t->limits.max_bytes = 1 << 20;
  auto r = t->render(ctx, 1767225600);
  volatile size_t keep = r ? r->size() : r.error().size();
  (void)keep;
  return 0;
}
