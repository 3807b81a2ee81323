#include "python/src/py_json.h"

#include <Python.h>

#include "python/src/engine.h"

namespace py = pybind11;

namespace kestrel::binding {
namespace {

nlohmann::ordered_json convert(py::handle v, const std::string& path, int depth) {
  if (depth > 64) throw ArgumentError(path + ": nested too deeply");
  if (v.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>();
  if (py::isinstance<py::int_>(v)) {
    int overflow = 0;
    const long long x = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
    if (overflow != 0) throw ArgumentError(path + ": integer out of the 64-bit range");
    return x;
  }
  if (py::isinstance<py::float_>(v)) return v.cast<double>();
  if (py::isinstance<py::str>(v)) return v.cast<std::string>();
  if (py::isinstance<py::dict>(v)) {
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    for (auto item : v.cast<py::dict>()) {
      if (!py::isinstance<py::str>(item.first)) throw ArgumentError(path + ": dict keys must be str");
      const std::string key = item.first.cast<std::string>();
      o[key] = convert(item.second, path + "." + key, depth + 1);
    }
    return o;
  }
  if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
    nlohmann::ordered_json a = nlohmann::ordered_json::array();
    size_t i = 0;
    for (py::handle item : v) a.push_back(convert(item, path + "[" + std::to_string(i++) + "]", depth + 1));
    return a;
  }
  throw ArgumentError(path + ": unsupported type " + std::string(py::str(v.get_type().attr("__name__"))));
}

}  // namespace

nlohmann::ordered_json to_json(py::handle v, const std::string& what) { return convert(v, what, 0); }

}  // namespace kestrel::binding
