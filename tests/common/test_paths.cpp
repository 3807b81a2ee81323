#include "tests/common/test_paths.h"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sys/wait.h>

namespace kestrel::test {
namespace fs = std::filesystem;

std::string shared_dir() {
  if (const char* e = std::getenv("KESTREL_SHARED_DIR"); e && *e) return e;
  return KESTREL_SHARED_DIR;
}

bool have_shared() { return fs::is_directory(fs::path(shared_dir()) / "models"); }

std::string bin_dir() { return KESTREL_BIN_DIR; }

std::string llref_path() {
  if (const char* e = std::getenv("LLREF"); e && *e) return fs::exists(e) ? e : "";
  if (const char* home = std::getenv("HOME")) {
    fs::path p = fs::path(home) / ".cache/llama-ref/llref";
    if (fs::exists(p)) return p.string();
  }
  return "";
}

std::string temp_dir() {
  static std::string dir = [] {
    fs::path p = fs::temp_directory_path() / ("kestrel-test-" + std::to_string(::getpid()));
    fs::create_directories(p);
    // Scratch models can be tens of MB; don't leave one directory per test process behind.
    // (The path lives in a never-freed string: the handler may run after `dir` is destroyed.)
    static const std::string* to_remove = new std::string(p.string());
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(*to_remove, ec);
    });
    return p.string();
  }();
  return dir;
}

int run_command(const std::string& cmd, std::string* stdout_text) {
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return -1;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0)
    if (stdout_text) stdout_text->append(buf.data(), n);
  int st = ::pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace kestrel::test
