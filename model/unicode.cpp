#include "model/unicode.h"

#include <algorithm>
#include <array>

#include "model/unicode_tables.h"

namespace kestrel::unicode {
namespace {

constexpr uint32_t kMaxCodepoint = 0x10FFFF;

// One byte of class bits per code point, expanded once from the generated run tables (1.1 MB): the
// pre-tokenizers ask several questions per character, so lookups must be O(1).
const std::vector<uint8_t>& class_table() {
  static const std::vector<uint8_t> table = [] {
    std::vector<uint8_t> t(kMaxCodepoint + 1, 0);
    const auto& runs = tables::kCategoryRuns;
    for (size_t i = 0; i < tables::kCategoryRunCount; ++i) {
      const uint32_t first = runs[i].first;
      const uint32_t end = i + 1 < tables::kCategoryRunCount ? runs[i + 1].first : kMaxCodepoint + 1;
      std::fill(t.begin() + first, t.begin() + end, static_cast<uint8_t>(1u << runs[i].category));
    }
    for (size_t i = 0; i < tables::kWhiteSpaceCount; ++i) t[tables::kWhiteSpace[i]] |= kWhiteSpace;
    return t;
  }();
  return table;
}

struct ByteMaps {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 324> to_byte{};  // the alphabet lies in U+0000..U+0143
};

const ByteMaps& byte_maps() {
  static const ByteMaps maps = [] {
    ByteMaps m;
    m.to_byte.fill(-1);
    auto printable = [](int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE); };
    int next = 256;
    for (int b = 0; b < 256; ++b) m.to_cp[b] = printable(b) ? b : next++;
    for (int b = 0; b < 256; ++b) m.to_byte[m.to_cp[b]] = static_cast<int16_t>(b);
    return m;
  }();
  return maps;
}

bool is_cont(uint8_t b) { return (b & 0xC0) == 0x80; }

// Well-formedness per the Unicode standard (Table 3-7): the allowed range of the second byte
// depends on the lead byte; this is what rules out overlongs, surrogates and > U+10FFFF.
bool second_byte_ok(uint8_t lead, uint8_t b) {
  switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return is_cont(b);
  }
}
size_t wellformed_len(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;  // never starts a well-formed sequence
}

}  // namespace

uint8_t classes(uint32_t cp) { return cp <= kMaxCodepoint ? class_table()[cp] : 0; }
const char* unicode_version() { return tables::kUnicodeVersion; }

std::vector<uint32_t> decode_utf8(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  const size_t n = s.size();
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  while (i < n) {
    const uint8_t c = byte(i);
    uint32_t cp;
    size_t len;
    if (c < 0x80) {
      cp = c, len = 1;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < n && is_cont(byte(i + 1))) {
      cp = (uint32_t(c & 0x1F) << 6) | (byte(i + 1) & 0x3F), len = 2;
    } else if ((c & 0xF0) == 0xE0 && i + 2 < n && is_cont(byte(i + 1)) && is_cont(byte(i + 2))) {
      cp = (uint32_t(c & 0x0F) << 12) | (uint32_t(byte(i + 1) & 0x3F) << 6) | (byte(i + 2) & 0x3F), len = 3;
    } else if ((c & 0xF8) == 0xF0 && i + 3 < n && is_cont(byte(i + 1)) && is_cont(byte(i + 2)) &&
               is_cont(byte(i + 3))) {
      cp = (uint32_t(c & 0x07) << 18) | (uint32_t(byte(i + 1) & 0x3F) << 12) | (uint32_t(byte(i + 2) & 0x3F) << 6) |
           (byte(i + 3) & 0x3F);
      len = 4;
      if (cp > kMaxCodepoint) cp = kReplacementChar;
    } else {
      cp = kReplacementChar, len = 1;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string encode_utf8(const std::vector<uint32_t>& cps) {
  std::string out;
  out.reserve(cps.size());
  for (uint32_t cp : cps) append_utf8(cp, out);
  return out;
}

uint32_t byte_to_codepoint(uint8_t b) { return byte_maps().to_cp[b]; }
int codepoint_to_byte(uint32_t cp) {
  const auto& m = byte_maps();
  return cp < m.to_byte.size() ? m.to_byte[cp] : -1;
}

void drain_utf8(std::string& pending, bool final, std::string& out) {
  static const char kFFFD[] = "\xEF\xBF\xBD";
  const size_t n = pending.size();
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<uint8_t>(pending[k]); };
  while (i < n) {
    const uint8_t lead = byte(i);
    const size_t want = wellformed_len(lead);
    if (want == 0) {  // stray continuation byte or a lead byte that can never be valid
      out += kFFFD;
      ++i;
      continue;
    }
    // Count how many bytes of the sequence are present and acceptable so far.
    size_t got = 1;
    while (got < want && i + got < n) {
      const uint8_t b = byte(i + got);
      if (got == 1 ? !second_byte_ok(lead, b) : !is_cont(b)) break;
      ++got;
    }
    if (got == want) {
      out.append(pending, i, want);
      i += want;
    } else if (i + got == n && !final) {
      break;  // a valid beginning cut off by the end of what we have: wait for more bytes
    } else {
      out += kFFFD;  // the maximal ill-formed subpart is replaced once
      i += got;
    }
  }
  pending.erase(0, i);
}

std::string sanitize_utf8(std::string_view text) {
  std::string pending(text), out;
  drain_utf8(pending, true, out);
  return out;
}

bool is_valid_utf8(std::string_view text) { return sanitize_utf8(text) == text; }

}  // namespace kestrel::unicode
