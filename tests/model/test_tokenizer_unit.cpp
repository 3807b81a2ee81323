// Tokenizer building blocks on synthetic data (no reference files needed): Unicode classes, UTF-8
// decoding and streaming repair, pre-tokenizer splits, SPM and BPE merging, special tokens, errors.
#include <gtest/gtest.h>

#include <random>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/tokenizer.h"
#include "model/tokenizer_pretokenize.h"
#include "model/tokenizer_vocab.h"
#include "model/unicode.h"
#include "tests/common/test_paths.h"

namespace kestrel {
namespace {

using unicode::classes;

// An independent, strict UTF-8 checker (not the code under test).
bool strictly_valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    uint32_t cp;
    size_t n;
    if (c < 0x80) cp = c, n = 1;
    else if ((c >> 5) == 6) cp = c & 0x1F, n = 2;
    else if ((c >> 4) == 14) cp = c & 0x0F, n = 3;
    else if ((c >> 3) == 30) cp = c & 0x07, n = 4;
    else return false;
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const unsigned char d = s[i + k];
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

std::string utf8(uint32_t cp) {
  std::string s;
  unicode::append_utf8(cp, s);
  return s;
}

TEST(Unicode, Classes) {
  EXPECT_TRUE(classes('A') & unicode::kLetter);
  EXPECT_TRUE(classes(0x00E9) & unicode::kLetter);   // é
  EXPECT_TRUE(classes(0x4E2D) & unicode::kLetter);   // 中
  EXPECT_TRUE(classes('7') & unicode::kNumber);
  EXPECT_TRUE(classes(0x00BD) & unicode::kNumber);   // ½
  EXPECT_TRUE(classes(0x0663) & unicode::kNumber);   // Arabic-Indic 3
  EXPECT_TRUE(classes('.') & unicode::kPunctuation);
  EXPECT_TRUE(classes('$') & unicode::kSymbol);
  EXPECT_TRUE(classes(0x0301) & unicode::kMark);     // combining acute
  EXPECT_TRUE(classes(0x1F600) & unicode::kSymbol);  // 😀
  EXPECT_TRUE(classes(0x0378) & unicode::kOther);    // unassigned
  // Unicode 15.0 and 15.1 characters, as in llama.cpp's tables (Python 3.11 only knows 14.0).
  EXPECT_STREQ(unicode::unicode_version(), "15.1.0");
  EXPECT_TRUE(classes(0x1E4F0) & unicode::kNumber);  // NAG MUNDARI DIGIT ZERO (15.0)
  EXPECT_TRUE(classes(0x31350) & unicode::kLetter);  // CJK Extension H (15.0)
  EXPECT_TRUE(classes(0x2EBF0) & unicode::kLetter);  // CJK Extension I (15.1)
  EXPECT_TRUE(classes(0x2FFC) & unicode::kSymbol);   // 15.1
  EXPECT_TRUE(classes(0x10D40) & unicode::kOther);   // Garay (16.0): not yet
  // White_Space, not Python's isspace(): U+001C..U+001F are not spaces.
  for (uint32_t cp : {0x09u, 0x0Au, 0x0Bu, 0x0Cu, 0x0Du, 0x20u, 0x85u, 0xA0u, 0x1680u, 0x2000u, 0x200Au, 0x2028u,
                      0x2029u, 0x202Fu, 0x205Fu, 0x3000u})
    EXPECT_TRUE(unicode::is_white_space(cp)) << std::hex << cp;
  for (uint32_t cp : {0x1Cu, 0x1Fu, 0x200Bu, 0xFEFFu, 0x61u}) EXPECT_FALSE(unicode::is_white_space(cp)) << std::hex << cp;
  // Exactly one category bit for every code point.
  for (uint32_t cp = 0; cp <= 0x10FFFF; cp += 97) {
    const uint8_t cats = classes(cp) & ~unicode::kWhiteSpace;
    EXPECT_TRUE(cats && !(cats & (cats - 1))) << std::hex << cp;
  }
  EXPECT_EQ(classes(0x110000), 0);
}

TEST(Unicode, DecodeLikeLlamaCpp) {
  using V = std::vector<uint32_t>;
  EXPECT_EQ(unicode::decode_utf8("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"), (V{'a', 0xE9, 0x20AC, 0x1F600}));
  // A bad byte becomes U+FFFD and decoding resumes right after it.
  EXPECT_EQ(unicode::decode_utf8("\x80z"), (V{0xFFFD, 'z'}));
  EXPECT_EQ(unicode::decode_utf8("\xE2\x82z"), (V{0xFFFD, 0xFFFD, 'z'}));
  EXPECT_EQ(unicode::decode_utf8("\xFF"), (V{0xFFFD}));
  EXPECT_EQ(unicode::decode_utf8(""), V{});
  for (uint32_t cp : {0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xFFFFu, 0x10000u, 0x10FFFFu})
    EXPECT_EQ(unicode::decode_utf8(utf8(cp)), V{cp});
}

TEST(Unicode, ByteLevelAlphabet) {
  std::vector<bool> seen(400, false);
  for (int b = 0; b < 256; ++b) {
    const uint32_t cp = unicode::byte_to_codepoint(static_cast<uint8_t>(b));
    ASSERT_LT(cp, 400u);
    EXPECT_FALSE(seen[cp]) << "two bytes map to U+" << std::hex << cp;
    seen[cp] = true;
    EXPECT_EQ(unicode::codepoint_to_byte(cp), b);
  }
  EXPECT_EQ(unicode::byte_to_codepoint(' '), 0x120u);   // "Ġ"
  EXPECT_EQ(unicode::byte_to_codepoint('\n'), 0x10Au);  // "Ċ"
  EXPECT_EQ(unicode::byte_to_codepoint('a'), uint32_t('a'));
  EXPECT_EQ(unicode::codepoint_to_byte(0x4E2D), -1);
}

TEST(Unicode, DrainHoldsBackIncompleteCharacters) {
  std::string pending = "a\xE2\x82", out;
  unicode::drain_utf8(pending, false, out);
  EXPECT_EQ(out, "a");
  EXPECT_EQ(pending, "\xE2\x82");
  pending += "\xAC!";
  unicode::drain_utf8(pending, false, out);
  EXPECT_EQ(out, "a\xE2\x82\xAC!");
  EXPECT_TRUE(pending.empty());
  // At the end an incomplete character is replaced, once.
  pending = "\xF0\x9F\x98";
  out.clear();
  unicode::drain_utf8(pending, true, out);
  EXPECT_EQ(out, "\xEF\xBF\xBD");
}

TEST(Unicode, SanitizeReplacesMaximalSubparts) {
  const std::string R = "\xEF\xBF\xBD";
  EXPECT_EQ(unicode::sanitize_utf8("\xC0\x80"), R + R);              // overlong: C0 never valid
  EXPECT_EQ(unicode::sanitize_utf8("\xED\xA0\x80"), R + R + R);      // surrogate
  EXPECT_EQ(unicode::sanitize_utf8("\xE2\x82x"), R + "x");           // truncated, one replacement
  EXPECT_EQ(unicode::sanitize_utf8("\xF4\x90\x80\x80"), R + R + R + R);  // > U+10FFFF
  EXPECT_EQ(unicode::sanitize_utf8("ok \xF0\x9F\x98\x80"), "ok \xF0\x9F\x98\x80");
}

TEST(Unicode, DrainIsChunkingIndependentAndAlwaysValid) {
  std::mt19937 rng(42);
  const char* alphabet[] = {"a", "\xC3", "\xA9", "\xE2", "\x82", "\xAC", "\xF0", "\x9F", "\x98", "\x80", "\xED",
                            "\xA0", "\xC0", "\xFF", "\xF4", "\x8F", "\xBF", " "};
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s;
    const int n = rng() % 24;
    for (int i = 0; i < n; ++i) s += alphabet[rng() % (sizeof alphabet / sizeof *alphabet)];
    const std::string whole = unicode::sanitize_utf8(s);
    ASSERT_TRUE(strictly_valid_utf8(whole));
    std::string pending, chunked;
    for (size_t i = 0; i < s.size();) {
      const size_t k = 1 + rng() % 4;
      pending += s.substr(i, k);
      i += k;
      std::string part;
      unicode::drain_utf8(pending, false, part);
      ASSERT_TRUE(strictly_valid_utf8(part));
      chunked += part;
    }
    std::string rest;
    unicode::drain_utf8(pending, true, rest);
    chunked += rest;
    ASSERT_EQ(chunked, whole);
    if (strictly_valid_utf8(s)) {
      ASSERT_EQ(whole, s);
    }
  }
}

// ---------------------------------------------------------------------------------------------
std::vector<std::string> split(PreTokenizer kind, const std::string& text) {
  const auto cps = unicode::decode_utf8(text);
  std::vector<std::string> out;
  size_t covered = 0;
  for (const Span& s : pretokenize(kind, cps)) {
    EXPECT_EQ(s.begin, covered);
    EXPECT_LT(s.begin, s.end);
    covered = s.end;
    out.push_back(unicode::encode_utf8(std::vector<uint32_t>(cps.begin() + s.begin, cps.begin() + s.end)));
  }
  EXPECT_EQ(covered, cps.size());
  return out;
}
using Words = std::vector<std::string>;

TEST(PreTokenize, Gpt2) {
  EXPECT_EQ(split(PreTokenizer::kGpt2, "I've  been 12345 here!!\n"),
            (Words{"I", "'ve", " ", " been", " 12345", " here", "!!", "\n"}));
  EXPECT_EQ(split(PreTokenizer::kGpt2, "'S x"), (Words{"'", "S", " x"}));  // case-sensitive contractions
  EXPECT_EQ(split(PreTokenizer::kGpt2, ""), Words{});
}

TEST(PreTokenize, Llama3) {
  EXPECT_EQ(split(PreTokenizer::kLlama3, "I'VE 1234567 (x)\n\n  y  "),
            (Words{"I", "'VE", " ", "123", "456", "7", " (", "x", ")\n\n", " ", " y", "  "}));
  EXPECT_EQ(split(PreTokenizer::kLlama3, "a \n b"), (Words{"a", " \n", " b"}));
}

TEST(PreTokenize, Qwen2DigitsOneByOne) {
  EXPECT_EQ(split(PreTokenizer::kQwen2, "x 123"), (Words{"x", " ", "1", "2", "3"}));
}

TEST(PreTokenize, StarcoderIsolatesDigitsBeforeGpt2) {
  EXPECT_EQ(split(PreTokenizer::kStarcoder, "a 12b"), (Words{"a", " ", "1", "2", "b"}));
}

TEST(PreTokenize, FalconDigitTriples) {
  EXPECT_EQ(split(PreTokenizer::kFalcon, "x 1234567"), (Words{"x", " ", "123", "456", "7"}));
  EXPECT_EQ(split(PreTokenizer::kFalcon, "a...b"), (Words{"a", "...", "b"}));
}

TEST(PreTokenize, DeepseekLlmQuirks) {
  // U+3000 is White_Space, so llama.cpp's wregex view turns it into U+000B: it is neither CJK
  // nor punctuation there, only \s.
  EXPECT_EQ(split(PreTokenizer::kDeepseekLlm, "\xE4\xB8\xAD\xE3\x80\x80\xE6\x96\x87"),
            (Words{"\xE4\xB8\xAD", "\xE3\x80\x80", "\xE6\x96\x87"}));
  EXPECT_EQ(split(PreTokenizer::kDeepseekLlm, "Hi there  \n"), (Words{"Hi", " there", "  ", "\n"}));
  EXPECT_EQ(split(PreTokenizer::kDeepseekLlm, "12 ab"), (Words{"12", " ab"}));
}

TEST(PreTokenize, Names) {
  EXPECT_EQ(pretokenizer_from_name("llama-bpe")->kind, PreTokenizer::kLlama3);
  EXPECT_TRUE(pretokenizer_from_name("llama-bpe")->ignore_merges);
  EXPECT_TRUE(pretokenizer_from_name("llama-bpe")->add_bos);
  EXPECT_EQ(pretokenizer_from_name("refact")->kind, PreTokenizer::kStarcoder);
  EXPECT_EQ(pretokenizer_from_name("")->kind, PreTokenizer::kDefault);
  auto bad = pretokenizer_from_name("klingon");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("klingon"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// A tiny SentencePiece vocab: <unk> <s> </s>, 256 byte tokens, then scored pieces.
TokenizerSpec spm_spec() {
  TokenizerSpec s;
  s.model = "llama";
  auto add = [&](std::string text, float score, TokenType type) {
    s.tokens.push_back(std::move(text));
    s.scores.push_back(score);
    s.token_types.push_back(static_cast<int32_t>(type));
  };
  add("<unk>", 0, TokenType::kUnknown);
  add("<s>", 0, TokenType::kControl);
  add("</s>", 0, TokenType::kControl);
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    add(buf, 0, TokenType::kByte);
  }
  add("\xE2\x96\x81", -1.0f, TokenType::kNormal);            // 259 ▁
  add("a", -2.0f, TokenType::kNormal);                       // 260
  add("b", -2.0f, TokenType::kNormal);                       // 261
  add("ab", -1.5f, TokenType::kNormal);                      // 262
  add("\xE2\x96\x81" "a", -1.0f, TokenType::kNormal);        // 263 ▁a
  add("\xE2\x96\x81" "ab", -0.5f, TokenType::kNormal);       // 264 ▁ab
  add("<user>", 0, TokenType::kUserDefined);                 // 265
  add("c", -3.0f, TokenType::kNormal);                       // 266
  add("bc", -0.1f, TokenType::kNormal);                      // 267
  return s;
}
constexpr int32_t kByte0 = 3;

std::unique_ptr<Tokenizer> make(const TokenizerSpec& spec) {
  auto t = Tokenizer::from_spec(spec);
  EXPECT_TRUE(t) << t.error();
  return t ? std::move(t).value() : nullptr;
}
using Ids = std::vector<int32_t>;

TEST(Spm, MergesByScore) {
  auto tok = make(spm_spec());
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("ab", false, false), (Ids{264}));       // ▁a first (-1.0 beats ab -1.5), then ▁ab
  EXPECT_EQ(tok->encode("abc", false, false), (Ids{263, 267}));  // bc (-0.1) wins, ▁abc is no token
  EXPECT_EQ(tok->encode("ab", true, false), (Ids{1, 264}));
  EXPECT_EQ(tok->encode("", true, false), (Ids{1}));
  EXPECT_EQ(tok->encode("", false, false), Ids{});
}

TEST(Spm, ByteFallback) {
  auto tok = make(spm_spec());
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("\xC3\xA9", false, false), (Ids{259, kByte0 + 0xC3, kByte0 + 0xA9}));
  EXPECT_EQ(tok->decode({259, kByte0 + 0xC3, kByte0 + 0xA9}), " \xC3\xA9");
  EXPECT_EQ(tok->token_to_piece(kByte0 + 0x41), "A");
}

TEST(Spm, SpecialTokens) {
  auto tok = make(spm_spec());
  ASSERT_TRUE(tok);
  // User-defined tokens are always split out; the text after a special token gets a space prefix.
  EXPECT_EQ(tok->encode("a<user>b", false, false), (Ids{263, 265, 259, 261}));
  // Control tokens only with parse_special.
  EXPECT_EQ(tok->encode("a<s>", false, true), (Ids{263, 1}));
  EXPECT_EQ(tok->encode("a<s>", false, false), (Ids{263, kByte0 + '<', kByte0 + 's', kByte0 + '>'}));
  // Pieces: control tokens print nothing unless asked; user-defined ones print their text.
  EXPECT_EQ(tok->token_to_piece(1), "");
  EXPECT_EQ(tok->token_to_piece(1, true), "<s>");
  EXPECT_EQ(tok->token_to_piece(265), "<user>");
  EXPECT_EQ(tok->token_to_piece(264), " ab");
  EXPECT_EQ(tok->token_to_piece(-1), "");
  EXPECT_EQ(tok->token_to_piece(100000), "");
  EXPECT_TRUE(tok->is_eog(2));
  EXPECT_TRUE(tok->is_control(1));
  EXPECT_FALSE(tok->is_control(264));
}

TEST(Spm, DetokenizeLikeLlamaCpp) {
  auto tok = make(spm_spec());
  ASSERT_TRUE(tok);
  const Ids ids = tok->encode("ab ab", true, false);  // <s> ▁ab ▁ab
  ASSERT_EQ(ids, (Ids{1, 264, 264}));
  EXPECT_EQ(tok->decode(ids), " ab ab");
  EXPECT_EQ(tok->detokenize(ids, true, false), " ab ab");       // dropping BOS disables the strip
  EXPECT_EQ(tok->detokenize({264, 264}, false, false), "ab ab");  // first token's prefix space removed
  EXPECT_EQ(tok->detokenize(ids, false, true), "<s> ab ab");
}

TEST(Spm, DefaultsAndOverrides) {
  auto spec = spm_spec();
  auto tok = make(spec);
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->bos(), 1);
  EXPECT_EQ(tok->eos(), 2);
  EXPECT_TRUE(tok->add_bos());
  EXPECT_EQ(tok->model_name(), "llama");
  spec.add_space_prefix = false;
  spec.add_bos = false;
  spec.eos_id = 266;
  tok = make(spec);
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("ab", true, false), (Ids{262}));
  EXPECT_EQ(tok->eos(), 266);
  EXPECT_TRUE(tok->is_eog(266));
}

// ---------------------------------------------------------------------------------------------
// A tiny byte-level BPE vocab: the 256 byte characters (id = byte), then merged tokens.
TokenizerSpec bpe_spec(const std::string& pre) {
  TokenizerSpec s;
  s.model = "gpt2";
  s.pre = pre;
  for (int b = 0; b < 256; ++b) {
    s.tokens.push_back(utf8(unicode::byte_to_codepoint(static_cast<uint8_t>(b))));
    s.token_types.push_back(1);
  }
  for (const char* t : {"he", "\xC4\xA0t", "th", "\xC4\xA0the", "xyz", "<|endoftext|>"}) {
    s.tokens.push_back(t);
    s.token_types.push_back(std::string(t) == "<|endoftext|>" ? 3 : 1);
  }
  s.merges = {"h e", "\xC4\xA0 t", "t h", "\xC4\xA0t he"};
  s.has_merges = true;
  s.bos_id = s.eos_id = 261;
  return s;
}

TEST(Bpe, MergesByRank) {
  auto tok = make(bpe_spec("gpt-2"));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("the", false, false), (Ids{'t', 256}));  // "h e" outranks "t h"
  EXPECT_EQ(tok->encode(" the", false, false), (Ids{259}));      // he, Ġt, then Ġt+he
  EXPECT_EQ(tok->encode("xyz", false, false), (Ids{'x', 'y', 'z'}));
  EXPECT_EQ(tok->decode({259, 'x', '\n'}), " thex\n");  // ids are the bytes
  EXPECT_FALSE(tok->add_bos());  // gpt-2 pre: no BOS by default
  EXPECT_EQ(tok->encode("x", true, false), (Ids{'x'}));
}

TEST(Bpe, IgnoreMergesForLlama3) {
  auto tok = make(bpe_spec("llama-bpe"));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("xyz", false, false), (Ids{260}));  // whole word is a token: no merging needed
  EXPECT_TRUE(tok->add_bos());
  EXPECT_EQ(tok->encode("xyz", true, false), (Ids{261, 260}));
}

TEST(Bpe, ControlTokenOnlyWithParseSpecial) {
  auto tok = make(bpe_spec("gpt-2"));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("x<|endoftext|>", false, true), (Ids{'x', 261}));
  const Ids plain = tok->encode("x<|endoftext|>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 261), 0);
  EXPECT_EQ(tok->decode(plain), "x<|endoftext|>");
  EXPECT_TRUE(tok->is_eog(261));
}

TEST(Bpe, InvalidUtf8InputDoesNotCrash) {
  auto tok = make(bpe_spec("llama-bpe"));
  ASSERT_TRUE(tok);
  const Ids ids = tok->encode("a\xFF\xE2\x82", false, false);
  EXPECT_EQ(tok->decode(ids), "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // each bad byte is U+FFFD
}

// ---------------------------------------------------------------------------------------------
TEST(TokenizerErrors, BadSpecsAreNamed) {
  auto expect_error = [](const TokenizerSpec& spec, const std::string& needle) {
    auto t = Tokenizer::from_spec(spec);
    ASSERT_FALSE(t) << "expected an error mentioning " << needle;
    EXPECT_NE(t.error().find(needle), std::string::npos) << t.error();
  };
  auto s = spm_spec();
  s.model = "bert";
  expect_error(s, "'bert'");
  s = spm_spec();
  s.scores.pop_back();
  expect_error(s, "tokenizer.ggml.scores");
  s = spm_spec();
  s.token_types.push_back(1);
  expect_error(s, "tokenizer.ggml.token_type");
  s = spm_spec();
  s.tokens[5] = s.tokens[6];
  expect_error(s, "duplicate token");
  s = spm_spec();
  s.tokens.clear(), s.scores.clear(), s.token_types.clear();
  expect_error(s, "tokenizer.ggml.tokens");
  auto b = bpe_spec("gpt-2");
  b.has_merges = false;
  expect_error(b, "tokenizer.ggml.merges");
  b = bpe_spec("no-such-pre");
  expect_error(b, "'no-such-pre'");
  b = bpe_spec("gpt-2");
  b.bos_id = 999999;  // out of range: llama.cpp keeps its default (11), which is in range here
  b.add_bos = true;
  auto t = Tokenizer::from_spec(b);
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ((*t)->bos(), 11);
  b = bpe_spec("gpt-2");
  b.tokens.resize(5), b.token_types.resize(5);  // default BOS 11 out of range -> none
  b.bos_id.reset();
  b.add_bos = true;
  expect_error(b, "add_bos_token");
}

TEST(TokenizerErrors, GgufKeysAreNamed) {
  const std::string dir = test::temp_dir();
  auto check = [&](GGUFWriter& w, const std::string& name, const std::string& needle) {
    const std::string path = dir + "/" + name + ".gguf";
    ASSERT_TRUE(w.write(path)) << path;
    auto f = GGUFFile::open(path);
    ASSERT_TRUE(f) << f.error();
    auto t = Tokenizer::from_gguf(**f);
    ASSERT_FALSE(t) << name;
    EXPECT_NE(t.error().find(needle), std::string::npos) << t.error();
    EXPECT_NE(t.error().find(path), std::string::npos) << t.error();
  };
  GGUFWriter no_model;
  no_model.set("tokenizer.ggml.tokens", Value::string_array({"a", "b"}));
  check(no_model, "no_model", "tokenizer.ggml.model");
  GGUFWriter no_tokens;
  no_tokens.set_string("tokenizer.ggml.model", "llama");
  check(no_tokens, "no_tokens", "tokenizer.ggml.tokens");
  GGUFWriter bad_scores;
  bad_scores.set_string("tokenizer.ggml.model", "llama");
  bad_scores.set("tokenizer.ggml.tokens", Value::string_array({"a", "b"}));
  bad_scores.set("tokenizer.ggml.scores", Value::string_array({"x", "y"}));
  check(bad_scores, "bad_scores", "tokenizer.ggml.scores");
  GGUFWriter short_types;
  short_types.set_string("tokenizer.ggml.model", "llama");
  short_types.set("tokenizer.ggml.tokens", Value::string_array({"a", "b"}));
  short_types.set("tokenizer.ggml.token_type", Value::i32_array({1}));
  check(short_types, "short_types", "tokenizer.ggml.token_type");
  GGUFWriter rwkv;
  rwkv.set_string("tokenizer.ggml.model", "rwkv");
  rwkv.set("tokenizer.ggml.tokens", Value::string_array({"a", "b"}));
  check(rwkv, "rwkv", "'rwkv'");
}

TEST(TokenizerGguf, LoadsAWrittenVocab) {
  const std::string path = test::temp_dir() + "/tiny_spm.gguf";
  const TokenizerSpec spec = spm_spec();
  GGUFWriter w;
  w.set_string("tokenizer.ggml.model", "llama");
  w.set("tokenizer.ggml.tokens", Value::string_array(spec.tokens));
  w.set("tokenizer.ggml.scores", Value::f32_array(spec.scores));
  w.set("tokenizer.ggml.token_type", Value::i32_array(spec.token_types));
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.padding_token_id", 4294967295u);  // "none", as some converters write it
  ASSERT_TRUE(w.write(path));
  auto f = GGUFFile::open(path);
  ASSERT_TRUE(f) << f.error();
  auto t = Tokenizer::from_gguf(**f);
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ((*t)->encode("abc", true, false), (Ids{1, 263, 267}));
  EXPECT_EQ((*t)->n_vocab(), static_cast<int32_t>(spec.tokens.size()));
  EXPECT_EQ((*t)->token_text(264), "\xE2\x96\x81" "ab");
}

}  // namespace
}  // namespace kestrel
