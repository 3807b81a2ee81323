#pragma once
// A small JSON reader and string quoting for the tools: llm-perplexity reads JSONL task files
// ({"context": "...", "endings": [...], "label": 1}) and llm-bench writes JSON. Header-only so tests
// can check tool output with the same code. Strict RFC 8259: no comments, no trailing commas, no
// leading zeros; \uXXXX escapes (with surrogate pairs) become UTF-8; nesting is limited so hostile
// input cannot exhaust the stack. Errors name the byte offset and what was expected.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gguf/status.h"

namespace kestrel::cli::json {

struct Value {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  std::string str;
  std::vector<Value> items;                            // Array
  std::vector<std::pair<std::string, Value>> members;  // Object, in file order

  bool is_string() const { return kind == Kind::String; }
  bool is_array() const { return kind == Kind::Array; }
  bool is_object() const { return kind == Kind::Object; }
  bool is_number() const { return kind == Kind::Number; }
  // An integer-valued number (JSON has no separate integer type).
  bool is_int() const { return kind == Kind::Number && std::nearbyint(number) == number && std::fabs(number) < 9.0e15; }
  const Value* get(std::string_view key) const {  // object member or nullptr
    if (kind != Kind::Object) return nullptr;
    for (auto& [k, v] : members)
      if (k == key) return &v;
    return nullptr;
  }
};

namespace detail {

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Result<Value> parse_document() {
    Value v;
    ws();
    if (!value(&v, 0)) return Status::error(err_);
    ws();
    if (pos_ != s_.size()) return Status::error(at("unexpected text after the JSON value"));
    return v;
  }

 private:
  static constexpr int kMaxDepth = 64;

  std::string at(const std::string& what) const { return "at byte " + std::to_string(pos_) + ": " + what; }
  bool fail(const std::string& what) { err_ = at(what); return false; }
  void ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return fail("invalid literal");
    pos_ += word.size();
    return true;
  }

  bool value(Value* out, int depth) {
    if (depth > kMaxDepth) return fail("nesting deeper than 64 levels");
    if (pos_ >= s_.size()) return fail("unexpected end of input, expected a value");
    char c = s_[pos_];
    if (c == '"') { out->kind = Value::Kind::String; return string(&out->str); }
    if (c == '[') return array(out, depth);
    if (c == '{') return object(out, depth);
    if (c == 't') { out->kind = Value::Kind::Bool; out->boolean = true; return literal("true"); }
    if (c == 'f') { out->kind = Value::Kind::Bool; out->boolean = false; return literal("false"); }
    if (c == 'n') { out->kind = Value::Kind::Null; return literal("null"); }
    if (c == '-' || (c >= '0' && c <= '9')) return number(out);
    return fail(std::string("unexpected character '") + c + "', expected a value");
  }

  bool digits() {
    size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }

  bool number(Value* out) {
    size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '0') {
      ++pos_;
    } else if (!digits()) {
      return fail("malformed number");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (!digits()) return fail("malformed number: digits expected after '.'");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!digits()) return fail("malformed number: digits expected in exponent");
    }
    if (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') return fail("malformed number: leading zero");
    std::string text(s_.substr(start, pos_ - start));
    out->kind = Value::Kind::Number;
    out->number = std::strtod(text.c_str(), nullptr);
    if (!std::isfinite(out->number)) return fail("number out of range");
    return true;
  }

  static void append_utf8(std::string* s, uint32_t cp) {
    if (cp < 0x80) {
      *s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *s += static_cast<char>(0xC0 | (cp >> 6));
      *s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      *s += static_cast<char>(0xE0 | (cp >> 12));
      *s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      *s += static_cast<char>(0xF0 | (cp >> 18));
      *s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      *s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *s += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool hex4(uint32_t* out) {
    if (pos_ + 4 > s_.size()) return fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else return fail("invalid hex digit in \\u escape");
    }
    *out = v;
    return true;
  }

  bool string(std::string* out) {
    ++pos_;  // opening quote
    out->clear();
    while (true) {
      if (pos_ >= s_.size()) return fail("unterminated string");
      char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character inside a string");
      if (c != '\\') { *out += c; continue; }
      if (pos_ >= s_.size()) return fail("unterminated escape");
      char e = s_[pos_++];
      switch (e) {
        case '"': *out += '"'; break;
        case '\\': *out += '\\'; break;
        case '/': *out += '/'; break;
        case 'b': *out += '\b'; break;
        case 'f': *out += '\f'; break;
        case 'n': *out += '\n'; break;
        case 'r': *out += '\r'; break;
        case 't': *out += '\t'; break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(&cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00) {  // high surrogate: a low one must follow
            uint32_t lo = 0;
            if (s_.substr(pos_, 2) != "\\u") return fail("unpaired surrogate in \\u escape");
            pos_ += 2;
            if (!hex4(&lo)) return false;
            if (lo < 0xDC00 || lo >= 0xE000) return fail("unpaired surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            return fail("unpaired surrogate in \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default: return fail(std::string("invalid escape '\\") + e + "'");
      }
    }
  }

  bool array(Value* out, int depth) {
    ++pos_;
    out->kind = Value::Kind::Array;
    ws();
    if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; return true; }
    while (true) {
      Value item;
      ws();
      if (!value(&item, depth + 1)) return false;
      out->items.push_back(std::move(item));
      ws();
      if (pos_ >= s_.size()) return fail("unterminated array, expected ',' or ']'");
      char c = s_[pos_++];
      if (c == ']') return true;
      if (c != ',') { --pos_; return fail("expected ',' or ']' in array"); }
    }
  }

  bool object(Value* out, int depth) {
    ++pos_;
    out->kind = Value::Kind::Object;
    ws();
    if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; return true; }
    while (true) {
      ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') return fail("expected a string key in object");
      std::string key;
      if (!string(&key)) return false;
      ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return fail("expected ':' after object key");
      ++pos_;
      ws();
      Value v;
      if (!value(&v, depth + 1)) return false;
      out->members.emplace_back(std::move(key), std::move(v));
      ws();
      if (pos_ >= s_.size()) return fail("unterminated object, expected ',' or '}'");
      char c = s_[pos_++];
      if (c == '}') return true;
      if (c != ',') { --pos_; return fail("expected ',' or '}' in object"); }
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string err_;
};

}  // namespace detail

// Parses one complete JSON value (surrounding whitespace allowed).
inline Result<Value> parse(std::string_view text) { return detail::Parser(text).parse_document(); }

// A JSON string literal for s: quotes and backslashes escaped, control characters as \u00XX (the form
// llref prints, so llm-tokenize --pieces compares line for line); other bytes as they are.
inline std::string quote(std::string_view s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o + "\"";
}

}  // namespace kestrel::cli::json
