#include "python/src/engine.h"

#include <Python.h>

#include <utility>

namespace py = pybind11;

namespace kestrel::binding {

Held Engine::hold(bool take_over, uint64_t* epoch) {
  std::lock_guard<std::mutex> lock(state_mu);
  if (closed) throw Error("the model '" + path + "' is closed");
  if (take_over) ++epoch_;
  if (epoch) *epoch = epoch_;
  return {model, session};
}

void Engine::check_current(uint64_t epoch) {
  std::lock_guard<std::mutex> lock(state_mu);
  if (closed) throw Error("the model '" + path + "' is closed");
  if (epoch != epoch_)
    throw Error("this generation was superseded by a later call on the same model (generate, eval or reset)");
}

Held Engine::close() {
  std::lock_guard<std::mutex> lock(state_mu);
  closed = true;
  Held h{std::move(model), std::move(session)};
  model.reset();
  session.reset();
  return h;
}

void check_signals_without_gil() {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

std::vector<int32_t> prompt_ids(const Model& m, py::handle prompt) {
  if (py::isinstance<py::str>(prompt)) return m.tokenizer().encode(prompt.cast<std::string>(), true, true);
  if (py::isinstance<py::bytes>(prompt) || !py::isinstance<py::sequence>(prompt))
    throw ArgumentError("the prompt must be a str or a list of token ids");
  std::vector<int32_t> ids;
  for (py::handle h : prompt) {
    if (!py::isinstance<py::int_>(h)) throw ArgumentError("the prompt must be a str or a list of token ids");
    const long long id = h.cast<long long>();
    if (id < 0 || id >= m.config().n_vocab)
      throw ArgumentError("token id " + std::to_string(id) + " is out of range [0, " +
                          std::to_string(m.config().n_vocab) + ")");
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

py::str to_str(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

namespace {

py::object value_to_py(const Value& v) {
  switch (v.type) {
    case ValueType::UINT8:
    case ValueType::UINT16:
    case ValueType::UINT32:
    case ValueType::UINT64: return py::int_(v.u);
    case ValueType::INT8:
    case ValueType::INT16:
    case ValueType::INT32:
    case ValueType::INT64: return py::int_(v.i);
    case ValueType::FLOAT32:
    case ValueType::FLOAT64: return py::float_(v.f);
    case ValueType::BOOL: return py::bool_(v.b);
    case ValueType::STRING: return to_str(v.str);
    case ValueType::ARRAY: {
      py::list out(v.items.size());
      for (size_t i = 0; i < v.items.size(); ++i) out[i] = value_to_py(v.items[i]);
      return out;
    }
  }
  return py::none();
}

}  // namespace

py::dict metadata_dict(const Model& m) {
  py::dict d;
  for (const KeyValue& kv : m.weights().file().metadata()) d[to_str(kv.key)] = value_to_py(kv.value);
  return d;
}

}  // namespace kestrel::binding
