// The real chat templates in llama.cpp's source tree (models/templates/*.jinja, read from the llama.cpp
// git bundle at test time, never copied into this repo), rendered for the conversations in
// tests/data/chat_cases.json with add_generation_prompt true and false: byte-identical to Python jinja2
// with Hugging Face's settings (scripts/hf_chat_oracle.py) wherever jinja2 renders, an error wherever it raises.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "jinja/jinja.h"
#include "tests/common/test_paths.h"

namespace {

using nlohmann::ordered_json;
namespace fs = std::filesystem;

const fs::path kRepo = KESTREL_SOURCE_DIR;  // not __FILE__: ccache may make it relative
// Debian's python3 has python3-jinja2 (the oracle named in scripts/install-deps.sh); a python3 earlier in
// PATH (pyenv) may carry another jinja2 version.
const std::string kPython = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
constexpr std::time_t kNow = 1767225600 + 3600 * 10 + 60 * 30;  // 2026-01-01 10:30 UTC, for strftime_now

std::string bundle_path() {
  if (const char* b = std::getenv("KESTREL_LLAMA_BUNDLE")) return b;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/root") + "/.cache/llama-ref/node_modules/node-llama-cpp/llama/gitRelease.bundle";
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(JinjaHfTemplates, LlamaCppTemplatesMatchPythonJinja2) {
  if (!fs::exists(bundle_path())) GTEST_SKIP() << "llama.cpp git bundle not found at " << bundle_path();
  if (kestrel::test::run_command(kPython + " -c 'import jinja2' 2>/dev/null") != 0)
    GTEST_SKIP() << "python3-jinja2 (the oracle) is not installed";
  const std::string tmp = kestrel::test::temp_dir();
  const std::string git = tmp + "/llama.git";
  ASSERT_EQ(kestrel::test::run_command("git clone -q --bare '" + bundle_path() + "' '" + git + "'"), 0);
  std::string names;
  ASSERT_EQ(kestrel::test::run_command("git --git-dir='" + git + "' ls-tree --name-only HEAD models/templates/", &names), 0);

  ordered_json templates = ordered_json::object();
  std::istringstream ls(names);
  for (std::string path; std::getline(ls, path);) {
    if (path.size() < 6 || path.substr(path.size() - 6) != ".jinja") continue;
    std::string src;
    ASSERT_EQ(kestrel::test::run_command("git --git-dir='" + git + "' show 'HEAD:" + path + "'", &src), 0);
    templates[fs::path(path).filename().string()] = src;
  }
  ASSERT_GE(templates.size(), 50u);

  ordered_json cases = ordered_json::array();
  std::vector<std::string> case_names;
  for (const auto& c : ordered_json::parse(read_file(kRepo / "tests/data/chat_cases.json"))) {
    for (bool gen : {true, false}) {
      ordered_json x = c;
      x["add_generation_prompt"] = gen;
      if (!x.contains("extra")) x["extra"] = ordered_json::object();
      cases.push_back(x);
      case_names.push_back(c["name"].get<std::string>() + (gen ? "+gen" : ""));
    }
  }
  ordered_json req = {{"templates", templates}, {"cases", cases}, {"bos_token", "<s>"}, {"eos_token", "</s>"}, {"now", kNow}};
  {
    std::ofstream f(tmp + "/oracle_in.json", std::ios::binary);
    f << req.dump();
  }
  std::string oracle_out;
  ASSERT_EQ(kestrel::test::run_command("TZ=UTC " + kPython + " '" + (kRepo / "scripts/hf_chat_oracle.py").string() + "' < '" +
                                           tmp + "/oracle_in.json'",
                                       &oracle_out),
            0);
  ordered_json expected = ordered_json::parse(oracle_out);

  setenv("TZ", "UTC", 1);
  tzset();
  int identical = 0, both_error = 0, mismatched = 0, total = 0;
  for (auto it = templates.begin(); it != templates.end(); ++it) {
    const std::string& name = it.key();
    auto tmpl = kestrel::jinja::Template::parse(it.value().get<std::string>());
    for (size_t i = 0; i < cases.size(); ++i) {
      ++total;
      const ordered_json& want = expected[name][i];
      ordered_json ctx = {{"messages", cases[i]["messages"]}, {"tools", nullptr}, {"documents", nullptr},
                          {"add_generation_prompt", cases[i]["add_generation_prompt"]},
                          {"bos_token", "<s>"}, {"eos_token", "</s>"}};
      for (auto e = cases[i]["extra"].begin(); e != cases[i]["extra"].end(); ++e) ctx[e.key()] = e.value();
      kestrel::Result<std::string> got = tmpl ? tmpl->render(ctx, kNow) : kestrel::Result<std::string>(tmpl.status());
      if (want["ok"].get<bool>()) {
        if (got && *got == want["out"].get<std::string>()) {
          ++identical;
        } else {
          ++mismatched;
          ADD_FAILURE() << name << " / " << case_names[i] << ": "
                        << (got ? "output differs\n--- jinja2:\n" + want["out"].get<std::string>() + "\n--- kestrel:\n" + *got
                                : "kestrel failed: " + got.error());
        }
      } else if (!got) {
        ++both_error;
      } else {
        ++mismatched;
        ADD_FAILURE() << name << " / " << case_names[i] << ": jinja2 raised (" << want["err"].get<std::string>()
                      << ") but kestrel rendered";
      }
    }
  }
  std::printf("%zu templates x %zu cases = %d renders: %d byte-identical, %d errors in both, %d mismatches\n",
              templates.size(), cases.size(), total, identical, both_error, mismatched);
  EXPECT_EQ(mismatched, 0);
}

}  // namespace
