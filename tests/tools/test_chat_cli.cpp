// llm-cli's conversation mode (-cnv) end to end on stories260K: replies driven through a pipe and typed
// into a real terminal (tmux) must equal the same turns rendered by llm-template and generated from scratch
// (scripts/chat_check.py), turns after the first must evaluate only their new tokens, and /clear, /exit,
// a full context and template errors must keep the session alive with a clear message.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "tests/common/test_paths.h"

namespace {

namespace fs = std::filesystem;
using kestrel::test::bin_dir;
using kestrel::test::run_command;
using kestrel::test::shared_dir;

const fs::path kRepo = KESTREL_SOURCE_DIR;

std::string stories() { return shared_dir() + "/models/stories260K-f32.gguf"; }

std::string chat_check(const std::string& extra) {
  return "python3 '" + (kRepo / "scripts/chat_check.py").string() + "' --bin '" + bin_dir() + "' -m '" + stories() +
         "' -n 12 -c 512 -t 1 " + extra + " 2>&1";
}

TEST(ChatCli, PipeRepliesMatchFromScratchAndReuseTheCache) {
  KESTREL_REQUIRE_SHARED();
  std::string out;
  // stories260K has no chat template: llm-cli and llm-template fall back to ChatML, as llama.cpp does.
  int rc = run_command(chat_check("--mode pipe 'Once upon a time' 'The dog ran' 'Lily smiled'"), &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("3 replies identical"), std::string::npos) << out;
}

// Speculative replies (prompt lookup; the Q8_0 copy as draft model) equal the plain from-scratch ones, and
// the cache still holds exactly the conversation (later turns evaluate only their new tokens). F32 caches:
// with an F16 cache a batch of >= 64 rows (the from-scratch prompt) takes llama.cpp's tiled flash-attention
// order and a shorter one (a turn's new tokens) the one-row order, as in llama.cpp, so the two may part
// at a near-tie; the F32-cache attention sums the same at every batch size.
TEST(ChatCli, SpeculativeRepliesMatchPlainOnes) {
  KESTREL_REQUIRE_SHARED();
  for (const std::string& extra : {std::string("--cli-arg=--lookup --cli-arg=8"),
                                  "--cli-arg=-md --cli-arg='" + shared_dir() + "/models/stories260K-q8_0.gguf'"}) {
    std::string out;
    int rc = run_command(chat_check("--mode pipe -ctk f32 " + extra + " -n 24 'Once upon a time' 'The dog ran' 'Lily smiled'"), &out);
    EXPECT_EQ(rc, 0) << extra << "\n" << out;
    EXPECT_NE(out.find("3 replies identical"), std::string::npos) << extra << "\n" << out;
  }
}

TEST(ChatCli, TerminalRepliesMatchUnderTmux) {
  KESTREL_REQUIRE_SHARED();
  if (run_command("command -v tmux >/dev/null") != 0) GTEST_SKIP() << "tmux is not installed";
  std::string out;
  int rc = run_command(chat_check("--mode tmux 'Once upon a time' 'The dog ran' 'Lily smiled'"), &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("3 replies identical"), std::string::npos) << out;
}

TEST(ChatCli, TemplateFileAndSystemPrompt) {
  KESTREL_REQUIRE_SHARED();
  const std::string tmpl = kestrel::test::temp_dir() + "/story.jinja";
  std::ofstream(tmpl) << "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n"
                         "{% elif m.role == 'user' %}Q: {{ m.content | trim }}\n{% else %}A: {{ m.content | trim }}\n"
                         "{% endif %}{% endfor %}{% if add_generation_prompt %}A:{% endif %}";
  std::string out;
  int rc = run_command(chat_check("--template '" + tmpl + "' --system 'A story.' 'Tim had a ball' 'Where did it go'"), &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("2 replies identical"), std::string::npos) << out;
}

TEST(ChatCli, CommandsFullContextAndTemplateErrorsKeepTheSession) {
  KESTREL_REQUIRE_SHARED();
  const std::string dir = kestrel::test::temp_dir();
  const std::string cli = bin_dir() + "/llm-cli -m '" + stories() + "' -cnv --temp 0 -t 1 ";
  std::string out;
  // /clear forgets the conversation (the next turn reuses only the shared prefix), /exit ends the session.
  int rc = run_command("printf 'Once upon a time\\n/clear\\nOnce upon a time\\n/exit\\nnever read\\n' | " + cli +
                           "-n 8 -c 256 2>" + dir + "/err1.txt",
                       &out);
  EXPECT_EQ(rc, 0);
  std::string err;
  err.clear();
  run_command("cat " + dir + "/err1.txt", &err);
  EXPECT_NE(err.find("conversation cleared"), std::string::npos) << err;
  EXPECT_NE(err.find("turn 2:"), std::string::npos) << err;
  EXPECT_EQ(err.find("turn 3:"), std::string::npos) << "/exit must end the session: " << err;
  // After /clear the second turn renders the same prompt as the first: all but one token are reused.
  EXPECT_NE(err.find("turn 2: prompt"), std::string::npos);
  // A context that fills up: a clear message, the session goes on, exit code 0.
  rc = run_command("printf 'Once upon a time there was a girl named Lily who loved to play outside in the sun\\nhi\\n' | " +
                       cli + "-n 200 -c 48 2>" + dir + "/err2.txt",
                   &out);
  EXPECT_EQ(rc, 0);
  err.clear();
  run_command("cat " + dir + "/err2.txt", &err);
  EXPECT_NE(err.find("context full"), std::string::npos) << err;
  // A template that raises: one line naming the problem per turn, the session continues to EOF.
  const std::string bad = dir + "/bad.jinja";
  std::ofstream(bad) << "{{ raise_exception('only system messages are supported') }}";
  rc = run_command("printf 'a\\nb\\n' | " + cli + "--chat-template-file " + bad + " 2>" + dir + "/err3.txt", &out);
  EXPECT_EQ(rc, 0);
  err.clear();
  run_command("cat " + dir + "/err3.txt", &err);
  EXPECT_NE(err.find("only system messages are supported"), std::string::npos) << err;
  // A template that does not parse is an error at start-up.
  std::ofstream(bad) << "{% if %}";
  rc = run_command("printf 'a\\n' | " + cli + "--chat-template-file " + bad + " 2>" + dir + "/err4.txt", &out);
  EXPECT_EQ(rc, 1);
  err.clear();
  run_command("cat " + dir + "/err4.txt", &err);
  EXPECT_NE(err.find("bad.jinja"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

}  // namespace
