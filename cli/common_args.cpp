#include "cli/common_args.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>

namespace kestrel::cli {
namespace {

std::vector<std::string> split_names(const std::string& names) {
  std::vector<std::string> out;
  std::stringstream ss(names);
  std::string n;
  while (std::getline(ss, n, ',')) out.push_back(n);
  return out;
}

Status bad_value(const std::string& flag, const std::string& value, const char* what) {
  return Status::error("invalid value '" + value + "' for " + flag + ": expected " + what);
}

// Strict integer parse: the whole string, in range.
Status parse_i64(const std::string& flag, const std::string& v, int64_t lo, int64_t hi, int64_t* out) {
  if (v.empty()) return bad_value(flag, v, "an integer");
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || x < lo || x > hi) return bad_value(flag, v, "an integer in range");
  *out = x;
  return Status::ok();
}

}  // namespace

ArgParser::ArgParser(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void ArgParser::add(const std::string& names, const std::string& help, bool takes_value, std::string metavar,
                    std::function<Status(const std::string&, const std::string&)> apply) {
  Option o;
  o.names = split_names(names);
  o.help = help;
  o.takes_value = takes_value;
  o.metavar = std::move(metavar);
  o.apply = std::move(apply);
  options_.push_back(std::move(o));
}

void ArgParser::add_string(const std::string& names, std::string* out, const std::string& help) {
  add(names, help, true, "S", [out](const std::string&, const std::string& v) { *out = v; return Status::ok(); });
}
void ArgParser::add_strings(const std::string& names, std::vector<std::string>* out, const std::string& help) {
  add(names, help, true, "S", [out](const std::string&, const std::string& v) {
    out->push_back(v);
    return Status::ok();
  });
}
void ArgParser::add_int(const std::string& names, int* out, const std::string& help) {
  add(names, help, true, "N", [out](const std::string& f, const std::string& v) {
    int64_t x = 0;
    KESTREL_RETURN_IF_ERROR(parse_i64(f, v, std::numeric_limits<int>::min(), std::numeric_limits<int>::max(), &x));
    *out = static_cast<int>(x);
    return Status::ok();
  });
}
void ArgParser::add_int64(const std::string& names, int64_t* out, const std::string& help) {
  add(names, help, true, "N", [out](const std::string& f, const std::string& v) {
    return parse_i64(f, v, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), out);
  });
}
void ArgParser::add_uint64(const std::string& names, uint64_t* out, const std::string& help) {
  add(names, help, true, "N", [out](const std::string& f, const std::string& v) {
    if (v.empty() || v[0] == '-') return bad_value(f, v, "a non-negative integer");
    errno = 0;
    char* end = nullptr;
    unsigned long long x = std::strtoull(v.c_str(), &end, 10);
    if (errno != 0 || *end != '\0') return bad_value(f, v, "a non-negative integer");
    *out = x;
    return Status::ok();
  });
}
void ArgParser::add_float(const std::string& names, float* out, const std::string& help) {
  add(names, help, true, "F", [out](const std::string& f, const std::string& v) {
    if (v.empty()) return bad_value(f, v, "a number");
    errno = 0;
    char* end = nullptr;
    float x = std::strtof(v.c_str(), &end);
    if (errno != 0 || *end != '\0' || !std::isfinite(x)) return bad_value(f, v, "a finite number");
    *out = x;
    return Status::ok();
  });
}
void ArgParser::add_flag(const std::string& names, bool* out, const std::string& help) {
  add(names, help, false, "", [out](const std::string&, const std::string&) { *out = true; return Status::ok(); });
}
void ArgParser::set_positional(std::vector<std::string>* out, const std::string& help) {
  positional_ = out;
  positional_help_ = help;
}

ArgParser::Option* ArgParser::find(const std::string& name) {
  for (auto& o : options_)
    for (auto& n : o.names)
      if (n == name) return &o;
  return nullptr;
}

bool ArgParser::was_set(const std::string& name) const {
  for (auto& o : options_)
    for (auto& n : o.names)
      if (n == name) return o.seen;
  return false;
}

Status ArgParser::parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      help_ = true;
      return Status::ok();
    }
    bool looks_like_flag = a.size() > 1 && a[0] == '-' && !(std::isdigit(static_cast<unsigned char>(a[1])) || a[1] == '.');
    if (!looks_like_flag) {
      if (!positional_) return Status::error("unexpected argument '" + a + "'");
      positional_->push_back(a);
      continue;
    }
    std::string value;
    bool has_inline = false;
    if (auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_inline = true;
    }
    Option* o = find(a);
    if (!o) return Status::error("unknown argument '" + a + "' (see --help)");
    o->seen = true;
    if (!o->takes_value) {
      if (has_inline) return Status::error("flag " + a + " takes no value");
      KESTREL_RETURN_IF_ERROR(o->apply(a, ""));
      continue;
    }
    if (!has_inline) {
      if (i + 1 >= argc) return Status::error("missing value for " + a);
      value = argv[++i];
    }
    KESTREL_RETURN_IF_ERROR(o->apply(a, value));
  }
  return Status::ok();
}

std::string ArgParser::usage() const {
  std::string s = "usage: " + program_ + " [options]" + (positional_ ? " " + positional_help_ : "") + "\n" + summary_ + "\n\noptions:\n";
  auto line = [&s](std::string left, const std::string& help) {
    if (left.size() < 28) left.resize(28, ' ');
    else left += "  ";
    s += left + help + "\n";
  };
  for (auto& o : options_) {
    std::string left = "  ";
    for (size_t i = 0; i < o.names.size(); ++i) left += (i ? ", " : "") + o.names[i];
    if (o.takes_value) left += " " + o.metavar;
    line(left, o.help);
  }
  line("  -h, --help", "show this help");
  return s;
}

int fail(const std::string& program, const std::string& message) {
  std::fprintf(stderr, "%s: error: %s\n", program.c_str(), message.c_str());
  return 1;
}

}  // namespace kestrel::cli
