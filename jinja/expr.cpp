// Expressions with Python's semantics: attribute/item lookup as jinja2's sandbox does it, operators,
// comparisons, membership, iteration and calls.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "jinja/interp.h"
#include "jinja/pystr.h"

namespace kestrel::jinja {
namespace {

std::string obj_desc(const Value& v) { return "'" + v.type_name() + " object'"; }

bool is_dunder(const std::string& n) { return n.size() >= 2 && n[0] == '_' && n[1] == '_'; }

void check_overflow(bool overflow) {
  if (overflow) fail("integer overflow (Kestrel's integers are 64-bit)");
}

int64_t floordiv(int64_t a, int64_t b) {
  if (b == 0) fail("integer division or modulo by zero");
  if (a == INT64_MIN && b == -1) fail("integer overflow (Kestrel's integers are 64-bit)");
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

Value Interp::getattr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (is_dunder(name))
    return Value::undefined("access to attribute '" + name + "' of '" + obj.type_name() + "' object is unsafe.", true);
  if (obj.is_namespace()) {
    const Value* v = obj.dict_data().find(Value(name));
    if (v) return *v;
    return Value::undefined(obj_desc(obj) + " has no attribute '" + name + "'");
  }
  if (obj.is_dict()) {
    Value m = method(obj, name);
    if (!m.is_undefined() || m.unsafe()) return m;
    const Value* v = obj.dict_data().find(Value(name));
    if (v) return *v;
    return Value::undefined(obj_desc(obj) + " has no attribute '" + name + "'");
  }
  Value m = method(obj, name);
  if (!m.is_undefined() || m.unsafe()) return m;
  return Value::undefined(obj_desc(obj) + " has no attribute '" + name + "'");
}

Value Interp::getitem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (obj.is_dict()) {
    const Value* v = obj.dict_data().find(key);
    if (v) return *v;
    if (key.is_list() && !key.is_tuple()) fail("unhashable type: 'list'");
  } else if ((obj.is_sequence() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.as_int();
    if (obj.is_list()) {
      const int64_t n = static_cast<int64_t>(obj.items().size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return obj.items()[static_cast<size_t>(i)];
      return Value::undefined(obj_desc(obj) + " has no element " + std::to_string(key.as_int()));
    }
    std::u32string cps = utf8_decode(obj.str());
    const int64_t n = static_cast<int64_t>(cps.size());
    if (i < 0) i += n;
    if (i >= 0 && i < n) return Value(utf8_encode(std::u32string_view(&cps[static_cast<size_t>(i)], 1)));
    return Value::undefined(obj_desc(obj) + " has no element " + std::to_string(key.as_int()));
  }
  if (key.is_string()) return getattr(obj, key.str());  // the sandbox falls back to attribute lookup
  return Value::undefined(obj_desc(obj) + " has no element " + py_repr(key));
}

std::vector<Value> Interp::iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined:
      if (v.unsafe()) fail_undefined(v);
      return {};
    case Value::Kind::List: return v.items();
    case Value::Kind::Dict: {
      std::vector<Value> keys;
      for (const auto& [k, x] : v.dict_data().items) keys.push_back(k);
      return keys;
    }
    case Value::Kind::String: {
      std::vector<Value> chars;
      std::u32string cps = utf8_decode(v.str());
      charge(cps.size() * sizeof(Value));
      for (char32_t c : cps) chars.emplace_back(utf8_encode(std::u32string_view(&c, 1)));
      return chars;
    }
    default: fail("'" + v.type_name() + "' object is not iterable");
  }
}

bool Interp::contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::Undefined:
      if (container.unsafe()) fail_undefined(container);
      return false;
    case Value::Kind::String:
      if (!item.is_string())
        fail("'in <string>' requires string as left operand, not " + item.type_name());
      return container.str().find(item.str()) != std::string::npos;
    case Value::Kind::List:
      for (const Value& x : container.items())
        if (py_equal(x, item)) return true;
      return false;
    case Value::Kind::Dict: return container.dict_data().find(item) != nullptr;
    default: fail("argument of type '" + container.type_name() + "' is not iterable");
  }
}

Value Interp::call(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) fail_undefined(callee);
  if (!callee.is_callable()) fail("'" + callee.type_name() + "' object is not callable");
  step();
  return callee.fn().fn(*this, args);
}

CallArgs Interp::eval_args(const Expr& e, const ScopeP& scope) {
  CallArgs a;
  for (const auto& x : e.items) a.pos.push_back(eval(*x, scope));
  if (e.star_args)
    for (Value& v : iterate(eval(*e.star_args, scope))) a.pos.push_back(std::move(v));
  for (const auto& [k, x] : e.kwargs) a.kw.emplace_back(k, eval(*x, scope));
  if (e.star_kwargs) {
    Value d = eval(*e.star_kwargs, scope);
    if (!d.is_dict()) fail("argument after ** must be a mapping, not " + d.type_name());
    for (const auto& [k, v] : d.dict_data().items) {
      if (!k.is_string()) fail("keywords must be strings");
      a.kw.emplace_back(k.str(), v);
    }
  }
  return a;
}

Value Interp::binary(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  auto unsupported = [&]() -> Value {
    fail("unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
  };
  const bool nums = a.is_number() && b.is_number();
  const bool flt = nums && (a.is_float() || b.is_float());
  if (op == "+") {
    if (nums) {
      if (flt) return Value(a.as_float() + b.as_float());
      int64_t r = 0;
      check_overflow(__builtin_add_overflow(a.as_int(), b.as_int(), &r));
      return Value(r);
    }
    if (a.is_string() && b.is_string()) {
      if (a.is_markup() || b.is_markup()) {  // markupsafe: the plain side is escaped, the result is Markup
        std::string s = (a.is_markup() ? a.str() : html_escape(a.str())) + (b.is_markup() ? b.str() : html_escape(b.str()));
        return Value::markup(make_string(std::move(s)).str());
      }
      return make_string(a.str() + b.str());
    }
    if (a.is_string()) fail("can only concatenate str (not \"" + b.type_name() + "\") to str");
    if (a.is_sequence() && b.is_sequence() && a.is_tuple() == b.is_tuple()) {
      std::vector<Value> items = a.items();
      items.insert(items.end(), b.items().begin(), b.items().end());
      return make_list(std::move(items), a.is_tuple());
    }
    if (a.is_list()) fail("can only concatenate " + a.type_name() + " (not \"" + b.type_name() + "\") to " + a.type_name());
    return unsupported();
  }
  if (op == "-") {
    if (!nums) return unsupported();
    if (flt) return Value(a.as_float() - b.as_float());
    int64_t r = 0;
    check_overflow(__builtin_sub_overflow(a.as_int(), b.as_int(), &r));
    return Value(r);
  }
  if (op == "*") {
    if (nums) {
      if (flt) return Value(a.as_float() * b.as_float());
      int64_t r = 0;
      check_overflow(__builtin_mul_overflow(a.as_int(), b.as_int(), &r));
      return Value(r);
    }
    const Value* seq = (a.is_string() || a.is_sequence()) ? &a : (b.is_string() || b.is_sequence()) ? &b : nullptr;
    const Value* cnt = seq == &a ? &b : &a;
    if (!seq || !(cnt->is_int() || cnt->is_bool()))
      fail("can't multiply sequence by non-int of type '" + cnt->type_name() + "'");
    const int64_t n = std::max<int64_t>(0, cnt->as_int());
    if (seq->is_string()) {
      const uint64_t total = static_cast<uint64_t>(n) * seq->str().size();
      if (seq->str().size() && total / seq->str().size() != static_cast<uint64_t>(n)) fail("repeated string is too long");
      charge(total);
      std::string out;
      out.reserve(total);
      for (int64_t i = 0; i < n; ++i) out += seq->str();
      return Value(std::move(out));
    }
    const uint64_t total = static_cast<uint64_t>(n) * seq->items().size();
    charge(total * sizeof(Value));
    std::vector<Value> items;
    items.reserve(total);
    for (int64_t i = 0; i < n; ++i) items.insert(items.end(), seq->items().begin(), seq->items().end());
    return Value::list(std::move(items), seq->is_tuple());
  }
  if (op == "/") {
    if (!nums) return unsupported();
    if (b.as_float() == 0) fail("division by zero");
    return Value(a.as_float() / b.as_float());
  }
  if (op == "//") {
    if (!nums) return unsupported();
    if (flt) {
      if (b.as_float() == 0) fail("float floor division by zero");
      return Value(std::floor(a.as_float() / b.as_float()));
    }
    return Value(floordiv(a.as_int(), b.as_int()));
  }
  if (op == "%") {
    if (a.is_string()) fail("printf-style string formatting ('%') is not supported; use format()");
    if (!nums) return unsupported();
    if (flt) {
      const double y = b.as_float();
      if (y == 0) fail("float modulo");
      double r = std::fmod(a.as_float(), y);
      if (r != 0 && ((r < 0) != (y < 0))) r += y;
      return Value(r);
    }
    const int64_t q = floordiv(a.as_int(), b.as_int());
    return Value(a.as_int() - q * b.as_int());
  }
  if (op == "**") {
    if (!nums) return unsupported();
    if (flt || b.as_int() < 0) return Value(std::pow(a.as_float(), b.as_float()));
    int64_t base = a.as_int(), e = b.as_int(), r = 1;
    while (e > 0) {
      if (e & 1) check_overflow(__builtin_mul_overflow(r, base, &r));
      e >>= 1;
      if (e) check_overflow(__builtin_mul_overflow(base, base, &base));
    }
    return Value(r);
  }
  fail("unknown operator " + op);
}

bool Interp::compare(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return py_equal(a, b);
  if (op == "!=") return !py_equal(a, b);
  if (op == "in") return contains(b, a);
  if (op == "notin") return !contains(b, a);
  if (op == "<") return py_less(a, b);
  if (op == ">") return py_less(b, a);
  if (op == "<=") return py_less(a, b) || py_equal(a, b);
  if (op == ">=") return py_less(b, a) || py_equal(a, b);
  fail("unknown comparison " + op);
}

Value Interp::slice(const Value& obj, const Expr& s, const ScopeP& scope) {
  auto bound = [&](const Expr* e) -> std::optional<int64_t> {
    if (!e) return std::nullopt;
    Value v = eval(*e, scope);
    if (v.is_none()) return std::nullopt;
    if (!v.is_int() && !v.is_bool()) fail("slice indices must be integers or None");
    return v.as_int();
  };
  std::optional<int64_t> start = bound(s.a.get()), stop = bound(s.b.get()), stepv = bound(s.c.get());
  if (obj.is_undefined()) fail_undefined(obj);
  const int64_t step = stepv.value_or(1);
  if (step == 0) fail("slice step cannot be zero");
  std::u32string cps;
  int64_t n;
  if (obj.is_string()) {
    cps = utf8_decode(obj.str());
    n = static_cast<int64_t>(cps.size());
  } else if (obj.is_sequence()) {
    n = static_cast<int64_t>(obj.items().size());
  } else {
    return Value::undefined(obj_desc(obj) + " is not subscriptable");
  }
  // Python's slice.indices().
  auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v;
    if (x < 0) x += n;
    if (step > 0) return std::clamp<int64_t>(x, 0, n);
    return std::clamp<int64_t>(x, -1, n - 1);
  };
  const int64_t lo = clamp(start, step > 0 ? 0 : n - 1);
  const int64_t hi = clamp(stop, step > 0 ? n : -1);
  std::vector<size_t> idx;
  for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step) idx.push_back(static_cast<size_t>(i));
  if (obj.is_string()) {
    std::u32string out;
    for (size_t i : idx) out.push_back(cps[i]);
    return make_string(utf8_encode(out));
  }
  std::vector<Value> items;
  for (size_t i : idx) items.push_back(obj.items()[i]);
  return make_list(std::move(items), obj.is_tuple());
}

Value Interp::eval(const Expr& e, const ScopeP& scope) {
  step();
  DepthGuard g(*this, depth_, limits_.max_depth, "nests");
  switch (e.k) {
    case Expr::K::Literal: return e.literal;
    case Expr::K::Name: {
      const Value* v = scope->find(e.name);
      if (v) return *v;
      Value b = builtin_global(e.name);
      if (!b.is_undefined()) return b;
      return Value::undefined("'" + e.name + "' is undefined");
    }
    case Expr::K::List:
    case Expr::K::Tuple: {
      std::vector<Value> items;
      for (const auto& x : e.items) items.push_back(eval(*x, scope));
      return make_list(std::move(items), e.k == Expr::K::Tuple);
    }
    case Expr::K::Dict: {
      Value d = Value::dict();
      for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
        Value k = eval(*e.items[i], scope);
        if ((k.is_list() && !k.is_tuple()) || k.is_dict()) fail("unhashable type: '" + k.type_name() + "'");
        d.mutable_dict().set(k, eval(*e.items[i + 1], scope));
      }
      charge(d.dict_data().items.size() * 2 * sizeof(Value));
      return d;
    }
    case Expr::K::GetAttr: return getattr(eval(*e.a, scope), e.name);
    case Expr::K::GetItem: {
      Value obj = eval(*e.a, scope);
      if (e.b->k == Expr::K::Slice) return slice(obj, *e.b, scope);
      return getitem(obj, eval(*e.b, scope));
    }
    case Expr::K::Slice: fail("slice outside of a subscript");
    case Expr::K::Call: {
      Value callee = eval(*e.a, scope);
      CallArgs args = eval_args(e, scope);
      return call(callee, args);
    }
    case Expr::K::Filter: {
      Value subject;
      if (e.a) subject = eval(*e.a, scope);
      else if (filter_input_) subject = *filter_input_;
      CallArgs args = eval_args(e, scope);
      return filter(e.name, subject, args);
    }
    case Expr::K::Test: {
      Value subject = eval(*e.a, scope);
      CallArgs args = eval_args(e, scope);
      return Value(test(e.name, subject, args) != e.negated);
    }
    case Expr::K::Neg:
    case Expr::K::Pos: {
      Value v = eval(*e.a, scope);
      if (v.is_undefined()) fail_undefined(v);
      if (!v.is_number()) fail("bad operand type for unary " + std::string(e.k == Expr::K::Neg ? "-" : "+") + ": '" + v.type_name() + "'");
      if (e.k == Expr::K::Pos) return v.is_float() ? v : Value(v.as_int());
      if (v.is_float()) return Value(-v.as_float());
      if (v.as_int() == INT64_MIN) fail("integer overflow (Kestrel's integers are 64-bit)");
      return Value(-v.as_int());
    }
    case Expr::K::Not: return Value(!eval(*e.a, scope).truthy());
    case Expr::K::Binary: {
      Value a = eval(*e.a, scope);
      Value b = eval(*e.b, scope);
      return binary(e.name, a, b);
    }
    case Expr::K::Compare: {
      Value left = eval(*e.a, scope);
      for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = eval(*e.items[i], scope);
        if (!compare(e.ops[i], left, right)) return Value(false);
        left = std::move(right);
      }
      return Value(true);
    }
    case Expr::K::And: {
      Value a = eval(*e.a, scope);
      return a.truthy() ? eval(*e.b, scope) : a;
    }
    case Expr::K::Or: {
      Value a = eval(*e.a, scope);
      return a.truthy() ? a : eval(*e.b, scope);
    }
    case Expr::K::CondExpr:
      if (eval(*e.a, scope).truthy()) return eval(*e.b, scope);
      if (e.c) return eval(*e.c, scope);
      return Value::undefined("the inline if expression evaluated to false and no else section was defined");
    case Expr::K::Concat: {
      std::string s;
      for (const auto& x : e.items) {
        Value v = eval(*x, scope);
        s += v.is_string() ? v.str() : py_str(v);
      }
      return make_string(std::move(s));
    }
  }
  fail("unknown expression");
}

}  // namespace kestrel::jinja
