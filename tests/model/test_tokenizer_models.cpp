// Tokenizers of real vocabularies (../shared): the stories260K prompt and greedy text as llama.cpp
// produced them, special-token parsing on Llama 3's vocab, and streaming detokenization.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <cstdlib>
#include <random>
#include <sstream>

#include "gguf/gguf_file.h"
#include "model/tokenizer.h"
#include "model/unicode.h"
#include "tests/common/test_paths.h"

namespace kestrel {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int32_t>;

std::unique_ptr<Tokenizer> load(const std::string& relpath) {
  const std::string path = (fs::path(test::shared_dir()) / relpath).string();
  auto f = GGUFFile::open(path);
  EXPECT_TRUE(f) << f.error();
  if (!f) return nullptr;
  auto t = Tokenizer::from_gguf(**f);
  EXPECT_TRUE(t) << t.error();
  return t ? std::move(t).value() : nullptr;
}

// "key v1 v2 ..." / "key \"quoted text\"" lines of a *.ref.txt file.
std::string ref_line(const std::string& relpath, const std::string& key) {
  std::ifstream in(fs::path(test::shared_dir()) / relpath);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + " ", 0) == 0) return line.substr(key.size() + 1);
  ADD_FAILURE() << key << " not found in " << relpath;
  return "";
}
Ids parse_ids(const std::string& s) {
  Ids ids;
  std::istringstream in(s);
  int64_t v;
  while (in >> v) ids.push_back(static_cast<int32_t>(v));
  return ids;
}
std::string unquote(const std::string& s) {  // "..." with \" \\ \n escapes
  std::string out;
  EXPECT_TRUE(s.size() >= 2 && s.front() == '"' && s.back() == '"') << s;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    if (s[i] == '\\' && i + 2 < s.size()) {
      const char e = s[++i];
      out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
    } else {
      out += s[i];
    }
  }
  return out;
}

TEST(Stories260K, PromptIdsMatchLlamaCpp) {
  KESTREL_REQUIRE_SHARED();
  auto tok = load("models/stories260K-f32.gguf");
  ASSERT_TRUE(tok);
  const std::string ref = "models/stories260K-f32.ref.txt";
  const std::string prompt = unquote(ref_line(ref, "prompt"));
  EXPECT_EQ(prompt, "Once upon a time");
  EXPECT_EQ(tok->encode(prompt, true, false), parse_ids(ref_line(ref, "prompt_ids")));
  EXPECT_EQ(tok->encode(prompt, true, false), (Ids{1, 403, 407, 261, 378}));
  EXPECT_EQ(tok->n_vocab(), 512);
  EXPECT_EQ(tok->bos(), 1);
  EXPECT_EQ(tok->eos(), 2);
  EXPECT_TRUE(tok->is_eog(2));
  EXPECT_EQ(tok->model_name(), "llama");
  EXPECT_EQ(tok->decode({1, 403, 407, 261, 378}), " Once upon a time");
  EXPECT_EQ(tok->detokenize({403, 407, 261, 378}, false, false), "Once upon a time");
}

TEST(Stories260K, GreedyTextIsTheDecodedIds) {
  KESTREL_REQUIRE_SHARED();
  auto tok = load("models/stories260K-f32.gguf");
  ASSERT_TRUE(tok);
  for (const char* ref : {"models/stories260K-f32.ref.txt", "models/stories260K-q4_0.ref.txt"}) {
    const Ids ids = parse_ids(ref_line(ref, "greedy_ids"));
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(tok->decode(ids), unquote(ref_line(ref, "greedy_text"))) << ref;
  }
}

TEST(Llama3Vocab, SpecialTokens) {
  KESTREL_REQUIRE_SHARED();
  auto tok = load("vocab/ggml-vocab-llama-bpe.gguf");
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->bos(), 128000);
  EXPECT_EQ(tok->eos(), 128001);
  EXPECT_EQ(tok->eot(), 128009);
  EXPECT_TRUE(tok->add_bos());
  EXPECT_TRUE(tok->is_eog(128001));
  EXPECT_TRUE(tok->is_eog(128009));
  EXPECT_FALSE(tok->is_eog(128000));
  EXPECT_EQ(tok->model_name(), "gpt2");

  const std::string text = "<|begin_of_text|>Hi there<|eot_id|>";
  EXPECT_EQ(tok->encode(text, false, true), (Ids{128000, 13347, 1070, 128009}));
  // add_special adds another BOS (llama.cpp only warns about the double BOS).
  EXPECT_EQ(tok->encode(text, true, true), (Ids{128000, 128000, 13347, 1070, 128009}));
  // Without parse_special the markers are ordinary text.
  const Ids plain = tok->encode(text, false, false);
  for (int32_t id : plain) EXPECT_LT(id, 128000) << "special token in plain-text tokenization";
  EXPECT_EQ(tok->decode(plain), text);
  EXPECT_EQ(tok->token_to_piece(128009), "");
  EXPECT_EQ(tok->token_to_piece(128009, true), "<|eot_id|>");
  EXPECT_EQ(tok->decode(tok->encode(text, false, true)), "Hi there");
  EXPECT_EQ(tok->detokenize(tok->encode(text, false, true), false, true), text);
}

const char* kStreamText =
    "Streaming: caf\xC3\xA9 na\xC3\xAFve \xE4\xB8\xAD\xE6\x96\x87\xE6\xB5\x8B\xE8\xAF\x95 "
    "\xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D"
    "\xF0\x9F\x91\xA7 \xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xE0\xA4\xB9\xE0\xA4\xBF\xE0\xA4\xA8"
    "\xE0\xA5\x8D\xE0\xA4\xA6\xE0\xA5\x80 \xF0\x9D\x94\x98\xF0\x9D\x94\xAB\xF0\x9D\x94\xA6 \n\tcode() { x += 1; }";

class Streaming : public ::testing::TestWithParam<const char*> {};

TEST_P(Streaming, ChunksAreValidUtf8AndConcatenateToDecode) {
  KESTREL_REQUIRE_SHARED();
  auto tok = load(std::string("vocab/ggml-vocab-") + GetParam() + ".gguf");
  ASSERT_TRUE(tok);
  auto stream_all = [&](const Ids& ids) {
    TokenStreamer st(*tok);
    std::string all;
    for (int32_t id : ids) {
      const std::string chunk = st.push(id);
      EXPECT_TRUE(unicode::is_valid_utf8(chunk)) << "invalid chunk after id " << id;
      all += chunk;
    }
    const std::string rest = st.flush();
    EXPECT_TRUE(unicode::is_valid_utf8(rest));
    return all + rest;
  };
  const Ids ids = tok->encode(kStreamText, true, false);
  EXPECT_EQ(stream_all(ids), tok->decode(ids));
  // Byte tokens split characters: the streamer must hold the pieces back, never emit half of one.
  size_t held_back = 0;
  {
    TokenStreamer st(*tok);
    for (int32_t id : ids) held_back += st.push(id).empty() && !tok->token_to_piece(id).empty();
  }
  if (std::string(GetParam()) == "llama-bpe") {
    EXPECT_GT(held_back, 0u) << "expected emoji split across tokens";
  }

  // Random token sequences: invalid byte combinations come out as U+FFFD, the same as one repair of the
  // whole text.
  std::mt19937 rng(7);
  for (int iter = 0; iter < 20; ++iter) {
    Ids r(64);
    for (int32_t& id : r) id = static_cast<int32_t>(rng() % tok->n_vocab());
    EXPECT_EQ(stream_all(r), unicode::sanitize_utf8(tok->decode(r)));
  }
}

// Byte-level BPE and SentencePiece with byte fallback lose nothing: decoding gives the text back
// (SentencePiece with the space it puts in front). Random strings from tricky pieces.
TEST_P(Streaming, RandomTextRoundTrips) {
  KESTREL_REQUIRE_SHARED();
  auto tok = load(std::string("vocab/ggml-vocab-") + GetParam() + ".gguf");
  ASSERT_TRUE(tok);
  const bool spm = tok->model_name() == "llama";
  const char* pieces[] = {"a", "Z", "the", " ", "  ", "\n", "\r\n", "\t", "'s", "'LL", "1", "23", "456", "!", "...",
                          "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "\xE2\x80\x8D", "\xCC\x81",
                          "\xE3\x80\x80", "\xC2\xA0", "<|eot_id|>", "<s>", "\xF0\x9E\x93\xB0", "\x01", "~"};
  std::mt19937 rng(1234);
  const int iters = std::getenv("KESTREL_SANITIZED") ? 60 : 300;
  for (int iter = 0; iter < iters; ++iter) {
    std::string text;
    const int n = 1 + rng() % 12;
    for (int i = 0; i < n; ++i) text += pieces[rng() % (sizeof pieces / sizeof *pieces)];
    const Ids ids = tok->encode(text, false, false);
    ASSERT_EQ(tok->decode(ids), spm ? " " + text : text) << "text: " << text;
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabs, Streaming, ::testing::Values("llama-bpe", "llama-spm", "qwen2", "gpt-2"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace kestrel
