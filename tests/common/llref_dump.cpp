#include "tests/common/llref_dump.h"

#include <cstdlib>
#include <sstream>

#include "tests/common/test_paths.h"

namespace kestrel::test {

LlrefDumps parse_llref_dumps(const std::string& text) {
  LlrefDumps d;
  std::istringstream in(text);
  std::string line;
  auto field = [](const std::string& l, const std::string& key) {
    std::string pat = "\"";
    pat += key;
    pat += "\":\"";
    const size_t p = l.find(pat);
    if (p == std::string::npos) return std::string();
    const size_t b = p + pat.size();
    return l.substr(b, l.find('"', b) - b);
  };
  while (std::getline(in, line)) {
    const size_t f = line.find("\"first\":[");
    if (f == std::string::npos) continue;
    std::vector<float> v;
    std::istringstream nums(line.substr(f + 9, line.find(']', f) - f - 9));
    std::string tok;
    while (std::getline(nums, tok, ','))
      if (!tok.empty()) v.push_back(std::strtof(tok.c_str(), nullptr));  // also "inf", "nan"
    d[field(line, "name") + "|" + field(line, "op")].push_back(std::move(v));
  }
  return d;
}

LlrefDumps run_llref_tensors(const std::string& model, const std::string& prompt, const std::string& extra_args,
                             std::string* error) {
  const std::string cmd = "'" + llref_path() + "' tensors '" + model + "' '" + prompt + "' --full -t 1 " +
                          extra_args + " 2>/dev/null";
  std::string out;
  if (run_command(cmd, &out) != 0) {
    if (error) *error = "failed: " + cmd;
    return {};
  }
  return parse_llref_dumps(out);
}

}  // namespace kestrel::test
