#pragma once
// The evaluator: runs a parsed template over a context, with jinja2's scoping (loops and macros get
// their own scope, `if` does not), Python's operator semantics and the sandbox's limits.
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "jinja/ast.h"
#include "jinja/jinja.h"
#include "jinja/value.h"

namespace kestrel::jinja {

struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
  const Value* find(const std::string& name) const;
};
using ScopeP = std::shared_ptr<Scope>;

class Interp {
 public:
  Interp(const Limits& limits, std::time_t now);
  ~Interp();  // breaks the reference cycles macros and namespaces can form

  std::string run(const Program& prog, const Value& context);

  // ---- used by filters.cpp / methods.cpp
  Value eval(const Expr& e, const ScopeP& scope);
  Value call(const Value& callee, CallArgs& args);
  Value getattr(const Value& obj, const std::string& name);
  Value getitem(const Value& obj, const Value& key);
  std::vector<Value> iterate(const Value& v);  // for-loop semantics: dict -> keys, str -> characters
  bool contains(const Value& container, const Value& item);
  Value filter(const std::string& name, const Value& v, CallArgs& args);  // filters.cpp
  bool test(const std::string& name, const Value& v, CallArgs& args);      // filters.cpp
  Value method(const Value& obj, const std::string& name);                 // methods.cpp: bound method or undefined
  Value builtin_global(const std::string& name);                           // methods.cpp: range, dict, namespace, ...
  // Limits: every step, every string and list built is charged; exceeding one is an error.
  void step();
  void charge(size_t bytes);
  Value make_string(std::string s);
  Value make_list(std::vector<Value> items, bool tuple = false);
  Value register_namespace(Value ns);
  std::time_t now() const { return now_; }

 private:
  enum class Flow { Normal, Break, Continue };
  Flow exec(const Body& body, const ScopeP& scope, std::string& out);
  Flow exec_stmt(const Stmt& s, const ScopeP& scope, std::string& out);
  void exec_for(const Stmt& s, const ScopeP& scope, std::string& out);
  void assign(const Expr& target, const Value& v, const ScopeP& scope);
  Value make_macro(const Stmt& s, const ScopeP& scope);
  Value call_macro(const Stmt& s, const ScopeP& def_scope, CallArgs& args, const Value* caller);
  CallArgs eval_args(const Expr& e, const ScopeP& scope);
  Value binary(const std::string& op, const Value& a, const Value& b);
  bool compare(const std::string& op, const Value& a, const Value& b);
  Value slice(const Value& obj, const Expr& s, const ScopeP& scope);
  void append_out(std::string& out, const std::string& s);
  ScopeP new_scope(const ScopeP& parent);

  struct DepthGuard {
    DepthGuard(Interp& in, int& counter, int limit, const char* what);
    ~DepthGuard() { --counter_; }
    int& counter_;
  };

  Limits limits_;
  std::time_t now_;
  uint64_t steps_ = 0;
  uint64_t charged_ = 0;
  int depth_ = 0, macro_depth_ = 0;
  ScopeP root_;
  std::vector<ScopeP> captured_;                  // scopes macros/callers hold: cleared at the end
  std::vector<std::shared_ptr<DictData>> namespaces_;
  const Value* filter_input_ = nullptr;           // subject of a filter block's filters
};

std::string int_str(int64_t v);

}  // namespace kestrel::jinja
