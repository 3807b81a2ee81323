#pragma once
// Splits a template into text and tag tokens the way jinja2's lexer does with Hugging Face's settings
// (trim_blocks, lstrip_blocks, keep_trailing_newline=False): newlines normalised to \n, `{%-`/`-%}`
// whitespace control, `+` to opt out, comments dropped, `{% raw %}` kept verbatim.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kestrel::jinja {

struct Token {
  enum class Type { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };
  Type type;
  std::string text;  // Text/Name/String (decoded)/Op
  int64_t i = 0;
  double f = 0;
  int line = 1;
};

// Throws Error (value.h) with "line N: ..." for an unterminated tag, comment or string.
std::vector<Token> lex(std::string_view source);

}  // namespace kestrel::jinja
