// Python methods of str, dict and list that templates call (s.strip(), d.get(k), ...), and jinja2's
// globals (range, dict, namespace, joiner) plus Hugging Face's raise_exception and strftime_now.
// Methods that mutate a list or dict are refused, as ImmutableSandboxedEnvironment refuses them.
#include <algorithm>
#include <cstring>
#include <ctime>

#include "jinja/interp.h"
#include "jinja/pystr.h"

namespace kestrel::jinja {
namespace {

const std::string* opt_str(const CallArgs& a, size_t i, const char* name, const char* fn) {
  const Value* v = a.get(i, name);
  if (!v || v->is_none()) return nullptr;
  if (!v->is_string()) fail(std::string(fn) + "() argument must be str or None, not " + v->type_name());
  return &v->str();
}

int64_t opt_int(const CallArgs& a, size_t i, const char* name, int64_t dflt, const char* fn) {
  const Value* v = a.get(i, name);
  if (!v || v->is_none()) return dflt;
  if (!v->is_int() && !v->is_bool()) fail(std::string(fn) + "() argument must be an integer, not " + v->type_name());
  return v->as_int();
}

const std::string& req_str(const CallArgs& a, size_t i, const char* name, const char* fn) {
  const Value* v = a.get(i, name);
  if (!v) fail(std::string(fn) + "() missing required argument '" + name + "'");
  if (!v->is_string()) fail(std::string(fn) + "() argument must be str, not " + v->type_name());
  return v->str();
}

// Code point slice [start, end) of s with Python's index normalisation, as bytes.
std::string cp_range(const std::string& s, const CallArgs& a, size_t i0, size_t* offset_cps) {
  std::u32string cps = utf8_decode(s);
  const int64_t n = static_cast<int64_t>(cps.size());
  auto norm = [&](int64_t x) { return std::clamp<int64_t>(x < 0 ? x + n : x, 0, n); };
  int64_t b = norm(opt_int(a, i0, "start", 0, "str")), e = norm(opt_int(a, i0 + 1, "end", n, "str"));
  if (e < b) e = b;
  if (offset_cps) *offset_cps = static_cast<size_t>(b);
  return utf8_encode(std::u32string_view(cps).substr(static_cast<size_t>(b), static_cast<size_t>(e - b)));
}

int64_t cp_index(const std::string& s, size_t byte_pos) { return static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, byte_pos))); }

bool affix_match(const Value& self, const CallArgs& a, bool prefix, const char* fn) {
  const Value* p = a.get(0, "prefix");
  if (!p) fail(std::string(fn) + "() takes at least 1 argument (0 given)");
  std::string s = (a.pos.size() > 1) ? cp_range(self.str(), a, 1, nullptr) : self.str();
  auto one = [&](const Value& x) {
    if (!x.is_string()) fail(std::string(fn) + " first arg must be str or a tuple of str, not " + x.type_name());
    const std::string& t = x.str();
    if (t.size() > s.size()) return false;
    return prefix ? s.compare(0, t.size(), t) == 0 : s.compare(s.size() - t.size(), t.size(), t) == 0;
  };
  if (p->is_list()) {
    for (const Value& x : p->items())
      if (one(x)) return true;
    return false;
  }
  return one(*p);
}

// str.format with auto/explicit positional and keyword fields, !s/!r conversions and a small subset of
// format specs ([[fill]align][width][.precision][s|d|f]).
std::string apply_spec(const Value& v, const std::string& spec) {
  if (spec.empty()) return py_str(v);
  size_t i = 0;
  char fill = ' ', align = 0;
  if (spec.size() >= 2 && std::strchr("<>^", spec[1])) {
    fill = spec[0];
    align = spec[1];
    i = 2;
  } else if (std::strchr("<>^", spec[0])) {
    align = spec[0];
    i = 1;
  }
  size_t width = 0;
  while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i]))) width = width * 10 + static_cast<size_t>(spec[i++] - '0');
  int prec = -1;
  if (i < spec.size() && spec[i] == '.') {
    prec = 0;
    ++i;
    while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i]))) prec = prec * 10 + (spec[i++] - '0');
  }
  char type = i < spec.size() ? spec[i++] : 0;
  if (i != spec.size() || (type && !std::strchr("sdf", type)) || width > 4096)
    fail("format spec '" + spec + "' is not supported");
  std::string body;
  if (type == 'f' || (prec >= 0 && v.is_number())) {
    if (!v.is_number()) fail("unknown format code 'f' for object of type '" + v.type_name() + "'");
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", prec < 0 ? 6 : std::min(prec, 100), v.as_float());
    body = buf;
  } else if (type == 'd') {
    if (!v.is_int() && !v.is_bool()) fail("unknown format code 'd' for object of type '" + v.type_name() + "'");
    body = std::to_string(v.as_int());
  } else {
    body = py_str(v);
    if (prec >= 0) {
      std::u32string c = utf8_decode(body);
      if (c.size() > static_cast<size_t>(prec)) body = utf8_encode(std::u32string_view(c).substr(0, static_cast<size_t>(prec)));
    }
  }
  const size_t len = utf8_length(body);
  if (len >= width) return body;
  const size_t pad = width - len;
  if (!align) align = v.is_number() && !v.is_bool() ? '>' : '<';
  if (align == '<') return body + std::string(pad, fill);
  if (align == '>') return std::string(pad, fill) + body;
  return std::string(pad / 2, fill) + body + std::string(pad - pad / 2, fill);
}

std::string str_format(const std::string& fmt, const CallArgs& a) {
  std::string out;
  size_t auto_idx = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '}' ) {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') { out += '}'; ++i; continue; }
      fail("Single '}' encountered in format string");
    }
    if (c != '{') { out += c; continue; }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') { out += '{'; ++i; continue; }
    size_t e = fmt.find('}', i);
    if (e == std::string::npos) fail("Single '{' encountered in format string");
    std::string field = fmt.substr(i + 1, e - i - 1);
    i = e;
    std::string spec, conv;
    if (size_t p = field.find(':'); p != std::string::npos) { spec = field.substr(p + 1); field.resize(p); }
    if (size_t p = field.find('!'); p != std::string::npos) { conv = field.substr(p + 1); field.resize(p); }
    const Value* v = nullptr;
    if (field.empty()) {
      if (auto_idx >= a.pos.size()) fail("Replacement index " + std::to_string(auto_idx) + " out of range for positional args tuple");
      v = &a.pos[auto_idx++];
    } else if (std::all_of(field.begin(), field.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); })) {
      size_t k = std::stoul(field);
      if (k >= a.pos.size()) fail("Replacement index " + field + " out of range for positional args tuple");
      v = &a.pos[k];
    } else {
      for (const auto& [name, x] : a.kw)
        if (name == field) v = &x;
      if (!v) fail("KeyError: '" + field + "'");
    }
    Value shown = *v;
    if (conv == "r") shown = Value(py_repr(*v));
    else if (!conv.empty() && conv != "s") fail("Unknown conversion specifier " + conv);
    out += apply_spec(shown, spec);
  }
  return out;
}

Value str_method(Interp& in, const Value& self, const std::string& name, CallArgs& a) {
  const std::string& s = self.str();
  const char* fn = name.c_str();
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    a.check(1, {"chars"}, fn);
    return in.make_string(py_strip(s, opt_str(a, 0, "chars", fn), name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    a.check(2, {"sep", "maxsplit"}, fn);
    auto parts = name == "split" ? py_split(s, opt_str(a, 0, "sep", fn), opt_int(a, 1, "maxsplit", -1, fn))
                                 : py_rsplit(s, opt_str(a, 0, "sep", fn), opt_int(a, 1, "maxsplit", -1, fn));
    std::vector<Value> items;
    for (auto& p : parts) items.push_back(in.make_string(std::move(p)));
    return in.make_list(std::move(items));
  }
  if (name == "splitlines") {
    a.check(1, {"keepends"}, fn);
    const Value* k = a.get(0, "keepends");
    std::vector<Value> items;
    for (auto& p : py_splitlines(s, k && k->truthy())) items.push_back(in.make_string(std::move(p)));
    return in.make_list(std::move(items));
  }
  if (name == "startswith" || name == "endswith") return Value(affix_match(self, a, name == "startswith", fn));
  if (name == "replace") {
    a.check(3, {"count"}, fn);
    const std::string& old = req_str(a, 0, "old", fn);
    const std::string& repl = req_str(a, 1, "new", fn);
    const int64_t count = opt_int(a, 2, "count", -1, fn);
    const uint64_t grow = repl.size() > old.size() ? (repl.size() - old.size() + (old.empty() ? 1 : 0)) * (utf8_length(s) + 1) : 0;
    in.charge(grow);
    return in.make_string(py_replace(s, old, repl, count));
  }
  if (name == "upper") return in.make_string(py_upper(s));
  if (name == "lower" || name == "casefold") return in.make_string(py_lower(s));
  if (name == "title") return in.make_string(py_title(s));
  if (name == "capitalize") return in.make_string(py_capitalize(s));
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    const std::string& sub = req_str(a, 0, "sub", fn);
    size_t off = 0;
    std::string hay = a.pos.size() > 1 ? cp_range(s, a, 1, &off) : s;
    if (name == "count") {
      if (sub.empty()) return Value(static_cast<int64_t>(utf8_length(hay) + 1));
      int64_t n = 0;
      for (size_t p = hay.find(sub); p != std::string::npos; p = hay.find(sub, p + sub.size())) ++n;
      return Value(n);
    }
    size_t p = (name == "find" || name == "index") ? hay.find(sub) : hay.rfind(sub);
    if (p == std::string::npos) {
      if (name == "index" || name == "rindex") fail("substring not found");
      return Value(static_cast<int64_t>(-1));
    }
    return Value(cp_index(hay, p) + static_cast<int64_t>(off));
  }
  if (name == "join") {
    if (a.pos.size() != 1) fail("join() takes exactly one argument");
    std::string out;
    bool first = true;
    for (const Value& x : in.iterate(a.pos[0])) {
      if (!x.is_string()) fail("sequence item: expected str instance, " + x.type_name() + " found");
      if (!first) out += s;
      first = false;
      out += x.str();
      in.charge(s.size() + x.str().size());
    }
    return Value(std::move(out));
  }
  if (name == "format") return in.make_string(str_format(s, a));
  if (name == "removeprefix" || name == "removesuffix") {
    const std::string& t = req_str(a, 0, name == "removeprefix" ? "prefix" : "suffix", fn);
    if (name == "removeprefix") return Value(s.compare(0, t.size(), t) == 0 && t.size() <= s.size() ? s.substr(t.size()) : s);
    return Value(t.size() <= s.size() && s.compare(s.size() - t.size(), t.size(), t) == 0 ? s.substr(0, s.size() - t.size()) : s);
  }
  if (name == "partition" || name == "rpartition") {
    const std::string& sep = req_str(a, 0, "sep", fn);
    if (sep.empty()) fail("empty separator");
    size_t p = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (p == std::string::npos)
      return name == "partition" ? Value::list({Value(s), Value(""), Value("")}, true)
                                 : Value::list({Value(""), Value(""), Value(s)}, true);
    return Value::list({Value(s.substr(0, p)), Value(sep), Value(s.substr(p + sep.size()))}, true);
  }
  if (name == "zfill" || name == "ljust" || name == "rjust" || name == "center") {
    int64_t w = opt_int(a, 0, "width", 0, fn);
    if (w > (1 << 20)) fail(std::string(fn) + "() width is too large");
    const std::string* fillc = name == "zfill" ? nullptr : opt_str(a, 1, "fillchar", fn);
    std::string fillch = fillc ? *fillc : (name == "zfill" ? "0" : " ");
    const int64_t len = static_cast<int64_t>(utf8_length(s));
    if (w <= len) return self;
    const int64_t pad = w - len;
    auto rep = [&](int64_t k) { std::string r; for (int64_t i = 0; i < k; ++i) r += fillch; return r; };
    if (name == "ljust") return in.make_string(s + rep(pad));
    if (name == "rjust") return in.make_string(rep(pad) + s);
    if (name == "center") {
      const int64_t left = pad / 2 + (pad & w & 1);
      return in.make_string(rep(left) + s + rep(pad - left));
    }
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) return in.make_string(s.substr(0, 1) + rep(pad) + s.substr(1));
    return in.make_string(rep(pad) + s);
  }
  auto all_of = [&](auto pred) {
    std::u32string c = utf8_decode(s);
    return Value(!c.empty() && std::all_of(c.begin(), c.end(), pred));
  };
  if (name == "isspace") return all_of([](char32_t c) { return py_isspace(c); });
  if (name == "isdigit" || name == "isdecimal" || name == "isnumeric") return all_of([](char32_t c) { return c >= '0' && c <= '9'; });
  if (name == "isalpha") return all_of([](char32_t c) { return (c < 0x80 && std::isalpha(static_cast<int>(c))) || (c >= 0x80 && (py_upper1(c) != c || py_lower1(c) != c)); });
  if (name == "isalnum") return all_of([](char32_t c) { return (c < 0x80 && std::isalnum(static_cast<int>(c))) || (c >= 0x80 && (py_upper1(c) != c || py_lower1(c) != c)); });
  if (name == "isupper" || name == "islower") {
    bool cased = false, ok = true;
    for (char32_t c : utf8_decode(s)) {
      if (py_upper1(c) != c || py_lower1(c) != c) {
        cased = true;
        ok = ok && (name == "isupper" ? py_upper1(c) == c : py_lower1(c) == c);
      }
    }
    return Value(cased && ok);
  }
  fail("'str' object has no attribute '" + name + "'");
}

bool is_str_method(const std::string& n) {
  static const char* const kNames[] = {"strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith",
                                       "endswith", "replace", "upper", "lower", "casefold", "title", "capitalize",
                                       "find", "rfind", "index", "rindex", "count", "join", "format", "removeprefix",
                                       "removesuffix", "partition", "rpartition", "zfill", "ljust", "rjust",
                                       "center", "isspace", "isdigit", "isdecimal", "isnumeric", "isalpha",
                                       "isalnum", "isupper", "islower"};
  for (const char* k : kNames)
    if (n == k) return true;
  return false;
}

}  // namespace

Value Interp::method(const Value& obj, const std::string& name) {
  auto unsafe = [&]() {
    return Value::undefined("access to attribute '" + name + "' of '" + obj.type_name() + "' object is unsafe.", true);
  };
  if (obj.is_string()) {
    if (!is_str_method(name)) return Value();
    Value self = obj;
    return Value::callable(name, [self, name](Interp& in, CallArgs& a) { return str_method(in, self, name, a); });
  }
  if (obj.is_dict()) {
    Value self = obj;
    if (name == "get")
      return Value::callable(name, [self](Interp&, CallArgs& a) {
        if (a.pos.empty() || a.pos.size() > 2) fail("get expected 1 or 2 arguments, got " + std::to_string(a.pos.size()));
        const Value* v = self.dict_data().find(a.pos[0]);
        return v ? *v : (a.pos.size() > 1 ? a.pos[1] : Value::none());
      });
    if (name == "items" || name == "keys" || name == "values" || name == "copy")
      return Value::callable(name, [self, name](Interp& in, CallArgs& a) {
        if (!a.pos.empty() || !a.kw.empty()) fail(name + "() takes no arguments");
        if (name == "copy") return Value::dict(self.dict_data().items);
        std::vector<Value> out;
        for (const auto& [k, v] : self.dict_data().items)
          out.push_back(name == "items" ? Value::list({k, v}, true) : name == "keys" ? k : v);
        return in.make_list(std::move(out));
      });
    if (name == "pop" || name == "popitem" || name == "setdefault" || name == "update" || name == "clear" ||
        name == "fromkeys")
      return unsafe();
    return Value();
  }
  if (obj.is_list()) {
    Value self = obj;
    if (name == "index" || name == "count")
      return Value::callable(name, [self, name](Interp&, CallArgs& a) {
        if (a.pos.empty()) fail(name + "() takes at least 1 argument");
        int64_t n = 0;
        for (size_t i = 0; i < self.items().size(); ++i)
          if (py_equal(self.items()[i], a.pos[0])) {
            if (name == "index") return Value(static_cast<int64_t>(i));
            ++n;
          }
        if (name == "index") fail(py_repr(a.pos[0]) + " is not in list");
        return Value(n);
      });
    if (name == "copy" && !obj.is_tuple()) return Value::callable(name, [self](Interp&, CallArgs&) { return Value::list(self.items()); });
    if (!obj.is_tuple() && (name == "append" || name == "extend" || name == "insert" || name == "pop" ||
                            name == "remove" || name == "reverse" || name == "sort" || name == "clear"))
      return unsafe();
    return Value();
  }
  return Value();
}

Value Interp::builtin_global(const std::string& name) {
  if (name == "range")
    return Value::callable(name, [](Interp& in, CallArgs& a) {
      if (!a.kw.empty() || a.pos.empty() || a.pos.size() > 3) fail("range expected 1 to 3 integer arguments");
      for (const Value& v : a.pos)
        if (!v.is_int() && !v.is_bool()) fail("'" + v.type_name() + "' object cannot be interpreted as an integer");
      int64_t start = 0, stop, step = 1;
      if (a.pos.size() == 1) stop = a.pos[0].as_int();
      else {
        start = a.pos[0].as_int();
        stop = a.pos[1].as_int();
        if (a.pos.size() == 3) step = a.pos[2].as_int();
      }
      if (step == 0) fail("range() arg 3 must not be zero");
      // jinja2's sandbox refuses ranges longer than MAX_RANGE = 100000.
      const double len = step > 0 ? std::max(0.0, std::ceil((static_cast<double>(stop) - start) / step))
                                  : std::max(0.0, std::ceil((static_cast<double>(start) - stop) / -static_cast<double>(step)));
      if (len > 100000) fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
      std::vector<Value> items;
      for (int64_t i = 0; i < static_cast<int64_t>(len); ++i) items.emplace_back(start + i * step);
      return in.make_list(std::move(items));
    });
  if (name == "dict" || name == "namespace")
    return Value::callable(name, [name](Interp& in, CallArgs& a) {
      std::vector<std::pair<Value, Value>> items;
      if (a.pos.size() > 1) fail(name + " expected at most 1 positional argument");
      if (!a.pos.empty()) {
        const Value& src = a.pos[0];
        if (src.is_mapping_like()) {
          items = src.dict_data().items;
        } else {
          for (const Value& pair : in.iterate(src)) {
            std::vector<Value> kv = in.iterate(pair);
            if (kv.size() != 2) fail("dictionary update sequence element has length " + std::to_string(kv.size()) + "; 2 is required");
            items.emplace_back(kv[0], kv[1]);
          }
        }
      }
      for (auto& [k, v] : a.kw) items.emplace_back(Value(k), v);
      if (name == "dict") return Value::dict(std::move(items));
      return in.register_namespace(Value::namespace_(std::move(items)));
    });
  if (name == "raise_exception")
    return Value::callable(name, [](Interp&, CallArgs& a) -> Value {
      fail(a.pos.empty() ? std::string("raise_exception() called") : py_str(a.pos[0]));
    });
  if (name == "strftime_now")
    return Value::callable(name, [](Interp& in, CallArgs& a) {
      if (a.pos.size() != 1 || !a.pos[0].is_string()) fail("strftime_now() expects one format string");
      std::time_t t = in.now();
      std::tm tm{};
      localtime_r(&t, &tm);
      char buf[512];
      size_t n = std::strftime(buf, sizeof buf, a.pos[0].str().c_str(), &tm);
      if (n == 0 && !a.pos[0].str().empty()) fail("strftime_now(): format result is empty or too long");
      return Value(std::string(buf, n));
    });
  if (name == "joiner")
    return Value::callable(name, [](Interp&, CallArgs& a) {
      std::string sep = a.pos.empty() ? ", " : py_str(a.pos[0]);
      auto used = std::make_shared<bool>(false);
      return Value::callable("joiner", [sep, used](Interp&, CallArgs&) {
        if (!*used) {
          *used = true;
          return Value("");
        }
        return Value(sep);
      });
    });
  return Value();
}

}  // namespace kestrel::jinja
