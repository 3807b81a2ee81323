// The public API: parse once, render many times; internal errors become one-line Result errors.
#include "jinja/jinja.h"

#include <new>

#include "jinja/ast.h"
#include "jinja/interp.h"

namespace kestrel::jinja {
namespace {

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  if (s.size() > 500) s = s.substr(0, 500) + "...";
  return s;
}

}  // namespace

Result<Template> Template::parse(const std::string& source) {
  try {
    Template t;
    t.program_ = jinja::parse(source);
    return t;
  } catch (const Error& e) {
    return Status::error("template: " + one_line(e.message));
  } catch (const std::bad_alloc&) {
    return Status::error("template: out of memory while parsing");
  }
}

Result<std::string> Template::render(const nlohmann::ordered_json& context, std::time_t now) const {
  if (!program_) return Status::error("template: not parsed");
  if (!context.is_object()) return Status::error("template: the context must be a JSON object");
  try {
    Interp in(limits, now ? now : std::time(nullptr));
    return in.run(*program_, Value::from_json(context));
  } catch (const Error& e) {
    return Status::error("template: " + one_line(e.message));
  } catch (const std::bad_alloc&) {
    return Status::error("template: out of memory while rendering");
  } catch (const std::exception& e) {  // std::length_error and the like from the standard library
    return Status::error(std::string("template: ") + one_line(e.what()));
  }
}

Result<std::string> Template::render(const nlohmann::json& context, std::time_t now) const {
  return render(nlohmann::ordered_json(context), now);
}

Result<std::string> render(const std::string& template_src, const nlohmann::ordered_json& context) {
  auto t = Template::parse(template_src);
  if (!t) return t.status();
  return t->render(context);
}

Result<std::string> render(const std::string& template_src, const nlohmann::json& context) {
  return render(template_src, nlohmann::ordered_json(context));
}

}  // namespace kestrel::jinja
