#pragma once
// The values a Jinja template computes with, with Python's semantics (jinja2 runs on Python objects):
// undefined, None, bool, int, float, str, list/tuple, dict (insertion-ordered), namespace and callables.
// Strings, lists and dicts are shared and immutable once built (Hugging Face renders in an
// ImmutableSandboxedEnvironment), so copying a Value is cheap; only namespaces are mutated, by `set ns.x`.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace kestrel::jinja {

// Internal error, thrown inside the engine and turned into a Result at the API boundary (render()).
struct Error {
  std::string message;
};
[[noreturn]] void fail(std::string message);

class Value;
class Interp;

struct ListData {
  std::vector<Value> items;
  bool tuple = false;      // printed as (a, b) instead of [a, b]
  bool generator = false;  // what jinja2's map/select/... return: iterable, always true, no len(), not JSON
  int depth = 1;           // nesting of lists/dicts inside: bounded so destruction cannot exhaust the stack
};
struct DictData {
  std::vector<std::pair<Value, Value>> items;  // insertion order, like Python's dict
  int depth = 1;
  const Value* find(const Value& key) const;
  void set(const Value& key, Value v);
};

struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  // Python-style parameter binding for builtins: the value of parameter `name` at `index`, or dflt.
  const Value* get(size_t index, const char* name) const;
  void check(size_t max_pos, std::initializer_list<const char*> names, const char* fn) const;
};

struct Callable {
  std::string name;
  bool is_macro = false;
  std::function<Value(Interp&, CallArgs&)> fn;
};

class Value {
 public:
  enum class Kind : uint8_t { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Callable };

  Value() = default;  // undefined
  static Value undefined(std::string hint = {}, bool unsafe = false);
  static Value none() { Value v; v.kind_ = Kind::None; return v; }
  Value(bool b) : kind_(Kind::Bool), i_(b) {}  // NOLINT
  Value(int64_t i) : kind_(Kind::Int), i_(i) {}  // NOLINT
  Value(int i) : kind_(Kind::Int), i_(i) {}  // NOLINT
  Value(double f) : kind_(Kind::Float), f_(f) {}  // NOLINT
  Value(std::string s);  // NOLINT
  Value(const char* s) : Value(std::string(s)) {}  // NOLINT
  // markupsafe.Markup: what |safe and |escape return; `Markup + str` HTML-escapes the str.
  static Value markup(std::string s);
  static Value list(std::vector<Value> items, bool tuple = false);
  static Value generator(std::vector<Value> items);
  static Value dict(std::vector<std::pair<Value, Value>> items = {});
  static Value namespace_(std::vector<std::pair<Value, Value>> items = {});
  static Value callable(std::string name, std::function<Value(Interp&, CallArgs&)> fn, bool is_macro = false);
  static Value from_json(const nlohmann::ordered_json& j, int depth = 0);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_tuple() const { return kind_ == Kind::List && l_->tuple; }
  bool is_generator() const { return kind_ == Kind::List && l_->generator; }
  bool is_sequence() const { return kind_ == Kind::List && !l_->generator; }  // list or tuple
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_namespace() const { return kind_ == Kind::Namespace; }
  bool is_mapping_like() const { return kind_ == Kind::Dict || kind_ == Kind::Namespace; }
  bool is_callable() const { return kind_ == Kind::Callable; }

  bool as_bool() const { return i_ != 0; }
  int64_t as_int() const { return i_; }     // Int or Bool
  double as_float() const { return kind_ == Kind::Float ? f_ : static_cast<double>(i_); }
  // The accessors check the kind: a filter that forgets a type check (a fuzzer found `|trim(1)`) gets
  // Python's TypeError as an error value instead of dereferencing an empty pointer.
  const std::string& str() const { if (!s_) wrong_kind("str"); return *s_; }
  const std::vector<Value>& items() const { if (!l_) wrong_kind("list"); return l_->items; }
  const DictData& dict_data() const { if (!d_) wrong_kind("dict"); return *d_; }
  DictData& mutable_dict() const { if (!d_) wrong_kind("namespace"); return *d_; }  // namespaces only
  const std::shared_ptr<DictData>& dict_ptr() const { return d_; }
  const Callable& fn() const { if (!c_) wrong_kind("callable"); return *c_; }
  int depth() const { return kind_ == Kind::List ? l_->depth : kind_ == Kind::Dict ? d_->depth : 0; }
  const std::string& undefined_hint() const { return hint_; }
  bool unsafe() const { return unsafe_; }
  bool is_markup() const { return kind_ == Kind::String && markup_; }

  bool truthy() const;           // Python's bool()
  std::string type_name() const; // Python's type name: 'str', 'list', 'NoneType', ...
  [[noreturn]] void wrong_kind(const char* expected) const;  // TypeError: expected X, got this value's type

 private:
  Kind kind_ = Kind::Undefined;
  bool unsafe_ = false;
  bool markup_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<const std::string> s_;
  std::shared_ptr<ListData> l_;
  std::shared_ptr<DictData> d_;
  std::shared_ptr<Callable> c_;
  std::string hint_;  // undefined: what was looked up, for the error when it is used
};

// Python's ==, with 1 == 1.0 == True and deep comparison of lists and dicts.
bool py_equal(const Value& a, const Value& b);
// Python's <: numbers, strings (code point order), lists/tuples lexicographically; TypeError otherwise.
bool py_less(const Value& a, const Value& b);
// Raises jinja2's UndefinedError for an undefined value used where a real value is needed.
[[noreturn]] void fail_undefined(const Value& v);

}  // namespace kestrel::jinja
