#pragma once
// Python values -> nlohmann::ordered_json (dicts keep their key order, which a template's tojson prints),
// for the chat template's messages and extra variables.
#include <nlohmann/json.hpp>
#include <pybind11/pybind11.h>

#include <string>

namespace kestrel::binding {

// None, bool, int, float, str, list/tuple, dict with str keys; anything else is an ArgumentError naming
// `what` and the path inside it (e.g. "messages[1].content").
nlohmann::ordered_json to_json(pybind11::handle v, const std::string& what);

}  // namespace kestrel::binding
