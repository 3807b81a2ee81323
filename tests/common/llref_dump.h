#pragma once
// llama.cpp's intermediate tensors as printed by `llref tensors MODEL PROMPT --full`: one JSON line per
// tensor, {"name":"..","op":"..","ne":[..],...,"first":[v, v, ...]}, values with 6 significant digits.
#include <map>
#include <string>
#include <vector>

namespace kestrel::test {

// "name|op" -> every dump of that tensor, in graph order (llama.cpp reuses names, e.g. norm-0 twice).
using LlrefDumps = std::map<std::string, std::vector<std::vector<float>>>;

LlrefDumps parse_llref_dumps(const std::string& text);

// Runs `llref tensors MODEL PROMPT --full -t 1 EXTRA` and parses its output; "" on failure in *error.
LlrefDumps run_llref_tensors(const std::string& model, const std::string& prompt, const std::string& extra_args,
                             std::string* error);

}  // namespace kestrel::test
