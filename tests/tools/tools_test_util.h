#pragma once
// Shared helpers of the llm-bench / llm-quantize / llm-perplexity tests: run a built program and capture
// its output, quote paths for the shell, read numbers out of tool output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <cstring>
#include <set>
#include <string>

#include "gguf/gguf_file.h"
#include "tests/common/test_paths.h"

namespace kestrel::test {

inline std::string shell_quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) {
    if (c == '\'') o += "'\\''";
    else o += c;
  }
  return o + "'";
}

// tests/data in the source tree (found from this header's own path, which the compiler makes absolute).
inline std::string tools_data_dir() {
  return (std::filesystem::path(__FILE__).parent_path().parent_path() / "data").string();
}

inline std::string program(const std::string& name) { return shell_quote(bin_dir() + "/" + name); }

inline bool sanitized() {
  const char* e = std::getenv("KESTREL_SANITIZED");
  return e && *e && std::string(e) != "0";
}

struct RunResult {
  int rc = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs a shell command line; stdout and stderr are captured separately (stderr through a temp file).
inline RunResult run(const std::string& cmd) {
  static int counter = 0;
  const std::string err_file = temp_dir() + "/stderr-" + std::to_string(++counter) + ".txt";
  RunResult r;
  r.rc = run_command(cmd + " 2>" + shell_quote(err_file), &r.out);
  run_command("cat " + shell_quote(err_file), &r.err);
  return r;
}

// The last "Final estimate: PPL = X +/- E" line of llm-perplexity or llref ppl.
inline bool parse_final_ppl(const std::string& text, double* ppl, double* err) {
  static const std::regex re(R"(Final estimate: PPL = ([0-9.eE+-]+) \+/- ([0-9.eE+-]+))");
  std::smatch m;
  std::string::const_iterator from = text.begin();
  bool found = false;
  while (std::regex_search(from, text.end(), m, re)) {
    *ppl = std::stod(m[1].str());
    *err = std::stod(m[2].str());
    found = true;
    from = m[0].second;
  }
  return found;
}

// The error contract of the tools: exit 1 and exactly one stderr line "program: error: ...".
inline void expect_one_line_error(const RunResult& r, const std::string& program_name, const std::string& needle) {
  EXPECT_EQ(r.rc, 1) << r.err;
  const std::string prefix = program_name + ": error: ";
  const size_t at = r.err.find(prefix);
  ASSERT_NE(at, std::string::npos) << "stderr: " << r.err;
  const std::string line = r.err.substr(at);
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "error message should be one line at the end: " << r.err;
  EXPECT_NE(line.find(needle), std::string::npos) << "expected '" << needle << "' in: " << line;
}

// ---- llm-quantize vs llama.cpp (test_quantize*.cpp)

inline bool same_value(const Value& a, const Value& b) {
  if (a.type != b.type || a.u != b.u || a.i != b.i || a.b != b.b || a.str != b.str) return false;
  if (!(a.f == b.f || (a.f != a.f && b.f != b.f))) return false;
  if (a.items.size() != b.items.size()) return false;
  for (size_t i = 0; i < a.items.size(); ++i)
    if (!same_value(a.items[i], b.items[i])) return false;
  return true;
}

// Every tensor of `ref` exists in `ours` with the same shape, type and bytes, except the names in
// `other_type` which must have a different type (documented deviations). Metadata must match too.
inline void expect_same_model(const std::string& ours, const std::string& ref, const std::set<std::string>& other_type = {}) {
  auto a = GGUFFile::open(ours);
  auto b = GGUFFile::open(ref);
  ASSERT_TRUE(a) << a.error();
  ASSERT_TRUE(b) << b.error();
  ASSERT_EQ((*a)->tensors().size(), (*b)->tensors().size());
  int compared = 0;
  for (const TensorInfo& rt : (*b)->tensors()) {
    const TensorInfo* ot = (*a)->find_tensor(rt.name);
    ASSERT_NE(ot, nullptr) << rt.name;
    EXPECT_EQ(ot->ne, rt.ne) << rt.name;
    if (other_type.count(rt.name)) {
      EXPECT_NE(ot->type, rt.type) << rt.name;
      continue;
    }
    ASSERT_EQ(type_name(ot->type), type_name(rt.type)) << rt.name;
    ASSERT_EQ(ot->bytes, rt.bytes) << rt.name;
    EXPECT_EQ(std::memcmp((*a)->tensor_data(*ot), (*b)->tensor_data(rt), rt.bytes), 0) << "bytes differ: " << rt.name;
    ++compared;
  }
  EXPECT_GT(compared, 0);
  for (const KeyValue& kv : (*b)->metadata()) {
    const Value* mine = (*a)->find(kv.key);
    ASSERT_NE(mine, nullptr) << "missing key " << kv.key;
    EXPECT_TRUE(same_value(*mine, kv.value)) << "key " << kv.key;
  }
}

// Whole files, byte for byte (header, metadata order, tensor order, padding and data), as `cmp` sees them.
inline void expect_same_file(const std::string& ours, const std::string& ref) {
  auto slurp = [](const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  };
  const std::string a = slurp(ours), b = slurp(ref);
  ASSERT_FALSE(b.empty()) << ref;
  EXPECT_EQ(a.size(), b.size());
  const auto diff = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  EXPECT_TRUE(diff.first == a.end() && diff.second == b.end()) << "files differ at byte " << (diff.first - a.begin());
}

inline RunResult quantize(const std::string& in, const std::string& out, const std::string& type, bool pure) {
  return run(program("llm-quantize") + " " + shell_quote(in) + " " + shell_quote(out) + " " + type + (pure ? " --pure" : "") + " -t 2");
}

inline void llref_quantize(const std::string& in, const std::string& out, const std::string& type, bool pure) {
  RunResult r = run(shell_quote(llref_path()) + " quantize " + shell_quote(in) + " " + shell_quote(out) + " " + type + (pure ? " --pure" : ""));
  ASSERT_EQ(r.rc, 0) << r.err;
}

}  // namespace kestrel::test
