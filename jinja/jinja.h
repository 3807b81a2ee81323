#pragma once
// A sandboxed Jinja engine for chat templates, byte-compatible with Hugging Face's rendering
// (Python jinja2's ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols
// extension, `{% generation %}`, and HF's tojson / raise_exception / strftime_now). It knows nothing about
// models: model/chat.h hands it messages and gets text back.
//
//   auto out = kestrel::jinja::render("{{ bos_token }}{% for m in messages %}...", context_json);
//   if (!out) fprintf(stderr, "%s\n", out.error().c_str());
//
// Hostile templates (a GGUF can carry any text) cannot loop forever, recurse or allocate without bound:
// the limits below turn that into a one-line error. Errors are values; nothing throws.
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "gguf/status.h"

namespace kestrel::jinja {

struct Limits {
  uint64_t max_steps = 5'000'000;        // statements + expressions evaluated (a long chat with tools: ~100k)
  uint64_t max_bytes = 64ull << 20;      // bytes of strings and lists built during one render (also caps output)
  int max_depth = 400;                   // nesting of evaluation (expressions, statements, calls)
  int max_macro_depth = 100;             // macro recursion
};

struct Program;

class Template {
 public:
  // Parses once; errors name the line ("line 3: unexpected end of template, expected 'endif'").
  static Result<Template> parse(const std::string& source);
  // Renders with `context`'s keys as variables. Use ordered_json to keep Python's key order in what
  // tojson prints; nlohmann::json (sorted keys) works too. now: the time strftime_now() sees (0: the clock).
  Result<std::string> render(const nlohmann::ordered_json& context, std::time_t now = 0) const;
  Result<std::string> render(const nlohmann::json& context, std::time_t now = 0) const;
  Limits limits;

 private:
  std::shared_ptr<const Program> program_;
};

// Parse + render in one call.
Result<std::string> render(const std::string& template_src, const nlohmann::ordered_json& context);
Result<std::string> render(const std::string& template_src, const nlohmann::json& context);

}  // namespace kestrel::jinja
