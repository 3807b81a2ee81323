#pragma once
// The parser's class, shared by parser.cpp (statements) and parser_expr.cpp (expressions): recursive descent
// over lexer tokens with jinja2's grammar and operator precedence. Internal to jinja/.
#include <initializer_list>
#include <string>
#include <vector>

#include "jinja/ast.h"
#include "jinja/lexer.h"

namespace kestrel::jinja {

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}
  std::unique_ptr<Program> program();

 private:
  using T = Token::Type;
  static constexpr int kMaxNesting = 200;  // expression/statement nesting: a hostile template cannot exhaust the stack

  // ---- token helpers
  const Token& cur() const { return t_[pos_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(pos_ + k, t_.size() - 1)]; }
  void next() {
    if (pos_ + 1 < t_.size()) ++pos_;
  }
  [[noreturn]] void error(const std::string& msg) const { fail("line " + std::to_string(cur().line) + ": " + msg); }
  bool is_op(const char* op) const { return cur().type == T::Op && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == T::Name && cur().text == n; }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool accept_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) error(std::string("expected '") + op + "', got " + describe());
  }
  std::string expect_name() {
    if (cur().type != T::Name) error("expected a name, got " + describe());
    std::string n = cur().text;
    next();
    return n;
  }
  void expect_block_end() {
    if (cur().type != T::BlockEnd) error("expected end of statement block, got " + describe());
    next();
  }
  std::string describe() const {
    switch (cur().type) {
      case T::Eof: return "end of template";
      case T::BlockEnd: return "end of statement block";
      case T::VarEnd: return "end of print statement";
      case T::Name: return "'" + cur().text + "'";
      case T::Op: return "'" + cur().text + "'";
      case T::String: return "string";
      default: return "literal";
    }
  }
  struct Depth {
    explicit Depth(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxNesting) p_.error("template nests deeper than " + std::to_string(kMaxNesting) + " levels");
    }
    ~Depth() { --p_.depth_; }
    Parser& p_;
  };
  ExprP make(Expr::K k) {
    auto e = std::make_unique<Expr>();
    e->k = k;
    e->line = cur().line;
    return e;
  }


  // ---- statements (parser.cpp)
  Body body(std::initializer_list<const char*> ends);
  StmtP new_stmt(Stmt::K k);
  StmtP statement();
  StmtP if_stmt();
  ExprP assign_target(bool allow_ns, std::initializer_list<const char*> ends);
  StmtP for_stmt();
  StmtP set_stmt();
  std::vector<Param> params();
  StmtP macro_stmt();
  StmtP call_stmt();
  StmtP filter_stmt();
  StmtP with_stmt();

  // ---- expressions (parser_expr.cpp)
  ExprP expression(bool with_condexpr);
  bool tuple_end(std::initializer_list<const char*> extra) const;
  ExprP tuple_expr(bool with_condexpr, std::initializer_list<const char*> extra, bool explicit_parens = false);
  ExprP condexpr();
  ExprP binary(Expr::K k, ExprP l, ExprP r, std::string op = {});
  ExprP or_expr();
  ExprP and_expr();
  ExprP not_expr();
  ExprP compare();
  ExprP math1();
  ExprP concat();
  ExprP math2();
  ExprP pow_expr();
  ExprP unary(bool with_filter);
  ExprP primary();
  ExprP postfix(ExprP e);
  ExprP subscript();
  void call_args(Expr& e);
  ExprP call(ExprP callee);
  std::string dotted_name();
  ExprP filter_chain(ExprP subject, bool leading_bar = true);
  ExprP filter_expr(ExprP e);

  std::vector<Token> t_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace kestrel::jinja
