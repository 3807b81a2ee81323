#pragma once
// JSON helpers shared by the server's routes: OpenAI-style error objects and a dump that never throws
// (token pieces may be incomplete UTF-8; those bytes become U+FFFD instead of an exception).
#include <string>

#include <nlohmann/json.hpp>

namespace kestrel::server {

using json = nlohmann::json;

inline std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// {"error": {"code": 400, "message": "...", "type": "invalid_request_error"}} (llama-server's shape,
// which is OpenAI's plus the numeric code).
inline json error_json(int code, const std::string& message, const std::string& type) {
  return json{{"error", {{"code", code}, {"message", message}, {"type", type}}}};
}

inline const char* error_type_for(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 413: return "invalid_request_error";
    case 501: return "not_supported_error";
    case 503: return "unavailable_error";
    default: return "server_error";
  }
}

}  // namespace kestrel::server
