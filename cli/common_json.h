#pragma once
// JSON for the tools, through nlohmann-json: llm-perplexity reads JSONL task files
// ({"context": "...", "endings": [...], "label": 1}), llm-bench and llm-perplexity write JSON, tests read
// it back. parse() never throws (the error names the byte offset). Object keys keep their insertion
// order, so tool output reads in the order llama.cpp's tools print.
#include <cstdio>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gguf/status.h"

namespace kestrel::cli::json {

using Json = nlohmann::ordered_json;

// One complete JSON value (surrounding whitespace allowed); RFC 8259 strictly (no comments, no
// trailing commas). nlohmann's parser keeps nesting on the heap, so deep input cannot exhaust the stack.
inline Result<Json> parse(std::string_view text) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    return Status::error(e.what());
  }
}

// Serialized JSON; bytes that are not UTF-8 become U+FFFD instead of an exception.
inline std::string dump(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

// An integer-valued number (what JSON calls a number with no fraction).
inline bool is_int(const Json& j) { return j.is_number_integer(); }

// A JSON string literal the way llref prints token pieces (llm-tokenize --pieces is compared with it
// line for line): quotes and backslashes escaped, every control character as \u00XX, other bytes
// as they are. nlohmann would write "\n" for \u000a and replace bytes that are not UTF-8, which is right for
// JSON documents but not for this byte-exact line format.
inline std::string quote(std::string_view s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o + "\"";
}

}  // namespace kestrel::cli::json
