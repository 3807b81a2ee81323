#pragma once
// Where tests find ../shared (reference models, vocabs), the built programs, llama.cpp's llref, and
// scratch space. Tests that need an absent resource skip with a message saying what is missing.
#include <string>

namespace kestrel::test {

std::string shared_dir();        // KESTREL_SHARED_DIR env var, else the CMake option value
bool have_shared();
std::string bin_dir();           // build/bin with the llm-* programs
std::string llref_path();        // $LLREF, else $HOME/.cache/llama-ref/llref; "" when not installed
std::string temp_dir();          // a fresh per-process scratch directory
// Runs a shell command, returns its exit status and captures stdout (stderr goes to the log).
int run_command(const std::string& cmd, std::string* stdout_text = nullptr);

}  // namespace kestrel::test

#define KESTREL_REQUIRE_SHARED()                                                              \
  do {                                                                                        \
    if (!::kestrel::test::have_shared())                                                      \
      GTEST_SKIP() << "reference data not found at " << ::kestrel::test::shared_dir()         \
                   << " (set -DKESTREL_SHARED_DIR or KESTREL_SHARED_DIR)";                    \
  } while (0)

#define KESTREL_REQUIRE_LLREF()                                                               \
  do {                                                                                        \
    if (::kestrel::test::llref_path().empty())                                                \
      GTEST_SKIP() << "llama.cpp reference (llref) not installed: run ../shared/ref/setup.sh"; \
  } while (0)
