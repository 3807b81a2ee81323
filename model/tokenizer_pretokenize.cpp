#include "model/tokenizer_pretokenize.h"

#include <algorithm>
#include <initializer_list>

#include "model/unicode.h"
#include "model/unicode_tables.h"

namespace kestrel {
namespace {

using unicode::kLetter;
using unicode::kNumber;
using unicode::kPunctuation;
using unicode::kWhiteSpace;

// ---------------------------------------------------------------------------------------------
// The text being split: code points plus their class bits, looked up once.
struct Text {
  const std::vector<uint32_t>& cps;
  std::vector<uint8_t> cls;
  explicit Text(const std::vector<uint32_t>& c) : cps(c), cls(c.size()) {
    for (size_t i = 0; i < c.size(); ++i) cls[i] = unicode::classes(c[i]);
  }
};

// Emits pieces of one span in order, never an empty one.
struct Emitter {
  std::vector<Span>& out;
  size_t prev;
  void to(size_t end) {
    if (end > prev) out.push_back({prev, end});
    prev = end;
  }
};

// llama.cpp hands literal (non-\p) regexes to std::wregex after replacing every non-ASCII White_Space
// code point by U+000B, so e.g. U+3000 IDEOGRAPHIC SPACE no longer falls inside a literal CJK range.
uint32_t wregex_view(uint32_t cp, uint8_t cls) { return (cp > 0x7F && (cls & kWhiteSpace)) ? 0x0B : cp; }

bool in_ranges(uint32_t cp, std::initializer_list<std::pair<uint32_t, uint32_t>> ranges) {
  for (auto [a, b] : ranges)
    if (cp >= a && cp <= b) return true;
  return false;
}

bool deepseek_llm_letter(uint32_t cp) {
  const auto* first = unicode::tables::kDeepseekLlmLetters;
  const auto* last = first + unicode::tables::kDeepseekLlmLetterCount;
  const auto* it = std::upper_bound(first, last, cp, [](uint32_t v, const auto& r) { return v < r.first; });
  return it != first && cp <= (it - 1)->last;
}

// The character classes used by the stages below, each a predicate on (code point, class bits).
bool is_digit_ascii(uint32_t cp) { return cp >= '0' && cp <= '9'; }
bool is_newline(uint32_t cp) { return cp == '\r' || cp == '\n'; }

// ---------------------------------------------------------------------------------------------
// Whole-span splitters: every position starts a match (the regex ends in a catch-all), so they walk
// the span once. Class lookups past the span's end see 0, which no class test accepts.

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
void split_gpt2(const Text& t, Span s, std::vector<Span>& out) {
  const size_t end = s.end;
  auto cls_at = [&](size_t p) -> uint8_t { return p < end ? t.cls[p] : 0; };
  auto cp_at = [&](size_t p) -> uint32_t { return p < end ? t.cps[p] : 0; };
  Emitter em{out, s.begin};
  size_t pos = s.begin;
  while (pos < end) {
    const uint32_t c = t.cps[pos];
    if (c == '\'' && pos + 1 < end) {
      const uint32_t n1 = cp_at(pos + 1), n2 = cp_at(pos + 2);
      if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') { em.to(pos += 2); continue; }
      if (pos + 2 < end && ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l'))) {
        em.to(pos += 3);
        continue;
      }
    }
    const size_t q = c == ' ' ? pos + 1 : pos;  // the optional leading space
    const uint8_t f = cls_at(q);
    if (f & (kLetter | kNumber)) {
      const uint8_t want = f & kLetter ? kLetter : kNumber;
      size_t r = q;
      while (cls_at(r) & want) ++r;
      em.to(pos = r);
      continue;
    }
    if (f && !(f & (kWhiteSpace | kLetter | kNumber))) {
      size_t r = q;
      while (cls_at(r) && !(cls_at(r) & (kWhiteSpace | kLetter | kNumber))) ++r;
      em.to(pos = r);
      continue;
    }
    size_t n = 0;
    while (cls_at(pos + n) & kWhiteSpace) ++n;
    if (n > 1 && pos + n < end) {
      em.to(pos += n - 1);  // \s+(?!\S): leave the last space to prefix the next word
    } else {
      em.to(pos += std::max<size_t>(n, 1));
    }
  }
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|
// \s+(?!\S)|\s+   with D = 3 (Llama 3) or 1 (Qwen2).
void split_llama3_like(const Text& t, Span s, size_t max_digits, std::vector<Span>& out) {
  const size_t end = s.end;
  auto cls_at = [&](size_t p) -> uint8_t { return p < end ? t.cls[p] : 0; };
  auto lower_at = [&](size_t p) -> uint32_t {
    const uint32_t c = p < end ? t.cps[p] : 0;
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;  // no non-ASCII code point lower-cases to s/t/r/e/v/m/l/d
  };
  Emitter em{out, s.begin};
  size_t pos = s.begin;
  while (pos < end) {
    const uint32_t c = t.cps[pos];
    const uint8_t f = t.cls[pos];
    if (c == '\'' && pos + 1 < end) {
      const uint32_t n1 = lower_at(pos + 1), n2 = lower_at(pos + 2);
      if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') { em.to(pos += 2); continue; }
      if (pos + 2 < end && ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l'))) {
        em.to(pos += 3);
        continue;
      }
    }
    if (!is_newline(c) && !(f & kNumber) && ((f & kLetter) || (cls_at(pos + 1) & kLetter))) {
      size_t r = pos + 1;  // the optional non-letter prefix, or the first letter
      while (cls_at(r) & kLetter) ++r;
      em.to(pos = r);
      continue;
    }
    if (f & kNumber) {
      size_t r = pos;
      while (r - pos < max_digits && (cls_at(r) & kNumber)) ++r;
      em.to(pos = r);
      continue;
    }
    const size_t q = c == ' ' ? pos + 1 : pos;
    if (!(cls_at(q) & (kWhiteSpace | kLetter | kNumber))) {  // includes a lone space at the very end
      size_t r = q;
      while (cls_at(r) && !(cls_at(r) & (kWhiteSpace | kLetter | kNumber))) ++r;
      while (r < end && is_newline(t.cps[r])) ++r;
      em.to(pos = r);
      continue;
    }
    size_t n = 0, after_last_newline = 0;
    while (cls_at(pos + n) & kWhiteSpace) {
      if (is_newline(t.cps[pos + n])) after_last_newline = pos + n + 1;
      ++n;
    }
    if (after_last_newline) {
      em.to(pos = after_last_newline);  // \s*[\r\n]+
    } else if (n > 1 && pos + n < end) {
      em.to(pos += n - 1);  // \s+(?!\S)
    } else {
      em.to(pos += std::max<size_t>(n, 1));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Search stages: matches may start anywhere; unmatched text between them stays a piece of its own.

template <class Pred>  // [X]  (each matching code point alone)
void split_isolate(const Text& t, Span s, Pred pred, std::vector<Span>& out) {
  Emitter em{out, s.begin};
  for (size_t p = s.begin; p < s.end; ++p)
    if (pred(t.cps[p], t.cls[p])) em.to(p), em.to(p + 1);
  em.to(s.end);
}

template <class Pred>  // [X]+
void split_runs(const Text& t, Span s, Pred pred, std::vector<Span>& out) {
  Emitter em{out, s.begin};
  size_t p = s.begin;
  while (p < s.end) {
    if (!pred(t.cps[p], t.cls[p])) { ++p; continue; }
    em.to(p);
    while (p < s.end && pred(t.cps[p], t.cls[p])) ++p;
    em.to(p);
  }
  em.to(s.end);
}

template <class Pred>  // \s?[X]+
void split_space_runs(const Text& t, Span s, Pred pred, std::vector<Span>& out) {
  Emitter em{out, s.begin};
  auto x_at = [&](size_t p) { return p < s.end && pred(t.cps[p], t.cls[p]); };
  size_t p = s.begin;
  while (p < s.end) {
    size_t start;
    if ((t.cls[p] & kWhiteSpace) && x_at(p + 1)) {
      start = p + 1;
    } else if (x_at(p)) {
      start = p;
    } else {
      ++p;
      continue;
    }
    em.to(p);
    p = start;
    while (x_at(p)) ++p;
    em.to(p);
  }
  em.to(s.end);
}

// \s+$  ($ is the end of the piece being split)
void split_trailing_space(const Text& t, Span s, std::vector<Span>& out) {
  size_t start = s.end;
  while (start > s.begin && (t.cls[start - 1] & kWhiteSpace)) --start;
  Emitter em{out, s.begin};
  em.to(start);
  em.to(s.end);
}

// [0-9][0-9][0-9]
void split_digit_triples(const Text& t, Span s, std::vector<Span>& out) {
  Emitter em{out, s.begin};
  size_t p = s.begin;
  while (p + 3 <= s.end) {
    if (is_digit_ascii(t.cps[p]) && is_digit_ascii(t.cps[p + 1]) && is_digit_ascii(t.cps[p + 2])) {
      em.to(p);
      em.to(p += 3);
    } else {
      ++p;
    }
  }
  em.to(s.end);
}

// ---------------------------------------------------------------------------------------------
// Character classes of the stages (llama.cpp matches \p{..} classes on real categories, literal
// ranges on the wregex view).

bool cls_punct_or(uint32_t cp, uint8_t cls, std::string_view extra) {
  return (cls & kPunctuation) || (cp < 0x80 && extra.find(static_cast<char>(cp)) != std::string_view::npos);
}
bool deepseek_punct(uint32_t cp, uint8_t cls) {  // [!-/:-~！-／：-～‘-‟　-。]
  return in_ranges(wregex_view(cp, cls),
                   {{0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002}});
}
bool deepseek_cjk(uint32_t cp, uint8_t cls) {  // [一-龥ࠀ-一가-퟿]
  return in_ranges(wregex_view(cp, cls), {{0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF}});
}

using Stage = void (*)(const Text&, Span, std::vector<Span>&);

void st_gpt2(const Text& t, Span s, std::vector<Span>& o) { split_gpt2(t, s, o); }
void st_llama3(const Text& t, Span s, std::vector<Span>& o) { split_llama3_like(t, s, 3, o); }
void st_qwen2(const Text& t, Span s, std::vector<Span>& o) { split_llama3_like(t, s, 1, o); }
void st_digit_each(const Text& t, Span s, std::vector<Span>& o) {
  split_isolate(t, s, [](uint32_t, uint8_t c) { return (c & kNumber) != 0; }, o);
}
void st_digit_runs(const Text& t, Span s, std::vector<Span>& o) {
  split_runs(t, s, [](uint32_t, uint8_t c) { return (c & kNumber) != 0; }, o);
}
void st_digit_triples(const Text& t, Span s, std::vector<Span>& o) { split_digit_triples(t, s, o); }
void st_newline_each(const Text& t, Span s, std::vector<Span>& o) {
  split_isolate(t, s, [](uint32_t cp, uint8_t) { return is_newline(cp); }, o);
}
void st_default_punct(const Text& t, Span s, std::vector<Span>& o) {  // [\p{P}\$\+<=>\^~\|]+
  split_runs(t, s, [](uint32_t cp, uint8_t c) { return cls_punct_or(cp, c, "$+<=>^~|"); }, o);
}
void st_falcon_punct(const Text& t, Span s, std::vector<Span>& o) {  // [\p{P}\$\+<=>\^~\|`]+
  split_runs(t, s, [](uint32_t cp, uint8_t c) { return cls_punct_or(cp, c, "$+<=>^~|`"); }, o);
}
void st_ds_llm_letters(const Text& t, Span s, std::vector<Span>& o) {
  split_space_runs(t, s, [](uint32_t cp, uint8_t c) { return deepseek_llm_letter(wregex_view(cp, c)); }, o);
}
void st_ds_llm_punct(const Text& t, Span s, std::vector<Span>& o) { split_space_runs(t, s, deepseek_punct, o); }
void st_trailing_space(const Text& t, Span s, std::vector<Span>& o) { split_trailing_space(t, s, o); }
void st_ds_cjk(const Text& t, Span s, std::vector<Span>& o) { split_runs(t, s, deepseek_cjk, o); }
void st_space_letters(const Text& t, Span s, std::vector<Span>& o) {  // \s?\p{L}+
  split_space_runs(t, s, [](uint32_t, uint8_t c) { return (c & kLetter) != 0; }, o);
}
void st_space_punct(const Text& t, Span s, std::vector<Span>& o) {  // \s?\p{P}+
  split_space_runs(t, s, [](uint32_t, uint8_t c) { return (c & kPunctuation) != 0; }, o);
}

std::vector<Stage> stages_for(PreTokenizer kind) {
  switch (kind) {
    case PreTokenizer::kLlama3: return {st_llama3};
    case PreTokenizer::kGpt2: return {st_gpt2};
    case PreTokenizer::kQwen2: return {st_qwen2};
    case PreTokenizer::kStarcoder: return {st_digit_each, st_gpt2};
    case PreTokenizer::kFalcon: return {st_falcon_punct, st_gpt2, st_digit_triples};
    case PreTokenizer::kDeepseekLlm:
      return {st_newline_each, st_ds_llm_letters, st_ds_llm_punct, st_trailing_space, st_ds_cjk, st_digit_runs};
    case PreTokenizer::kDeepseekCoder:
      return {st_newline_each, st_space_letters, st_space_punct, st_ds_cjk, st_digit_each};
    case PreTokenizer::kDefault: break;
  }
  return {st_default_punct, st_gpt2, st_digit_runs, st_digit_triples};
}

}  // namespace

std::vector<Span> pretokenize(PreTokenizer kind, const std::vector<uint32_t>& cps) {
  std::vector<Span> spans;
  if (cps.empty()) return spans;
  const Text text(cps);
  spans.push_back({0, cps.size()});
  std::vector<Span> next;
  for (Stage stage : stages_for(kind)) {
    next.clear();
    next.reserve(spans.size() * 2);
    for (Span s : spans) stage(text, s, next);
    spans.swap(next);
  }
  return spans;
}

Result<PreTokenizerInfo> pretokenizer_from_name(const std::string& name) {
  struct Entry {
    std::initializer_list<const char*> names;
    PreTokenizer kind;
    bool ignore_merges, add_bos, clean_spaces;
  };
  // Names and per-name settings as in llama.cpp's vocab loader.
  static const Entry kEntries[] = {
      {{"default"}, PreTokenizer::kDefault, false, false, true},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"},
       PreTokenizer::kLlama3, true, true, true},
      {{"dbrx", "smaug-bpe"}, PreTokenizer::kLlama3, false, false, true},
      {{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
        "modern-bert", "mpt", "olmo", "jais", "exaone4"},
       PreTokenizer::kGpt2, false, false, true},
      {{"trillion", "granite-docling"}, PreTokenizer::kGpt2, false, false, false},
      {{"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open"}, PreTokenizer::kQwen2, false, false,
       false},
      {{"stablelm2", "megrez"}, PreTokenizer::kQwen2, false, false, true},
      {{"starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2"}, PreTokenizer::kStarcoder, false, false,
       true},
      {{"command-r", "smollm"}, PreTokenizer::kStarcoder, false, false, false},
      {{"falcon"}, PreTokenizer::kFalcon, false, false, true},
      {{"deepseek-llm"}, PreTokenizer::kDeepseekLlm, false, false, false},
      {{"deepseek-coder"}, PreTokenizer::kDeepseekCoder, false, false, false},
  };
  if (name.empty()) return PreTokenizerInfo{};  // llama.cpp warns and uses the default list
  for (const Entry& e : kEntries)
    for (const char* n : e.names)
      if (name == n) return PreTokenizerInfo{e.kind, e.ignore_merges, e.add_bos, e.clean_spaces};
  return Status::error("unsupported pre-tokenizer '" + name + "' (tokenizer.ggml.pre)");
}

}  // namespace kestrel
