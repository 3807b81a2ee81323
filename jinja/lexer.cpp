// jinja2's lexer rules, reimplemented: see lexer.h.
#include "jinja/lexer.h"

#include <cstring>

#include "jinja/pystr.h"
#include "jinja/value.h"

namespace kestrel::jinja {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Python's str.rstrip() / the lexer's \s*: Unicode whitespace.
std::string rstrip_ws(std::string_view s) { return py_strip(s, nullptr, false, true); }

size_t skip_unicode_ws(std::string_view s, size_t p) {
  while (p < s.size()) {
    if (is_ws(s[p]) || (s[p] >= 0x1c && s[p] <= 0x1f)) {
      ++p;
      continue;
    }
    if (static_cast<unsigned char>(s[p]) < 0x80) break;
    size_t n = 1;
    while (p + n < s.size() && (static_cast<unsigned char>(s[p + n]) & 0xC0) == 0x80) ++n;
    std::u32string cp = utf8_decode(s.substr(p, n));
    if (cp.size() != 1 || !py_isspace(cp[0])) break;
    p += n;
  }
  return p;
}

class Lexer {
 public:
  explicit Lexer(std::string_view src) {
    // jinja2 normalises every newline sequence to \n, then drops one trailing newline.
    src_.reserve(src.size());
    for (size_t i = 0; i < src.size(); ++i) {
      if (src[i] == '\r') {
        src_.push_back('\n');
        if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
      } else {
        src_.push_back(src[i]);
      }
    }
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
  }

  std::vector<Token> run() {
    size_t pos = 0;
    const size_t n = src_.size();
    while (pos < n) {
      size_t start = find_tag(pos);
      std::string text = src_.substr(pos, (start == std::string::npos ? n : start) - pos);
      if (start == std::string::npos) {
        emit_text(text);
        break;
      }
      const char kind = src_[start + 1];
      const char mod = start + 2 < n ? src_[start + 2] : '\0';
      const bool line_starting = pos == 0 || src_[pos - 1] == '\n';
      size_t p = start + 2 + ((mod == '-' || mod == '+') ? 1 : 0);
      // A raw block is lexed as one piece of text.
      size_t raw_body = kind == '%' ? match_raw_begin(p) : std::string::npos;
      apply_left_strip(text, mod, kind != '{', line_starting);
      emit_text(text);
      if (kind == '#') {
        pos = lex_comment(p);
      } else if (raw_body != std::string::npos) {
        pos = lex_raw(raw_body);
      } else {
        pos = lex_tag(p, kind == '%');
      }
    }
    tokens_.push_back(Token{Token::Type::Eof, "", 0, 0, line_});
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t pos) const {
    while (true) {
      size_t p = src_.find('{', pos);
      if (p == std::string::npos || p + 1 >= src_.size()) return std::string::npos;
      const char c = src_[p + 1];
      if (c == '{' || c == '%' || c == '#') return p;
      pos = p + 1;
    }
  }

  void apply_left_strip(std::string& text, char mod, bool block_or_comment, bool line_starting) const {
    if (mod == '-') {
      text = rstrip_ws(text);
    } else if (mod != '+' && block_or_comment) {
      // lstrip_blocks: spaces/tabs between the start of the line and a block or comment tag go.
      size_t nl = text.rfind('\n');
      size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if (nl != std::string::npos || line_starting) {
        bool only_blank = true;
        for (size_t i = l_pos; i < text.size(); ++i) only_blank = only_blank && (text[i] == ' ' || text[i] == '\t');
        if (only_blank) text.resize(l_pos);
      }
    }
  }

  void emit_text(const std::string& text) {
    if (!text.empty()) tokens_.push_back(Token{Token::Type::Text, text, 0, 0, line_});
    for (char c : text) line_ += c == '\n';
  }

  void count_lines(size_t from, size_t to) {
    for (size_t i = from; i < to && i < src_.size(); ++i) line_ += src_[i] == '\n';
  }

  // After `%}`/`#}`: trim_blocks drops one newline; after `-%}` all whitespace goes.
  size_t after_end(size_t p, bool minus, bool plus, bool trim) {
    if (minus) return skip_unicode_ws(src_, p);
    if (!plus && trim && p < src_.size() && src_[p] == '\n') return p + 1;
    return p;
  }

  size_t lex_comment(size_t p) {
    size_t e = src_.find("#}", p);
    if (e == std::string::npos) fail("line " + std::to_string(line_) + ": missing end of comment tag");
    const bool minus = e > p && src_[e - 1] == '-';
    const bool plus = e > p && src_[e - 1] == '+';
    size_t next = after_end(e + 2, minus, plus, true);
    count_lines(p, next);
    return next;
  }

  // `{% raw %}` (p is just after `{%` and its modifier): returns where the raw body starts, or npos.
  size_t match_raw_begin(size_t p) const {
    size_t q = p;
    while (q < src_.size() && is_ws(src_[q])) ++q;
    if (src_.compare(q, 3, "raw") != 0) return std::string::npos;
    q += 3;
    size_t r = q;
    while (r < src_.size() && is_ws(src_[r])) ++r;
    if (src_.compare(r, 3, "-%}") == 0) return skip_unicode_ws(src_, r + 3);
    if (src_.compare(r, 2, "%}") == 0) return r + 2;
    return std::string::npos;
  }

  size_t lex_raw(size_t body) {
    size_t search = body;
    while (true) {
      size_t t = src_.find("{%", search);
      if (t == std::string::npos) fail("line " + std::to_string(line_) + ": missing end of raw directive");
      size_t q = t + 2;
      const char mod = q < src_.size() ? src_[q] : '\0';
      if (mod == '-' || mod == '+') ++q;
      while (q < src_.size() && is_ws(src_[q])) ++q;
      if (src_.compare(q, 6, "endraw") != 0) {
        search = t + 2;
        continue;
      }
      q += 6;
      while (q < src_.size() && is_ws(src_[q])) ++q;
      bool minus = false, plus = false;
      if (src_.compare(q, 3, "-%}") == 0) {
        minus = true;
        q += 3;
      } else if (src_.compare(q, 3, "+%}") == 0) {
        plus = true;
        q += 3;
      } else if (src_.compare(q, 2, "%}") == 0) {
        q += 2;
      } else {
        search = t + 2;
        continue;
      }
      std::string text = src_.substr(body, t - body);
      apply_left_strip(text, mod, true, body > 0 && src_[body - 1] == '\n');
      count_lines(0, 0);
      emit_text(text);
      size_t next = after_end(q, minus, plus, true);
      count_lines(t, next);
      return next;
    }
  }

  size_t lex_tag(size_t p, bool block) {
    tokens_.push_back(Token{block ? Token::Type::BlockBegin : Token::Type::VarBegin, "", 0, 0, line_});
    int balance = 0;
    const size_t n = src_.size();
    while (true) {
      while (p < n && is_ws(src_[p])) {
        line_ += src_[p] == '\n';
        ++p;
      }
      if (p >= n) fail("line " + std::to_string(line_) + ": unexpected end of template, expected end of tag");
      if (balance == 0) {
        if (block) {
          if (src_.compare(p, 3, "-%}") == 0 || src_.compare(p, 3, "+%}") == 0 || src_.compare(p, 2, "%}") == 0) {
            const bool minus = src_[p] == '-', plus = src_[p] == '+';
            size_t e = p + (minus || plus ? 3 : 2);
            tokens_.push_back(Token{Token::Type::BlockEnd, "", 0, 0, line_});
            size_t next = after_end(e, minus, plus, true);
            count_lines(e, next);
            return next;
          }
        } else if (src_.compare(p, 3, "-}}") == 0 || src_.compare(p, 2, "}}") == 0) {
          const bool minus = src_[p] == '-';
          size_t e = p + (minus ? 3 : 2);
          tokens_.push_back(Token{Token::Type::VarEnd, "", 0, 0, line_});
          size_t next = after_end(e, minus, false, false);
          count_lines(e, next);
          return next;
        }
      }
      p = lex_token(p, balance);
    }
  }

  size_t lex_token(size_t p, int& balance) {
    const size_t n = src_.size();
    const char c = src_[p];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t e = p;
      while (e < n && (std::isalnum(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
      tokens_.push_back(Token{Token::Type::Name, src_.substr(p, e - p), 0, 0, line_});
      return e;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) return lex_number(p);
    if (c == '\'' || c == '"') return lex_string(p);
    static const char* const kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "(", ")",
                                       "[", "]", "{", "}", ",", ".", ":", "|", "=", "<", ">", ";"};
    for (const char* op : kOps) {
      const size_t len = std::strlen(op);
      if (src_.compare(p, len, op) == 0) {
        if (len == 1 && (c == '(' || c == '[' || c == '{')) ++balance;
        if (len == 1 && (c == ')' || c == ']' || c == '}')) {
          if (balance == 0) fail("line " + std::to_string(line_) + ": unexpected '" + std::string(1, c) + "'");
          --balance;
        }
        tokens_.push_back(Token{Token::Type::Op, op, 0, 0, line_});
        return p + len;
      }
    }
    fail("line " + std::to_string(line_) + ": unexpected char '" + std::string(1, c) + "'");
  }

  size_t lex_number(size_t p) {
    const size_t n = src_.size();
    auto digits = [&](size_t q) {
      while (q < n && (std::isdigit(static_cast<unsigned char>(src_[q])) ||
                       (src_[q] == '_' && q + 1 < n && std::isdigit(static_cast<unsigned char>(src_[q + 1])))))
        ++q;
      return q;
    };
    size_t e = digits(p);
    bool is_float = false;
    const bool after_dot = !tokens_.empty() && tokens_.back().type == Token::Type::Op && tokens_.back().text == ".";
    if (!after_dot && e + 1 < n && src_[e] == '.' && std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
      e = digits(e + 1);
      is_float = true;
    }
    if (!after_dot && e < n && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t q = e + 1;
      if (q < n && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < n && std::isdigit(static_cast<unsigned char>(src_[q]))) {
        e = digits(q);
        is_float = true;
      }
    }
    std::string text;
    for (size_t i = p; i < e; ++i)
      if (src_[i] != '_') text.push_back(src_[i]);
    Token t{is_float ? Token::Type::Float : Token::Type::Int, text, 0, 0, line_};
    if (is_float) {
      t.f = std::strtod(text.c_str(), nullptr);
    } else {
      errno = 0;
      unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
      if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX))
        fail("line " + std::to_string(line_) + ": integer literal " + text + " is too large");
      t.i = static_cast<int64_t>(v);
    }
    tokens_.push_back(std::move(t));
    return e;
  }

  // Python's unicode-escape decoding of a string literal's body.
  size_t lex_string(size_t p) {
    const char q = src_[p];
    const size_t n = src_.size();
    std::string out;
    size_t i = p + 1;
    const int start_line = line_;
    while (true) {
      if (i >= n) fail("line " + std::to_string(start_line) + ": unterminated string");
      const char c = src_[i];
      if (c == q) break;
      if (c == '\n') ++line_;
      if (c != '\\') {
        out.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= n) fail("line " + std::to_string(start_line) + ": unterminated string");
      const char e = src_[i + 1];
      i += 2;
      auto hex = [&](int len) {
        if (i + len > n) fail("line " + std::to_string(line_) + ": truncated \\x/\\u escape");
        uint32_t v = 0;
        for (int k = 0; k < len; ++k) {
          const char h = src_[i + k];
          if (!std::isxdigit(static_cast<unsigned char>(h)))
            fail("line " + std::to_string(line_) + ": truncated \\x/\\u escape");
          v = v * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
        }
        i += len;
        if (v > 0x10FFFF) fail("line " + std::to_string(line_) + ": illegal Unicode character in escape");
        utf8_append(out, v);
      };
      switch (e) {
        case '\n': ++line_; break;
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'v': out.push_back('\v'); break;
        case 'x': hex(2); break;
        case 'u': hex(4); break;
        case 'U': hex(8); break;
        case 'N': fail("line " + std::to_string(line_) + ": \\N{...} escapes are not supported");
        default:
          if (e >= '0' && e <= '7') {
            uint32_t v = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && i < n && src_[i] >= '0' && src_[i] <= '7'; ++k) v = v * 8 + static_cast<uint32_t>(src_[i++] - '0');
            utf8_append(out, v);
          } else {
            out.push_back('\\');  // Python keeps unknown escapes as they are
            out.push_back(e);
          }
      }
    }
    tokens_.push_back(Token{Token::Type::String, out, 0, 0, start_line});
    return i + 1;
  }

  std::string src_;
  std::vector<Token> tokens_;
  int line_ = 1;
};

}  // namespace

std::vector<Token> lex(std::string_view source) { return Lexer(source).run(); }

}  // namespace kestrel::jinja
