#pragma once
// The parsed template: expression and statement trees (parser.cpp builds them, interp*.cpp runs them).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jinja/value.h"

namespace kestrel::jinja {

struct Expr;
using ExprP = std::unique_ptr<Expr>;

struct Expr {
  enum class K {
    Literal, Name, List, Tuple, Dict, GetAttr, GetItem, Slice, Call, Filter, Test,
    Neg, Pos, Not, Binary, Compare, And, Or, CondExpr, Concat
  };
  K k;
  int line = 0;
  Value literal;                                       // Literal
  std::string name;                                    // Name, GetAttr, Filter, Test; Binary: operator
  ExprP a, b, c;                                       // operands (Call: a = callee; Filter/Test: a = subject)
  std::vector<ExprP> items;                            // List/Tuple/Dict (k, v, k, v...)/Call positional/Concat
  std::vector<std::pair<std::string, ExprP>> kwargs;   // Call/Filter/Test keyword arguments
  ExprP star_args, star_kwargs;                        // *args, **kwargs
  std::vector<std::string> ops;                        // Compare: operators, items = right-hand sides
  bool negated = false;                                // Test: `is not`
};

struct Stmt;
using StmtP = std::unique_ptr<Stmt>;
using Body = std::vector<StmtP>;

struct Param {
  std::string name;
  ExprP dflt;  // null: required
};

struct Stmt {
  enum class K { Text, Output, If, For, Set, SetBlock, Macro, CallBlock, FilterBlock, Break, Continue, With, Generation };
  K k;
  int line = 0;
  std::string text;                          // Text; Macro name
  ExprP expr;                                // Output, Set value, For iterable, CallBlock call, filters
  ExprP target;                              // Set/SetBlock/For target (Name, Tuple of Names, ns.attr)
  std::vector<std::pair<ExprP, Body>> branches;  // If: (condition, body)...; condition null for else
  Body body, else_body;
  ExprP cond;                                // For ... if cond
  bool recursive = false;                    // For ... recursive
  std::vector<Param> params;                 // Macro / CallBlock caller parameters
  std::vector<std::pair<ExprP, ExprP>> assigns;  // With
};

struct Program {
  Body body;
};

// Parses a template; throws Error with "line N: ..." on a syntax error or an unknown filter/test outside
// an `if` (jinja2 rejects those when compiling).
std::unique_ptr<Program> parse(const std::string& source);

// Filters and tests the engine knows (filters.cpp), for the parser's compile-time check.
bool known_filter(const std::string& name);
bool known_test(const std::string& name);

}  // namespace kestrel::jinja
