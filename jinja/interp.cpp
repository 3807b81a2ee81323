// Statements, scopes, macros and loops; the limits every render runs under.
#include "jinja/interp.h"

#include "jinja/pystr.h"

namespace kestrel::jinja {

std::string int_str(int64_t v) { return std::to_string(v); }

const Value* Scope::find(const std::string& name) const {
  for (const Scope* s = this; s; s = s->parent.get()) {
    auto it = s->vars.find(name);
    if (it != s->vars.end()) return &it->second;
  }
  return nullptr;
}

Interp::Interp(const Limits& limits, std::time_t now) : limits_(limits), now_(now) {}

Interp::~Interp() {
  // Macros capture the scope they were defined in, and that scope holds the macro; namespaces can hold
  // themselves. Clearing these containers frees everything without recursion through long chains.
  for (auto& s : captured_) s->vars.clear();
  for (auto& n : namespaces_) n->items.clear();
  if (root_) root_->vars.clear();
}

Interp::DepthGuard::DepthGuard(Interp& in, int& counter, int limit, const char* what) : counter_(counter) {
  if (++counter_ > limit) {
    --counter_;
    fail(std::string("template ") + what + " deeper than " + std::to_string(limit) + " levels");
  }
  (void)in;
}

void Interp::step() {
  if (++steps_ > limits_.max_steps)
    fail("template exceeded " + std::to_string(limits_.max_steps) + " evaluation steps (endless loop?)");
}

void Interp::charge(size_t bytes) {
  charged_ += bytes;
  if (charged_ > limits_.max_bytes)
    fail("template built more than " + std::to_string(limits_.max_bytes >> 20) + " MiB of strings and lists");
}

Value Interp::make_string(std::string s) {
  charge(s.size());
  return Value(std::move(s));
}

Value Interp::make_list(std::vector<Value> items, bool tuple) {
  charge(items.size() * sizeof(Value));
  return Value::list(std::move(items), tuple);
}

Value Interp::register_namespace(Value ns) {
  namespaces_.push_back(ns.dict_ptr());
  return ns;
}

ScopeP Interp::new_scope(const ScopeP& parent) {
  auto s = std::make_shared<Scope>();
  s->parent = parent;
  return s;
}

void Interp::append_out(std::string& out, const std::string& s) {
  charge(s.size());
  out += s;
}

std::string Interp::run(const Program& prog, const Value& context) {
  root_ = new_scope(nullptr);
  for (const auto& [k, v] : context.dict_data().items)
    if (k.is_string()) root_->vars[k.str()] = v;
  std::string out;
  exec(prog.body, root_, out);
  return out;
}

Interp::Flow Interp::exec(const Body& body, const ScopeP& scope, std::string& out) {
  DepthGuard g(*this, depth_, limits_.max_depth, "nests");
  for (const auto& s : body) {
    Flow f = exec_stmt(*s, scope, out);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

void Interp::assign(const Expr& target, const Value& v, const ScopeP& scope) {
  if (target.k == Expr::K::Name) {
    scope->vars[target.name] = v;
    return;
  }
  if (target.k == Expr::K::GetAttr) {
    Value ns = eval(*target.a, scope);
    if (!ns.is_namespace()) fail("cannot assign attribute on non-namespace object");
    ns.mutable_dict().set(Value(target.name), v);
    return;
  }
  // Tuple unpacking.
  std::vector<Value> items = iterate(v);
  if (items.size() != target.items.size())
    fail(items.size() < target.items.size()
             ? "not enough values to unpack (expected " + std::to_string(target.items.size()) + ", got " +
                   std::to_string(items.size()) + ")"
             : "too many values to unpack (expected " + std::to_string(target.items.size()) + ")");
  for (size_t i = 0; i < items.size(); ++i) assign(*target.items[i], items[i], scope);
}

Interp::Flow Interp::exec_stmt(const Stmt& s, const ScopeP& scope, std::string& out) {
  step();
  switch (s.k) {
    case Stmt::K::Text: append_out(out, s.text); return Flow::Normal;
    case Stmt::K::Output: {
      Value v = eval(*s.expr, scope);
      if (v.is_string()) append_out(out, v.str());
      else append_out(out, py_str(v));
      return Flow::Normal;
    }
    case Stmt::K::If:
      for (const auto& [cond, body] : s.branches)
        if (!cond || eval(*cond, scope).truthy()) return exec(body, scope, out);
      return Flow::Normal;
    case Stmt::K::For: exec_for(s, scope, out); return Flow::Normal;
    case Stmt::K::Set: assign(*s.target, eval(*s.expr, scope), scope); return Flow::Normal;
    case Stmt::K::SetBlock: {
      std::string buf;
      exec(s.body, new_scope(scope), buf);
      Value v = make_string(std::move(buf));
      if (s.expr) {
        const Value* saved = filter_input_;
        filter_input_ = &v;
        Value r = eval(*s.expr, scope);
        filter_input_ = saved;
        v = r;
      }
      assign(*s.target, v, scope);
      return Flow::Normal;
    }
    case Stmt::K::Macro: scope->vars[s.text] = make_macro(s, scope); return Flow::Normal;
    case Stmt::K::CallBlock: {
      // caller() renders the block's body in the scope of the call site.
      captured_.push_back(scope);
      const Stmt* sp = &s;
      ScopeP call_scope = scope;
      Value caller = Value::callable(
          "caller", [this, sp, call_scope](Interp&, CallArgs& args) { return call_macro(*sp, call_scope, args, nullptr); },
          true);
      const Expr& call = *s.expr;
      Value callee = eval(*call.a, scope);
      CallArgs args = eval_args(call, scope);
      if (callee.is_callable() && callee.fn().is_macro) args.kw.emplace_back("caller", caller);
      else fail("'call' block needs a macro");
      Value r = this->call(callee, args);
      append_out(out, py_str(r));
      return Flow::Normal;
    }
    case Stmt::K::FilterBlock: {
      std::string buf;
      exec(s.body, new_scope(scope), buf);
      Value v = make_string(std::move(buf));
      const Value* saved = filter_input_;
      filter_input_ = &v;
      Value r = eval(*s.expr, scope);
      filter_input_ = saved;
      append_out(out, py_str(r));
      return Flow::Normal;
    }
    case Stmt::K::With: {
      ScopeP inner = new_scope(scope);
      for (const auto& [t, v] : s.assigns) assign(*t, eval(*v, scope), inner);
      return exec(s.body, inner, out);
    }
    case Stmt::K::Generation: return exec(s.body, scope, out);
    case Stmt::K::Break: return Flow::Break;
    case Stmt::K::Continue: return Flow::Continue;
  }
  return Flow::Normal;
}

void Interp::exec_for(const Stmt& s, const ScopeP& scope, std::string& out) {
  Value iterable = eval(*s.expr, scope);
  std::vector<Value> all = iterate(iterable);
  if (s.cond) {  // `for x in xs if cond`: filtered first, so loop.length counts what is left
    std::vector<Value> kept;
    for (const Value& v : all) {
      ScopeP probe = new_scope(scope);
      assign(*s.target, v, probe);
      if (eval(*s.cond, probe).truthy()) kept.push_back(v);
    }
    all.swap(kept);
  }
  if (all.empty()) {
    exec(s.else_body, scope, out);
    return;
  }
  const int64_t n = static_cast<int64_t>(all.size());
  // The loop object: one namespace per loop whose fields are updated in place each iteration (keys are
  // built once), and loop.cycle reading the current index.
  static const Value kKeys[] = {Value("index"), Value("index0"), Value("revindex"), Value("revindex0"), Value("first"),
                                Value("last"), Value("length"), Value("depth"), Value("depth0"), Value("cycle"),
                                Value("previtem"), Value("nextitem")};
  auto index = std::make_shared<int64_t>(0);
  Value cycle = Value::callable("cycle", [index](Interp&, CallArgs& a) {
    if (a.pos.empty()) fail("no items for cycling given");
    return a.pos[static_cast<size_t>(*index) % a.pos.size()];
  });
  for (int64_t i = 0; i < n; ++i) {
    *index = i;
    ScopeP it = new_scope(scope);
    Value loop = Value::namespace_();
    auto& f = loop.mutable_dict().items;
    f.reserve(12);
    const Value vals[] = {Value(i + 1), Value(i),          Value(n - i), Value(n - i - 1), Value(i == 0),
                          Value(i == n - 1), Value(n),     Value(1),     Value(0),         cycle};
    for (size_t k = 0; k < 10; ++k) f.emplace_back(kKeys[k], vals[k]);
    if (i > 0) f.emplace_back(kKeys[10], all[i - 1]);
    if (i + 1 < n) f.emplace_back(kKeys[11], all[i + 1]);
    it->vars.emplace("loop", std::move(loop));
    assign(*s.target, all[i], it);
    Flow fl = exec(s.body, it, out);
    if (fl == Flow::Break) break;
  }
}

Value Interp::make_macro(const Stmt& s, const ScopeP& scope) {
  captured_.push_back(scope);
  const Stmt* sp = &s;
  ScopeP def = scope;
  return Value::callable(
      s.text, [this, sp, def](Interp&, CallArgs& args) { return call_macro(*sp, def, args, nullptr); }, true);
}

Value Interp::call_macro(const Stmt& s, const ScopeP& def_scope, CallArgs& args, const Value*) {
  DepthGuard g(*this, macro_depth_, limits_.max_macro_depth, "macro recursion goes");
  ScopeP sc = new_scope(def_scope);
  const std::string mname = s.k == Stmt::K::Macro ? s.text : "caller";
  std::vector<bool> bound(s.params.size(), false);
  std::vector<Value> varargs;
  for (size_t i = 0; i < args.pos.size(); ++i) {
    if (i < s.params.size()) {
      sc->vars[s.params[i].name] = args.pos[i];
      bound[i] = true;
    } else {
      varargs.push_back(args.pos[i]);
    }
  }
  std::vector<std::pair<Value, Value>> kwargs;
  for (auto& [k, v] : args.kw) {
    bool found = false;
    for (size_t i = 0; i < s.params.size(); ++i)
      if (s.params[i].name == k) {
        if (bound[i]) fail("macro '" + mname + "' got multiple values for argument '" + k + "'");
        sc->vars[k] = v;
        bound[i] = true;
        found = true;
      }
    if (found) continue;
    if (k == "caller") sc->vars["caller"] = v;
    else kwargs.emplace_back(Value(k), v);
  }
  for (size_t i = 0; i < s.params.size(); ++i)
    if (!bound[i]) {
      if (s.params[i].dflt) sc->vars[s.params[i].name] = eval(*s.params[i].dflt, sc);
      else sc->vars[s.params[i].name] = Value::undefined("parameter '" + s.params[i].name + "' was not provided");
    }
  sc->vars["varargs"] = make_list(std::move(varargs), true);
  sc->vars["kwargs"] = Value::dict(std::move(kwargs));
  std::string buf;
  exec(s.body, sc, buf);
  return Value(std::move(buf));
}

}  // namespace kestrel::jinja
