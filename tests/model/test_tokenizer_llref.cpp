// Tokenization compared with llama.cpp itself (llref tokenize) on text that the shared test cases do
// not cover densely: emoji sequences, CJK, many scripts, digits, white-space runs, code, special-token
// texts, invalid UTF-8. One long text per vocab keeps the number of (slow) llref runs small.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "gguf/gguf_file.h"
#include "model/tokenizer.h"
#include "tests/common/test_paths.h"

namespace kestrel {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int32_t>;

const std::string kMixedText =
    "Hello, world! It's 2024-05-17T12:34:56Z; temps: -3.5\xC2\xB0" "C \xE2\x80\xA6 +40\xC2\xB0" "F.\n"
    "I'VE been 'told' he's there, 'RE you sure? We'Ve a'lL don't\n"
    "Numbers: 1 12 123 1234 12345 123456 1234567 3.14159 1e-9 0xDEADBEEF 1,000,000 "
    "\xD9\xA3\xD9\xA4\xD9\xA5 \xC2\xBD \xE2\x85\xAB 2\xC2\xB3\n"
    "Whitespace:  two  three   tabs\t\tmixed \t \n\n\n  trailing   \r\n crlf\xC2\xA0nbsp\xE3\x80\x80ideo"
    "\xE2\x80\x89thin \xC2\x85nel\n"
    "Emoji: \xF0\x9F\x98\x80\xF0\x9F\x98\x83 \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD "
    "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7\xE2\x80\x8D\xF0\x9F\x91\xA6 "
    "\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7 \xE2\x9D\xA4\xEF\xB8\x8F \xE2\x9C\x85 \xF0\x9F\xA6\x99\n"
    "CJK: \xE4\xB8\xAD\xE6\x96\x87\xE6\xB5\x8B\xE8\xAF\x95\xEF\xBC\x8C\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96"
    "\xE7\x95\x8C\xE3\x80\x82\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82"
    "\xB9\xE3\x83\x88\xE3\x80\x81\xE3\x82\xAB\xE3\x82\xBF\xE3\x82\xAB\xE3\x83\x8A \xED\x95\x9C\xEA\xB5\xAD"
    "\xEC\x96\xB4 \xED\x85\x8D\xEC\x8A\xA4\xED\x8A\xB8\n"
    "Scripts: \xCE\x95\xCE\xBB\xCE\xBB\xCE\xB7\xCE\xBD\xCE\xB9\xCE\xBA\xCE\xAC \xD0\xA0\xD1\x83\xD1\x81\xD1"
    "\x81\xD0\xBA\xD0\xB8\xD0\xB9 \xD8\xA7\xD9\x84\xD8\xB9\xD8\xB1\xD8\xA8\xD9\x8A\xD8\xA9 \xE0\xA4\xB9\xE0"
    "\xA4\xBF\xE0\xA4\xA8\xE0\xA5\x8D\xE0\xA4\xA6\xE0\xA5\x80 \xE0\xB8\xA0\xE0\xB8\xB2\xE0\xB8\xA9\xE0\xB8"
    "\xB2 \xD7\xA2\xD7\x91\xD7\xA8\xD7\x99\xD7\xAA Ti\xE1\xBA\xBFng Vi\xE1\xBB\x87t \xC3\x91" "and\xC3\xBA "
    "fa\xC3\xA7" "ade na\xC3\xAFve Z\xC3\xBCrich \xE2\x84\xA6 \xE2\x84\xAA\n"
    "Code: def f(x):\n    return x**2 + 1  # comment\n\tif (a != b && c <= d) { printf(\"%d\\n\", a[i]); }\n"
    "Symbols: <html><body class=\"x\">&amp;</body></html> $$$ ~~~ ``` ^^ ||| @@ #tag \xE2\x82\xAC\xC2\xA3\xC2\xA5\n"
    "Specials as text: <s> </s> <unk> <|endoftext|> <|begin_of_text|> <|eot_id|> <|im_start|>user "
    "<|end|> <fim_prefix>\n"
    "Zero-width: a\xE2\x80\x8B" "b\xE2\x80\x8D" "c\xEF\xBB\xBF" "d combining: e\xCC\x81 n\xCC\x83\n"
    "Unicode 15: \xF0\x9E\x93\xB0\xF0\x9E\x93\xB1\xF0\x9E\x93\xB2\xF0\x9E\x93\xB3" "5 a\xF0\xAE\xAF\xB0" "b "
    "\xF0\xB1\x8D\x90\xE2\xBF\xBC x\xF0\x91\xBD\x90\xF0\x91\xBD\x91\xF0\x91\xBD\x92\xF0\x91\xBD\x93\n"
    "Control: \x01\x02\x7F bell\x07 end   ";

struct RefOutput {
  Ids ids;
  std::vector<std::string> pieces;
};

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Parses "[1,2,3]\n[\"a\",\"b\"]\n" (llref) or "[1, 2, 3]\n[\"a\", \"b\"]\n" (llm-tokenize --pieces).
bool parse_output(const std::string& out, RefOutput* r) {
  const size_t nl = out.find('\n');
  if (nl == std::string::npos || out.empty() || out[0] != '[') return false;
  std::string ids = out.substr(1, nl - 1);
  if (ids.empty() || ids.back() != ']') return false;
  ids.pop_back();
  for (char& c : ids)
    if (c == ',') c = ' ';
  std::istringstream in(ids);
  int64_t v;
  while (in >> v) r->ids.push_back(static_cast<int32_t>(v));
  // pieces: JSON strings with \" \\ and \u00XX escapes, raw bytes otherwise
  size_t i = nl + 1;
  if (i >= out.size() || out[i] != '[') return false;
  ++i;
  while (i < out.size() && out[i] != ']') {
    if (out[i] == ',' || out[i] == ' ') { ++i; continue; }
    if (out[i] != '"') return false;
    std::string s;
    for (++i; i < out.size() && out[i] != '"'; ++i) {
      if (out[i] == '\\') {
        const char e = out[++i];
        if (e == 'u') {
          s += static_cast<char>(std::stoi(out.substr(i + 1, 4), nullptr, 16));
          i += 4;
        } else {
          s += e;
        }
      } else {
        s += out[i];
      }
    }
    ++i;
    r->pieces.push_back(s);
  }
  return r->pieces.size() == r->ids.size();
}

// llref loads the whole vocab for every call (seconds for a 128K vocab), so results are kept for the
// other tests of this program.
RefOutput run_llref(const std::string& model, const std::string& text, const std::string& flags) {
  static std::map<std::string, RefOutput> cache;
  const std::string cmd = test::llref_path() + " tokenize " + shell_quote(model) + " " + shell_quote(text) + " " + flags;
  if (auto it = cache.find(cmd); it != cache.end()) return it->second;
  std::string out;
  const int rc = test::run_command(cmd, &out);
  RefOutput r;
  EXPECT_EQ(rc, 0) << cmd;
  EXPECT_TRUE(parse_output(out, &r)) << "unparseable llref output: " << out.substr(0, 200);
  cache[cmd] = r;
  return r;
}

std::string vocab_path(const std::string& name) {
  return (fs::path(test::shared_dir()) / "vocab" / ("ggml-vocab-" + name + ".gguf")).string();
}

std::unique_ptr<Tokenizer> load(const std::string& path) {
  auto f = GGUFFile::open(path);
  EXPECT_TRUE(f) << f.error();
  if (!f) return nullptr;
  auto t = Tokenizer::from_gguf(**f);
  EXPECT_TRUE(t) << t.error();
  return t ? std::move(t).value() : nullptr;
}

void expect_same(const Tokenizer& tok, const RefOutput& ref, const Ids& ours, const std::string& what) {
  EXPECT_EQ(ours, ref.ids) << what;
  if (ours != ref.ids) {
    size_t i = 0;
    while (i < ours.size() && i < ref.ids.size() && ours[i] == ref.ids[i]) ++i;
    ADD_FAILURE() << what << ": first difference at token " << i;
    return;
  }
  for (size_t i = 0; i < ours.size(); ++i)
    EXPECT_EQ(tok.token_to_piece(ours[i], true), ref.pieces[i]) << what << " piece of id " << ours[i];
}

class LlrefCompare : public ::testing::TestWithParam<std::string> {};

TEST_P(LlrefCompare, MixedTextMatches) {
  KESTREL_REQUIRE_SHARED();
  KESTREL_REQUIRE_LLREF();
  const std::string path = vocab_path(GetParam());
  auto tok = load(path);
  ASSERT_TRUE(tok);
  expect_same(*tok, run_llref(path, kMixedText, ""), tok->encode(kMixedText, true, false), GetParam() + " default");
  expect_same(*tok, run_llref(path, kMixedText, "--parse-special --no-special-add"),
              tok->encode(kMixedText, false, true), GetParam() + " parse-special");
}

INSTANTIATE_TEST_SUITE_P(Vocabs, LlrefCompare,
                         ::testing::Values("llama-bpe", "llama-spm", "qwen2", "gpt-2", "phi-3", "deepseek-llm",
                                           "deepseek-coder", "falcon", "starcoder", "mpt", "refact"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(LlrefCompareEdge, InvalidUtf8AndEdges) {
  KESTREL_REQUIRE_SHARED();
  KESTREL_REQUIRE_LLREF();
  for (const char* name : {"llama-spm", "gpt-2"}) {
    const std::string path = vocab_path(name);
    auto tok = load(path);
    ASSERT_TRUE(tok);
    const std::string text = "bad \xFF\xFE bytes \xE2\x82 cut \xC3 end\xF0\x9F";
    expect_same(*tok, run_llref(path, text, ""), tok->encode(text, true, false), std::string(name) + " invalid utf-8");
  }
}

TEST(LlmTokenizeTool, MatchesLlref) {
  KESTREL_REQUIRE_SHARED();
  KESTREL_REQUIRE_LLREF();
  const std::string tool = test::bin_dir() + "/llm-tokenize";
  if (!fs::exists(tool)) GTEST_SKIP() << tool << " not built";
  const std::string input = test::temp_dir() + "/llm_tokenize_input.txt";
  std::ofstream(input, std::ios::binary) << kMixedText;
  // (same llref flags as the MixedTextMatches tests, so their llref results are reused; the 128K
  // vocab only once because every load of it takes seconds)
  const std::pair<std::string, std::string> kDefault{"", ""};
  const std::pair<std::string, std::string> kParse{"--parse-special --no-bos", "--parse-special --no-special-add"};
  const std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> runs = {
      {"llama-spm", {kDefault, kParse}}, {"llama-bpe", {kParse}}};
  for (const auto& [name, variants] : runs) {
    const std::string path = vocab_path(name);
    for (const auto& [our_flags, ref_flags] : variants) {
      const std::string& flags = our_flags;
      std::string out;
      ASSERT_EQ(test::run_command(tool + " -m " + shell_quote(path) + " -f " + shell_quote(input) + " --pieces " + flags,
                                  &out),
                0);
      RefOutput ours;
      ASSERT_TRUE(parse_output(out, &ours)) << out.substr(0, 200);
      const RefOutput ref = run_llref(path, kMixedText, ref_flags);
      EXPECT_EQ(ours.ids, ref.ids) << name << " " << flags;
      EXPECT_EQ(ours.pieces, ref.pieces) << name << " " << flags;
    }
  }
  std::string out;
  EXPECT_NE(test::run_command(tool + " -m /nonexistent.gguf -p hi 2>/dev/null", &out), 0);
  EXPECT_NE(test::run_command(tool + " -m " + shell_quote(vocab_path("gpt-2")) + " 2>/dev/null", &out), 0);
  ASSERT_EQ(test::run_command(tool + " -m " + shell_quote(vocab_path("llama-spm")) + " -p '' --no-bos", &out), 0);
  EXPECT_EQ(out, "[]\n");
}

}  // namespace
}  // namespace kestrel
