#pragma once
// Command-line flags for the llm-* programs, llama.cpp-style (-m, -p, -n, -t, --temp, ...).
// Unknown flags, missing values and malformed numbers are one-line errors; the programs print them
// and exit non-zero.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gguf/status.h"

namespace kestrel::cli {

class ArgParser {
 public:
  ArgParser(std::string program, std::string summary);
  // names: "-m,--model". Values are parsed strictly (whole string must be a number).
  void add_string(const std::string& names, std::string* out, const std::string& help);
  void add_strings(const std::string& names, std::vector<std::string>* out, const std::string& help);  // repeatable
  void add_int(const std::string& names, int* out, const std::string& help);
  void add_int64(const std::string& names, int64_t* out, const std::string& help);
  void add_uint64(const std::string& names, uint64_t* out, const std::string& help);
  void add_float(const std::string& names, float* out, const std::string& help);
  void add_flag(const std::string& names, bool* out, const std::string& help);
  // Arguments that are not flags go here; without a sink they are an error.
  void set_positional(std::vector<std::string>* out, const std::string& help);

  // Ok, or an error naming the bad argument. -h/--help sets help_requested() and returns ok.
  Status parse(int argc, char** argv);
  bool help_requested() const { return help_; }
  std::string usage() const;
  bool was_set(const std::string& name) const;  // any of the names given on the command line

 private:
  struct Option {
    std::vector<std::string> names;
    std::string help;
    bool takes_value = true;
    std::string metavar;
    std::function<Status(const std::string& flag, const std::string& value)> apply;
    bool seen = false;
  };
  Option* find(const std::string& name);
  void add(const std::string& names, const std::string& help, bool takes_value, std::string metavar,
           std::function<Status(const std::string&, const std::string&)> apply);
  std::string program_, summary_;
  std::vector<Option> options_;
  std::vector<std::string>* positional_ = nullptr;
  std::string positional_help_;
  bool help_ = false;
};

// Prints "program: error: message" to stderr and returns exit code 1; for `return fail(...)` in main.
int fail(const std::string& program, const std::string& message);

}  // namespace kestrel::cli
