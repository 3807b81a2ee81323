#pragma once
// Unicode helpers for the tokenizers: UTF-8 decoding with llama.cpp's tolerance for bad bytes,
// per-code-point classes (the \p{L}, \p{N}, \p{P}, \s the pre-tokenizer regexes ask about), GPT-2's
// byte <-> printable-character mapping, and a UTF-8 repairer for streaming output.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kestrel::unicode {

constexpr uint32_t kReplacementChar = 0xFFFD;

// Code-point class bits. Exactly one of the category bits is set for every code point; kWhiteSpace
// (Unicode White_Space, what \s matches) may be set in addition.
enum ClassBits : uint8_t {
  kLetter = 1 << 0,       // \p{L}
  kMark = 1 << 1,         // \p{M}
  kNumber = 1 << 2,       // \p{N}
  kPunctuation = 1 << 3,  // \p{P}
  kSymbol = 1 << 4,       // \p{S}
  kSeparator = 1 << 5,    // \p{Z}
  kOther = 1 << 6,        // \p{C}
  kWhiteSpace = 1 << 7,   // \s
};

uint8_t classes(uint32_t cp);  // 0 for values above U+10FFFF
inline bool is_letter(uint32_t cp) { return classes(cp) & kLetter; }
inline bool is_number(uint32_t cp) { return classes(cp) & kNumber; }
inline bool is_punctuation(uint32_t cp) { return classes(cp) & kPunctuation; }
inline bool is_white_space(uint32_t cp) { return classes(cp) & kWhiteSpace; }
const char* unicode_version();  // of the generated tables

// Length of the UTF-8 sequence a lead byte announces (1 for ASCII and for stray continuation bytes).
inline size_t utf8_len(uint8_t lead) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

// Decodes like llama.cpp: a byte that does not start a well-formed sequence (bad lead byte, missing
// or wrong continuation bytes) becomes U+FFFD and decoding resumes at the next byte. Overlong forms
// and surrogates are not rejected; code points above U+10FFFF become U+FFFD.
std::vector<uint32_t> decode_utf8(std::string_view text);
void append_utf8(uint32_t cp, std::string& out);  // cp must be <= U+10FFFF
std::string encode_utf8(const std::vector<uint32_t>& cps);

// GPT-2 byte-level alphabet: every byte maps to one printable code point (printable Latin-1 bytes
// map to themselves, the rest to U+0100..U+0143), so any byte string becomes visible text.
uint32_t byte_to_codepoint(uint8_t b);
int codepoint_to_byte(uint32_t cp);  // -1 when cp is not in the alphabet

// Streaming UTF-8 repair. Appends to `out` the longest prefix of `pending` that can be printed now and
// removes it from `pending`: well-formed characters are copied, every maximal ill-formed subpart becomes
// U+FFFD, and a trailing incomplete-but-so-far-valid sequence stays in `pending` unless `final` is set
// (then it becomes U+FFFD). Feeding a byte string in any number of pieces gives the same output as
// feeding it at once, and the output is always well-formed UTF-8.
void drain_utf8(std::string& pending, bool final, std::string& out);
std::string sanitize_utf8(std::string_view text);  // drain_utf8 on a whole string
bool is_valid_utf8(std::string_view text);

}  // namespace kestrel::unicode
