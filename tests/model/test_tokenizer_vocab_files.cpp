// Every vocab in ../shared/vocab must reproduce llama.cpp's own tokenizer test cases exactly:
// X.gguf.inp holds the texts, each followed by "\n__ggml_vocab_test__\n"; X.gguf.out holds one line of
// expected ids per text (no BOS, special tokens not parsed).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gguf/gguf_file.h"
#include "model/tokenizer.h"
#include "tests/common/test_paths.h"

namespace kestrel {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Splits the .inp file as llama.cpp's test-tokenizer-0 does: on the separator line, keeping every
// other byte (a case may itself be empty or consist of newlines).
std::vector<std::string> read_cases(const fs::path& p) {
  const std::string raw = read_file(p);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  size_t pos = 0;
  while (pos < raw.size()) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      cases.push_back(raw.substr(pos));
      break;
    }
    cases.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  return cases;
}

std::vector<std::vector<int32_t>> read_expected(const fs::path& p) {
  std::vector<std::vector<int32_t>> out;
  std::istringstream in(read_file(p));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    int64_t id;
    while (ls >> id) ids.push_back(static_cast<int32_t>(id));
    out.push_back(ids);
  }
  return out;
}

std::string show_ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += " " + std::to_string(id);
  return s;
}

std::string show_text(const std::string& t) {  // escaped so whitespace cases are visible
  std::string s = "\"";
  for (unsigned char c : t) {
    if (c == '\n') s += "\\n";
    else if (c == '\t') s += "\\t";
    else if (c == '\r') s += "\\r";
    else s += static_cast<char>(c);
  }
  return s + "\"";
}

std::vector<std::string> vocab_names() {
  std::vector<std::string> names;
  const fs::path dir = fs::path(test::shared_dir()) / "vocab";
  if (!fs::is_directory(dir)) return names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".gguf") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

class VocabFile : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabFile, MatchesLlamaCppTestCases) {
  KESTREL_REQUIRE_SHARED();
  const fs::path base = fs::path(test::shared_dir()) / "vocab" / (GetParam() + ".gguf");
  auto file = GGUFFile::open(base.string());
  ASSERT_TRUE(file) << file.error();
  auto tok = Tokenizer::from_gguf(**file);
  ASSERT_TRUE(tok) << tok.error();

  const auto cases = read_cases(base.string() + ".inp");
  const auto expected = read_expected(base.string() + ".out");
  ASSERT_EQ(cases.size(), expected.size()) << "malformed test files for " << GetParam();
  ASSERT_GT(cases.size(), 0u);
  size_t failures = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto got = (*tok)->encode(cases[i], /*add_special=*/false, /*parse_special=*/false);
    if (got != expected[i]) {
      ++failures;
      ADD_FAILURE() << GetParam() << " case " << i << " " << show_text(cases[i]) << "\n  expected:" << show_ids(expected[i])
                    << "\n  got:     " << show_ids(got);
    }
  }
  EXPECT_EQ(failures, 0u) << failures << " of " << cases.size() << " cases differ";
}

INSTANTIATE_TEST_SUITE_P(AllVocabs, VocabFile, ::testing::ValuesIn(vocab_names()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(VocabFile);

}  // namespace
}  // namespace kestrel
