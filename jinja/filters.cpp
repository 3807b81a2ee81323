// jinja2's built-in filters and tests with their Python semantics, plus Hugging Face's tojson.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "jinja/ast.h"
#include "jinja/interp.h"
#include "jinja/pystr.h"

namespace kestrel::jinja {
namespace {

using FilterFn = std::function<Value(Interp&, const Value&, CallArgs&)>;
using TestFn = std::function<bool(Interp&, const Value&, CallArgs&)>;

int64_t py_len(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return 0;
    case Value::Kind::String: return static_cast<int64_t>(utf8_length(v.str()));
    case Value::Kind::List:
      if (v.is_generator()) fail("object of type 'generator' has no len()");
      return static_cast<int64_t>(v.items().size());
    case Value::Kind::Dict: return static_cast<int64_t>(v.dict_data().items.size());
    default: fail("object of type '" + v.type_name() + "' has no len()");
  }
}

bool flag(const CallArgs& a, size_t i, const char* name, bool dflt) {
  const Value* v = a.get(i, name);
  return v ? v->truthy() : dflt;
}

// jinja2's make_attrgetter: "a.b.0" looks up each part with getitem (ints for digit parts).
Value attr_path(Interp& in, const Value& item, const Value& attribute) {
  if (!attribute.is_string()) return in.getitem(item, attribute);
  Value cur = item;
  const std::string& path = attribute.str();
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    cur = in.getitem(cur, digits ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part));
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

Value lowered(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value(py_lower(v.str()));
  return v;
}

std::vector<Value> sorted(Interp& in, std::vector<Value> items, bool reverse, bool case_sensitive, const Value* attribute) {
  std::vector<std::pair<Value, Value>> keyed;
  for (Value& v : items) {
    Value k = attribute && !attribute->is_none() ? attr_path(in, v, *attribute) : v;
    keyed.emplace_back(lowered(k, case_sensitive), std::move(v));
  }
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    in.step();
    return reverse ? py_less(y.first, x.first) : py_less(x.first, y.first);
  });
  std::vector<Value> out;
  for (auto& [k, v] : keyed) out.push_back(std::move(v));
  return out;
}

// select/reject/selectattr/rejectattr: args after the attribute are (test name, test args...).
Value select_impl(Interp& in, const Value& seq, CallArgs& a, bool by_attr, bool keep) {
  size_t i = 0;
  Value attribute;
  if (by_attr) {
    if (a.pos.empty()) fail("missing parameter for attribute name");
    attribute = a.pos[i++];
  }
  std::string test_name;
  CallArgs targs;
  if (i < a.pos.size()) {
    if (!a.pos[i].is_string()) fail("test name must be a string");
    test_name = a.pos[i++].str();
    targs.pos.assign(a.pos.begin() + static_cast<long>(i), a.pos.end());
    targs.kw = a.kw;
  }
  std::vector<Value> out;
  if (!seq.truthy()) return Value::generator({});  // jinja2: `if value: for item in value: ...`
  for (const Value& item : in.iterate(seq)) {
    Value x = by_attr ? attr_path(in, item, attribute) : item;
    CallArgs ta = targs;
    const bool ok = test_name.empty() ? x.truthy() : in.test(test_name, x, ta);
    if (ok == keep) out.push_back(item);
  }
  in.charge(out.size() * sizeof(Value));
  return Value::generator(std::move(out));
}

Value to_int(const Value& v, const Value& dflt, int64_t base) {
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) {
    if (!std::isfinite(v.as_float()) || std::fabs(v.as_float()) > 9.2e18) return dflt;
    return Value(static_cast<int64_t>(v.as_float()));
  }
  if (v.is_string()) {
    std::string s = py_strip(v.str(), nullptr, true, true);
    std::string digits;
    for (char c : s)
      if (c != '_') digits += c;
    if (!digits.empty()) {
      char* end = nullptr;
      errno = 0;
      long long r = std::strtoll(digits.c_str(), &end, static_cast<int>(base));
      if (errno == 0 && end && *end == '\0') return Value(static_cast<int64_t>(r));
      errno = 0;
      double d = std::strtod(digits.c_str(), &end);
      if (errno == 0 && end && *end == '\0' && std::isfinite(d) && std::fabs(d) < 9.2e18 && base == 10)
        return Value(static_cast<int64_t>(d));
    }
  }
  return dflt;
}

const std::map<std::string, FilterFn>& filters() {
  static const std::map<std::string, FilterFn> kFilters = [] {
    std::map<std::string, FilterFn> f;
    f["length"] = [](Interp&, const Value& v, CallArgs&) { return Value(py_len(v)); };
    f["count"] = f["length"];
    f["string"] = [](Interp& in, const Value& v, CallArgs&) { return v.is_string() ? v : in.make_string(py_str(v)); };
    f["safe"] = [](Interp& in, const Value& v, CallArgs&) { return v.is_markup() ? v : Value::markup(in.make_string(py_str(v)).str()); };
    f["trim"] = [](Interp& in, const Value& v, CallArgs& a) {
      const Value* c = a.get(0, "chars");
      if (c && !c->is_none() && !c->is_string()) fail("trim() chars must be a string");
      const std::string* chars = c && !c->is_none() ? &c->str() : nullptr;
      Value r = in.make_string(py_strip(py_str(v), chars, true, true));
      return v.is_markup() ? Value::markup(r.str()) : r;
    };
    f["upper"] = [](Interp& in, const Value& v, CallArgs&) {
      Value r = in.make_string(py_upper(py_str(v)));
      return v.is_markup() ? Value::markup(r.str()) : r;
    };
    f["lower"] = [](Interp& in, const Value& v, CallArgs&) {
      Value r = in.make_string(py_lower(py_str(v)));
      return v.is_markup() ? Value::markup(r.str()) : r;
    };
    f["title"] = [](Interp& in, const Value& v, CallArgs&) { return in.make_string(py_title(py_str(v))); };
    f["capitalize"] = [](Interp& in, const Value& v, CallArgs&) { return in.make_string(py_capitalize(py_str(v))); };
    f["escape"] = [](Interp& in, const Value& v, CallArgs&) {
      return v.is_markup() ? v : Value::markup(in.make_string(html_escape(py_str(v))).str());
    };
    f["e"] = f["escape"];
    f["forceescape"] = [](Interp& in, const Value& v, CallArgs&) { return Value::markup(in.make_string(html_escape(py_str(v))).str()); };
    f["list"] = [](Interp& in, const Value& v, CallArgs&) { return in.make_list(in.iterate(v)); };
    f["first"] = [](Interp& in, const Value& v, CallArgs&) {
      std::vector<Value> items = in.iterate(v);
      return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
    };
    f["last"] = [](Interp& in, const Value& v, CallArgs&) {
      if (v.is_generator()) fail("'generator' object is not reversible");
      std::vector<Value> items = in.iterate(v);
      return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
    };
    f["reverse"] = [](Interp& in, const Value& v, CallArgs&) {
      if (v.is_string()) {
        std::u32string c = utf8_decode(v.str());
        std::reverse(c.begin(), c.end());
        return in.make_string(utf8_encode(c));
      }
      std::vector<Value> items = in.iterate(v);
      std::reverse(items.begin(), items.end());
      return in.make_list(std::move(items));
    };
    f["join"] = [](Interp& in, const Value& v, CallArgs& a) {
      const Value* d = a.get(0, "d");
      const Value* attr = a.get(1, "attribute");
      std::string sep = d ? py_str(*d) : "";
      std::string out;
      bool first = true;
      for (const Value& x : in.iterate(v)) {
        if (!first) out += sep;
        first = false;
        Value y = attr && !attr->is_none() ? attr_path(in, x, *attr) : x;
        out += py_str(y);
        in.charge(sep.size() + 16);
      }
      return in.make_string(std::move(out));
    };
    f["replace"] = [](Interp& in, const Value& v, CallArgs& a) {
      const Value* o = a.get(0, "old");
      const Value* n = a.get(1, "new");
      const Value* c = a.get(2, "count");
      if (!o || !n) fail("replace() needs old and new");
      std::string s = py_str(v), os = py_str(*o), ns = py_str(*n);
      in.charge(ns.size() > os.size() ? (ns.size() - os.size() + 1) * (s.size() + 1) : 0);
      return in.make_string(py_replace(s, os, ns, c && !c->is_none() ? c->as_int() : -1));
    };
    f["items"] = [](Interp& in, const Value& v, CallArgs&) {
      if (v.is_undefined()) return in.make_list({});
      if (!v.is_dict()) fail("Can only get item pairs from a mapping.");
      std::vector<Value> out;
      for (const auto& [k, x] : v.dict_data().items) out.push_back(Value::list({k, x}, true));
      return in.make_list(std::move(out));
    };
    f["dictsort"] = [](Interp& in, const Value& v, CallArgs& a) {
      if (!v.is_dict()) fail("dictsort() needs a mapping");
      const bool cs = flag(a, 0, "case_sensitive", false);
      const Value* by = a.get(1, "by");
      const bool rev = flag(a, 2, "reverse", false);
      const int pos = by && by->is_string() && by->str() == "value" ? 1 : 0;
      if (by && !(by->is_string() && (by->str() == "key" || by->str() == "value")))
        fail("You can only sort by either \"key\" or \"value\"");
      std::vector<Value> pairs;
      for (const auto& [k, x] : v.dict_data().items) pairs.push_back(Value::list({k, x}, true));
      Value idx(static_cast<int64_t>(pos));
      return in.make_list(sorted(in, std::move(pairs), rev, cs, &idx));
    };
    f["default"] = [](Interp&, const Value& v, CallArgs& a) {
      const Value* d = a.get(0, "default_value");
      const bool boolean = flag(a, 1, "boolean", false);
      if (v.is_undefined() || (boolean && !v.truthy())) return d ? *d : Value("");
      return v;
    };
    f["d"] = f["default"];
    f["tojson"] = [](Interp& in, const Value& v, CallArgs& a) {
      // Hugging Face: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
      a.check(4, {"ensure_ascii", "indent", "separators", "sort_keys"}, "tojson");
      JsonDumpOptions o;
      o.ensure_ascii = flag(a, 0, "ensure_ascii", false);
      const Value* ind = a.get(1, "indent");
      if (ind && !ind->is_none()) {
        if (ind->is_string()) {
          o.indent_is_string = true;
          o.indent_str = ind->str();
        } else if (ind->is_int() || ind->is_bool()) {
          o.indent = static_cast<int>(std::clamp<int64_t>(ind->as_int(), 0, 1 << 16));
        } else {
          fail("tojson indent must be an integer or a string");
        }
        o.item_sep = ",";
      }
      const Value* seps = a.get(2, "separators");
      if (seps && !seps->is_none()) {
        std::vector<Value> s = in.iterate(*seps);
        if (s.size() != 2 || !s[0].is_string() || !s[1].is_string()) fail("tojson separators must be two strings");
        o.item_sep = s[0].str();
        o.key_sep = s[1].str();
      }
      o.sort_keys = flag(a, 3, "sort_keys", false);
      return in.make_string(json_dumps(v, o));
    };
    f["indent"] = [](Interp& in, const Value& v, CallArgs& a) {
      const Value* w = a.get(0, "width");
      std::string ind = w && w->is_string() ? w->str() : std::string(static_cast<size_t>(std::clamp<int64_t>(w ? w->as_int() : 4, 0, 4096)), ' ');
      const bool first = flag(a, 1, "first", false), blank = flag(a, 2, "blank", false);
      std::vector<std::string> lines = py_splitlines(py_str(v) + "\n", false);
      std::string rv;
      if (blank) {
        for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + ind : "") + lines[i];
      } else {
        rv = lines.empty() ? "" : lines[0];
        for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : ind) + lines[i];
      }
      if (first) rv = ind + rv;
      return in.make_string(std::move(rv));
    };
    f["map"] = [](Interp& in, const Value& v, CallArgs& a) {
      const Value* attr = nullptr;
      const Value* dflt = nullptr;
      for (const auto& [k, x] : a.kw) {
        if (k == "attribute") attr = &x;
        else if (k == "default") dflt = &x;
      }
      std::vector<Value> out;
      if (!v.truthy()) return Value::generator({});
      if (attr) {
        for (const Value& item : in.iterate(v)) {
          Value r = attr_path(in, item, *attr);
          out.push_back(r.is_undefined() && dflt ? *dflt : r);
        }
        in.charge(out.size() * sizeof(Value));
        return Value::generator(std::move(out));
      }
      if (a.pos.empty() || !a.pos[0].is_string()) fail("map() needs a filter name or attribute=");
      std::string name = a.pos[0].str();
      CallArgs rest;
      rest.pos.assign(a.pos.begin() + 1, a.pos.end());
      rest.kw = a.kw;
      for (const Value& item : in.iterate(v)) {
        CallArgs r = rest;
        out.push_back(in.filter(name, item, r));
      }
      in.charge(out.size() * sizeof(Value));
      return Value::generator(std::move(out));
    };
    f["select"] = [](Interp& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, true); };
    f["reject"] = [](Interp& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, false); };
    f["selectattr"] = [](Interp& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, true); };
    f["rejectattr"] = [](Interp& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, false); };
    f["sort"] = [](Interp& in, const Value& v, CallArgs& a) {
      return in.make_list(sorted(in, in.iterate(v), flag(a, 0, "reverse", false), flag(a, 1, "case_sensitive", false),
                                 a.get(2, "attribute")));
    };
    f["unique"] = [](Interp& in, const Value& v, CallArgs& a) {
      const bool cs = flag(a, 0, "case_sensitive", false);
      const Value* attr = a.get(1, "attribute");
      std::vector<Value> out, seen;
      for (const Value& x : in.iterate(v)) {
        Value k = lowered(attr && !attr->is_none() ? attr_path(in, x, *attr) : x, cs);
        bool dup = false;
        for (const Value& s : seen) dup = dup || py_equal(s, k);
        in.step();
        if (!dup) {
          seen.push_back(k);
          out.push_back(x);
        }
      }
      in.charge(out.size() * sizeof(Value));
      return Value::generator(std::move(out));
    };
    auto minmax = [](bool want_max) {
      return [want_max](Interp& in, const Value& v, CallArgs& a) {
        std::vector<Value> items = in.iterate(v);
        if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
        std::vector<Value> s = sorted(in, items, false, flag(a, 0, "case_sensitive", false), a.get(1, "attribute"));
        return want_max ? s.back() : s.front();
      };
    };
    f["min"] = minmax(false);
    f["max"] = minmax(true);
    f["sum"] = [](Interp& in, const Value& v, CallArgs& a) {
      const Value* attr = a.get(0, "attribute");
      const Value* start = a.get(1, "start");
      Value total = start ? *start : Value(static_cast<int64_t>(0));
      for (const Value& x : in.iterate(v)) {
        Value y = attr && !attr->is_none() ? attr_path(in, x, *attr) : x;
        if (!total.is_number() || !y.is_number()) fail("sum() supports numbers only");
        total = total.is_float() || y.is_float() ? Value(total.as_float() + y.as_float()) : Value(total.as_int() + y.as_int());
      }
      return total;
    };
    f["int"] = [](Interp&, const Value& v, CallArgs& a) {
      const Value* d = a.get(0, "default");
      const Value* b = a.get(1, "base");
      return to_int(v, d ? *d : Value(static_cast<int64_t>(0)), b ? b->as_int() : 10);
    };
    f["float"] = [](Interp&, const Value& v, CallArgs& a) {
      const Value* d = a.get(0, "default");
      if (v.is_number()) return Value(v.as_float());
      if (v.is_string()) {
        std::string s = py_strip(v.str(), nullptr, true, true);
        char* end = nullptr;
        double r = std::strtod(s.c_str(), &end);
        if (!s.empty() && end && *end == '\0') return Value(r);
      }
      return d ? *d : Value(0.0);
    };
    f["abs"] = [](Interp&, const Value& v, CallArgs&) {
      if (v.is_float()) return Value(std::fabs(v.as_float()));
      if (v.is_int() || v.is_bool()) {
        if (v.as_int() == INT64_MIN) fail("integer overflow");
        return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
      }
      fail("bad operand type for abs(): '" + v.type_name() + "'");
    };
    f["round"] = [](Interp&, const Value& v, CallArgs& a) {
      const Value* p = a.get(0, "precision");
      const Value* m = a.get(1, "method");
      if (!v.is_number()) fail("round() needs a number");
      const int64_t prec = p ? p->as_int() : 0;
      const std::string method = m ? py_str(*m) : "common";
      const double scale = std::pow(10.0, static_cast<double>(prec));
      double x = v.as_float() * scale;
      if (method == "common") x = std::nearbyint(x);  // Python rounds half to even
      else if (method == "ceil") x = std::ceil(x);
      else if (method == "floor") x = std::floor(x);
      else fail("method must be common, ceil or floor");
      return Value(x / scale);
    };
    f["attr"] = [](Interp& in, const Value& v, CallArgs& a) {
      if (a.pos.size() != 1 || !a.pos[0].is_string()) fail("attr() needs an attribute name");
      return in.getattr(v, a.pos[0].str());
    };
    f["wordcount"] = [](Interp&, const Value& v, CallArgs&) {
      return Value(static_cast<int64_t>(py_split(py_str(v), nullptr, -1).size()));
    };
    f["center"] = [](Interp& in, const Value& v, CallArgs& a) {
      const Value* w = a.get(0, "width");
      std::string s = py_str(v);
      const int64_t width = std::min<int64_t>(w ? w->as_int() : 80, 1 << 20);
      const int64_t len = static_cast<int64_t>(utf8_length(s));
      if (width <= len) return Value(s);
      const int64_t pad = width - len, left = pad / 2 + (pad & width & 1);
      return in.make_string(std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(pad - left), ' '));
    };
    return f;
  }();
  return kFilters;
}

const std::map<std::string, TestFn>& tests() {
  static const std::map<std::string, TestFn> kTests = [] {
    std::map<std::string, TestFn> t;
    using K = Value::Kind;
    t["defined"] = [](Interp&, const Value& v, CallArgs&) { return !v.is_undefined(); };
    t["undefined"] = [](Interp&, const Value& v, CallArgs&) { return v.is_undefined(); };
    t["none"] = [](Interp&, const Value& v, CallArgs&) { return v.is_none(); };
    t["boolean"] = [](Interp&, const Value& v, CallArgs&) { return v.is_bool(); };
    t["true"] = [](Interp&, const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); };
    t["false"] = [](Interp&, const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); };
    t["integer"] = [](Interp&, const Value& v, CallArgs&) { return v.is_int(); };
    t["float"] = [](Interp&, const Value& v, CallArgs&) { return v.is_float(); };
    t["number"] = [](Interp&, const Value& v, CallArgs&) { return v.is_number(); };
    t["string"] = [](Interp&, const Value& v, CallArgs&) { return v.is_string(); };
    t["mapping"] = [](Interp&, const Value& v, CallArgs&) { return v.is_dict(); };
    t["iterable"] = [](Interp&, const Value& v, CallArgs&) {
      return v.kind() == K::List || v.kind() == K::Dict || v.kind() == K::String || v.kind() == K::Undefined;
    };
    t["sequence"] = [](Interp&, const Value& v, CallArgs&) {
      return v.is_sequence() || v.kind() == K::Dict || v.kind() == K::String;
    };
    t["callable"] = [](Interp&, const Value& v, CallArgs&) { return v.is_callable(); };
    auto arg0 = [](const CallArgs& a, const char* test) -> const Value& {
      if (a.pos.empty()) fail(std::string("test '") + test + "' needs an argument");
      return a.pos[0];
    };
    t["sameas"] = [arg0](Interp&, const Value& v, CallArgs& a) {
      const Value& o = arg0(a, "sameas");
      return v.kind() == o.kind() && py_equal(v, o);
    };
    t["eq"] = [arg0](Interp&, const Value& v, CallArgs& a) { return py_equal(v, arg0(a, "eq")); };
    t["equalto"] = t["=="] = t["eq"];
    t["ne"] = [arg0](Interp&, const Value& v, CallArgs& a) { return !py_equal(v, arg0(a, "ne")); };
    t["!="] = t["ne"];
    t["lt"] = [arg0](Interp&, const Value& v, CallArgs& a) { return py_less(v, arg0(a, "lt")); };
    t["lessthan"] = t["<"] = t["lt"];
    t["gt"] = [arg0](Interp&, const Value& v, CallArgs& a) { return py_less(arg0(a, "gt"), v); };
    t["greaterthan"] = t[">"] = t["gt"];
    t["le"] = [arg0](Interp&, const Value& v, CallArgs& a) { return !py_less(arg0(a, "le"), v); };
    t["<="] = t["le"];
    t["ge"] = [arg0](Interp&, const Value& v, CallArgs& a) { return !py_less(v, arg0(a, "ge")); };
    t[">="] = t["ge"];
    t["in"] = [arg0](Interp& in, const Value& v, CallArgs& a) { return in.contains(arg0(a, "in"), v); };
    auto int_of = [](const Value& v, const char* test) {
      if (v.is_undefined()) fail_undefined(v);
      if (!v.is_int() && !v.is_bool()) fail(std::string("test '") + test + "' needs an integer");
      return v.as_int();
    };
    t["odd"] = [int_of](Interp&, const Value& v, CallArgs&) { return int_of(v, "odd") % 2 != 0; };
    t["even"] = [int_of](Interp&, const Value& v, CallArgs&) { return int_of(v, "even") % 2 == 0; };
    t["divisibleby"] = [int_of, arg0](Interp&, const Value& v, CallArgs& a) {
      const int64_t d = int_of(arg0(a, "divisibleby"), "divisibleby");
      if (d == 0) fail("integer division or modulo by zero");
      return int_of(v, "divisibleby") % d == 0;
    };
    t["lower"] = [](Interp&, const Value& v, CallArgs&) {
      std::string s = py_str(v);
      return py_lower(s) == s && py_upper(s) != s;
    };
    t["upper"] = [](Interp&, const Value& v, CallArgs&) {
      std::string s = py_str(v);
      return py_upper(s) == s && py_lower(s) != s;
    };
    t["escaped"] = [](Interp&, const Value&, CallArgs&) { return false; };
    t["filter"] = [](Interp&, const Value& v, CallArgs&) { return v.is_string() && known_filter(v.str()); };
    t["test"] = [](Interp&, const Value& v, CallArgs&) { return v.is_string() && known_test(v.str()); };
    return t;
  }();
  return kTests;
}

}  // namespace

bool known_filter(const std::string& name) { return filters().count(name) != 0; }
bool known_test(const std::string& name) { return tests().count(name) != 0; }

Value Interp::filter(const std::string& name, const Value& v, CallArgs& args) {
  auto it = filters().find(name);
  if (it == filters().end()) fail("no filter named '" + name + "' found");
  step();
  return it->second(*this, v, args);
}

bool Interp::test(const std::string& name, const Value& v, CallArgs& args) {
  auto it = tests().find(name);
  if (it == tests().end()) fail("no test named '" + name + "' found");
  step();
  return it->second(*this, v, args);
}

}  // namespace kestrel::jinja
