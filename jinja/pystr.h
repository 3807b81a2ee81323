#pragma once
// Python's str semantics over UTF-8 bytes: code points, str.isspace() whitespace, case mapping,
// str()/repr() of values, float repr, and json.dumps as Hugging Face's tojson calls it.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jinja/value.h"

namespace kestrel::jinja {

// UTF-8 to code points; an invalid byte becomes one code point 0xDC00 + byte (Python's surrogateescape),
// so encode(decode(s)) == s for every byte string.
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view cps);
void utf8_append(std::string& out, char32_t cp);
size_t utf8_length(std::string_view s);  // code points

bool py_isspace(char32_t c);  // str.isspace(): Unicode White_Space plus the \x1c-\x1f separators
char32_t py_upper1(char32_t c);
char32_t py_lower1(char32_t c);
std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_title(std::string_view s);
std::string py_capitalize(std::string_view s);
// strip/lstrip/rstrip: chars == nullptr strips whitespace, otherwise any code point in *chars.
std::string py_strip(std::string_view s, const std::string* chars, bool left, bool right);
std::vector<std::string> py_split(std::string_view s, const std::string* sep, int64_t maxsplit);
std::vector<std::string> py_rsplit(std::string_view s, const std::string* sep, int64_t maxsplit);
// str.splitlines(keepends): \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85, U+2028, U+2029.
std::vector<std::string> py_splitlines(std::string_view s, bool keepends);
std::string py_replace(std::string_view s, std::string_view old, std::string_view repl, int64_t count);

std::string html_escape(std::string_view s);  // markupsafe.escape: & < > " '
std::string float_repr(double d);          // repr(float): '1.5', '1e+20', '1e-05', 'inf'
std::string py_str(const Value& v);        // str(v), what {{ v }} prints
std::string py_repr(const Value& v);       // repr(v)
std::string py_repr_string(std::string_view s);

struct JsonDumpOptions {
  int indent = -1;                 // -1: None (one line)
  std::string indent_str;          // used when indent is given as a string
  bool indent_is_string = false;
  std::string item_sep = ", ", key_sep = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
};
// json.dumps(v, ...) exactly as Python prints it; fails for values JSON cannot hold (undefined, macros).
std::string json_dumps(const Value& v, const JsonDumpOptions& opt);

}  // namespace kestrel::jinja
