// Value construction, truthiness and Python's comparison rules.
#include "jinja/value.h"

#include <algorithm>
#include <cmath>

#include "jinja/pystr.h"

namespace kestrel::jinja {

constexpr int kMaxNesting = 400;

void fail(std::string message) { throw Error{std::move(message)}; }

void Value::wrong_kind(const char* expected) const {
  if (is_undefined()) fail_undefined(*this);
  fail(std::string("expected ") + expected + ", got '" + type_name() + "'");
}

void fail_undefined(const Value& v) {
  if (v.unsafe()) fail(v.undefined_hint());
  fail(v.undefined_hint().empty() ? "value is undefined" : v.undefined_hint());
}

Value Value::undefined(std::string hint, bool unsafe) {
  Value v;
  v.hint_ = std::move(hint);
  v.unsafe_ = unsafe;
  return v;
}

Value::Value(std::string s) : kind_(Kind::String), s_(std::make_shared<const std::string>(std::move(s))) {}

Value Value::markup(std::string s) {
  Value v(std::move(s));
  v.markup_ = true;
  return v;
}

Value Value::list(std::vector<Value> items, bool tuple) {
  Value v;
  v.kind_ = Kind::List;
  v.l_ = std::make_shared<ListData>();
  v.l_->items = std::move(items);
  v.l_->tuple = tuple;
  for (const Value& x : v.l_->items) v.l_->depth = std::max(v.l_->depth, x.depth() + 1);
  if (v.l_->depth > kMaxNesting) fail("lists and dicts nest deeper than " + std::to_string(kMaxNesting) + " levels");
  return v;
}

Value Value::generator(std::vector<Value> items) {
  Value v = list(std::move(items));
  v.l_->generator = true;
  return v;
}

Value Value::dict(std::vector<std::pair<Value, Value>> items) {
  Value v;
  v.kind_ = Kind::Dict;
  v.d_ = std::make_shared<DictData>();
  for (auto& [k, x] : items) v.d_->set(k, std::move(x));
  return v;
}

Value Value::namespace_(std::vector<std::pair<Value, Value>> items) {
  Value v = dict(std::move(items));
  v.kind_ = Kind::Namespace;
  return v;
}

Value Value::callable(std::string name, std::function<Value(Interp&, CallArgs&)> fn, bool is_macro) {
  Value v;
  v.kind_ = Kind::Callable;
  v.c_ = std::make_shared<Callable>(Callable{std::move(name), is_macro, std::move(fn)});
  return v;
}

Value Value::from_json(const nlohmann::ordered_json& j, int depth) {
  if (depth > 300) fail("input JSON is nested deeper than 300 levels");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return none();
    case nlohmann::ordered_json::value_t::boolean: return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(from_json(x, depth + 1));
      return list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Value d = dict();
      d.d_->items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) {
        Value x = from_json(it.value(), depth + 1);
        d.d_->depth = std::max(d.d_->depth, x.depth() + 1);
        d.d_->items.emplace_back(Value(it.key()), std::move(x));
      }
      return d;
    }
    default: return none();  // binary / discarded: not produced by JSON text
  }
}

const Value* DictData::find(const Value& key) const {
  for (const auto& [k, v] : items)
    if (py_equal(k, key)) return &v;
  return nullptr;
}

void DictData::set(const Value& key, Value v) {
  depth = std::max(depth, v.depth() + 1);
  if (depth > kMaxNesting) fail("lists and dicts nest deeper than " + std::to_string(kMaxNesting) + " levels");
  for (auto& [k, x] : items)
    if (py_equal(k, key)) {
      x = std::move(v);
      return;
    }
  items.emplace_back(key, std::move(v));
}

const Value* CallArgs::get(size_t index, const char* name) const {
  for (const auto& [k, v] : kw)
    if (k == name) return &v;
  if (index < pos.size()) return &pos[index];
  return nullptr;
}

void CallArgs::check(size_t max_pos, std::initializer_list<const char*> names, const char* fn) const {
  if (pos.size() > max_pos)
    fail(std::string(fn) + "() takes at most " + std::to_string(max_pos) + " positional arguments (" +
         std::to_string(pos.size()) + " given)");
  for (const auto& [k, v] : kw) {
    bool known = false;
    for (const char* n : names) known = known || k == n;
    if (!known) fail(std::string(fn) + "() got an unexpected keyword argument '" + k + "'");
  }
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool:
    case Kind::Int: return i_ != 0;
    case Kind::Float: return f_ != 0;
    case Kind::String: return !s_->empty();
    case Kind::List: return l_->generator || !l_->items.empty();
    case Kind::Dict: return !d_->items.empty();
    default: return true;
  }
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List: return l_->generator ? "generator" : l_->tuple ? "tuple" : "list";
    case Kind::Dict: return "dict";
    case Kind::Namespace: return "Namespace";
    case Kind::Callable: return c_->is_macro ? "Macro" : "function";
  }
  return "object";
}

bool py_equal(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() == b.as_float();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::Undefined:
    case K::None: return true;
    case K::String: return a.str() == b.str();
    case K::List: {
      if (a.is_generator() || b.is_generator()) return &a.items() == &b.items();
      if (a.is_tuple() != b.is_tuple() || a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i)
        if (!py_equal(a.items()[i], b.items()[i])) return false;
      return true;
    }
    case K::Dict: {
      const auto& x = a.dict_data().items;
      const auto& y = b.dict_data();
      if (x.size() != y.items.size()) return false;
      for (const auto& [k, v] : x) {
        const Value* o = y.find(k);
        if (!o || !py_equal(v, *o)) return false;
      }
      return true;
    }
    case K::Namespace: return a.dict_ptr() == b.dict_ptr();
    case K::Callable: return &a.fn() == &b.fn();
    default: return false;
  }
}

bool py_less(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() < b.as_float();
    return a.as_int() < b.as_int();
  }
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_string() && b.is_string()) return a.str() < b.str();  // UTF-8 byte order = code point order
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!py_equal(x[i], y[i])) return py_less(x[i], y[i]);
    return x.size() < y.size();
  }
  fail("'<' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() + "'");
}

}  // namespace kestrel::jinja
