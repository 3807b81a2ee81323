// Statements of the recursive-descent parser (parser.h), the compile-time filter/test check, parse().
#include <functional>
#include <initializer_list>

#include "jinja/parser.h"

namespace kestrel::jinja {

std::unique_ptr<Program> Parser::program() {
  auto p = std::make_unique<Program>();
  p->body = body({});
  if (cur().type != T::Eof) error("unexpected tag");
  return p;
}

// Parses until a block tag whose name is one of `ends` (left unconsumed) or the end of the template.
Body Parser::body(std::initializer_list<const char*> ends) {
  Depth d(*this);
  Body out;
  while (true) {
    if (cur().type == T::Eof) {
      if (ends.size() == 0) return out;
      std::string want;
      for (const char* e : ends) want += (want.empty() ? "" : " or ") + std::string("'") + e + "'";
      error("unexpected end of template, expected " + want);
    }
    if (cur().type == T::Text) {
      auto s = std::make_unique<Stmt>();
      s->k = Stmt::K::Text;
      s->line = cur().line;
      s->text = cur().text;
      out.push_back(std::move(s));
      next();
    } else if (cur().type == T::VarBegin) {
      auto s = std::make_unique<Stmt>();
      s->k = Stmt::K::Output;
      s->line = cur().line;
      next();
      s->expr = tuple_expr(true, {});
      if (cur().type != T::VarEnd) error("expected end of print statement, got " + describe());
      next();
      out.push_back(std::move(s));
    } else if (cur().type == T::BlockBegin) {
      const Token& name = peek();
      if (name.type == T::Name)
        for (const char* e : ends)
          if (name.text == e) {
            next();  // onto the name; the caller consumes it
            return out;
          }
      next();
      out.push_back(statement());
    } else {
      error("unexpected " + describe());
    }
  }
}

StmtP Parser::new_stmt(Stmt::K k) {
  auto s = std::make_unique<Stmt>();
  s->k = k;
  s->line = cur().line;
  return s;
}

StmtP Parser::statement() {
  if (cur().type != T::Name) error("tag name expected");
  const std::string tag = cur().text;
  if (tag == "if") return if_stmt();
  if (tag == "for") return for_stmt();
  if (tag == "set") return set_stmt();
  if (tag == "macro") return macro_stmt();
  if (tag == "call") return call_stmt();
  if (tag == "filter") return filter_stmt();
  if (tag == "with") return with_stmt();
  if (tag == "generation") {
    auto s = new_stmt(Stmt::K::Generation);
    next();
    expect_block_end();
    s->body = body({"endgeneration"});
    next();
    expect_block_end();
    return s;
  }
  if (tag == "break" || tag == "continue") {
    if (loop_depth_ == 0) error("'" + tag + "' outside of a loop");
    auto s = new_stmt(tag == "break" ? Stmt::K::Break : Stmt::K::Continue);
    next();
    expect_block_end();
    return s;
  }
  error("encountered unknown tag '" + tag + "'");
}

StmtP Parser::if_stmt() {
  auto s = new_stmt(Stmt::K::If);
  next();
  ExprP cond = expression(true);
  expect_block_end();
  while (true) {
    Body b = body({"elif", "else", "endif"});
    s->branches.emplace_back(std::move(cond), std::move(b));
    const std::string which = cur().text;
    next();
    if (which == "elif") {
      cond = expression(true);
      expect_block_end();
      continue;
    }
    if (which == "else") {
      expect_block_end();
      Body e = body({"endif"});
      s->branches.emplace_back(nullptr, std::move(e));
      next();
    }
    expect_block_end();
    return s;
  }
}

// Assignment targets: a name, names separated by commas, or (for set) namespace.attr.
ExprP Parser::assign_target(bool allow_ns, std::initializer_list<const char*> ends) {
  auto one = [&]() {
    auto n = make(Expr::K::Name);
    n->name = expect_name();
    if (allow_ns && is_op(".")) {
      next();
      auto g = make(Expr::K::GetAttr);
      g->name = expect_name();
      g->a = std::move(n);
      return g;
    }
    return n;
  };
  bool paren = accept_op("(");
  ExprP first = one();
  if (!is_op(",")) {
    if (paren) expect_op(")");
    return first;
  }
  auto tup = make(Expr::K::Tuple);
  tup->items.push_back(std::move(first));
  while (accept_op(",")) {
    bool end = paren ? is_op(")") : (is_op("=") || cur().type == T::BlockEnd);
    for (const char* e : ends) end = end || is_name(e);
    if (end) break;
    tup->items.push_back(one());
  }
  if (paren) expect_op(")");
  for (auto& it : tup->items)
    if (it->k != Expr::K::Name) error("cannot unpack into a namespace attribute");
  return tup;
}

StmtP Parser::for_stmt() {
  auto s = new_stmt(Stmt::K::For);
  next();
  s->target = assign_target(false, {"in"});
  if (!accept_name("in")) error("expected 'in', got " + describe());
  s->expr = tuple_expr(false, {"recursive"});
  if (accept_name("if")) s->cond = expression(true);
  if (accept_name("recursive")) s->recursive = true;
  expect_block_end();
  ++loop_depth_;
  s->body = body({"endfor", "else"});
  --loop_depth_;
  if (cur().text == "else") {
    next();
    expect_block_end();
    s->else_body = body({"endfor"});
  }
  next();
  expect_block_end();
  return s;
}

StmtP Parser::set_stmt() {
  auto s = new_stmt(Stmt::K::Set);
  next();
  s->target = assign_target(true, {});
  if (accept_op("=")) {
    s->expr = tuple_expr(true, {});
    expect_block_end();
    return s;
  }
  if (s->target->k != Expr::K::Name) error("a block set assigns to a single name");
  s->k = Stmt::K::SetBlock;
  if (is_op("|")) s->expr = filter_chain(nullptr);
  expect_block_end();
  s->body = body({"endset"});
  next();
  expect_block_end();
  return s;
}

std::vector<Param> Parser::params() {
  std::vector<Param> ps;
  expect_op("(");
  while (!is_op(")")) {
    if (!ps.empty()) expect_op(",");
    if (is_op(")")) break;
    Param p;
    p.name = expect_name();
    if (accept_op("=")) p.dflt = expression(true);
    else if (!ps.empty() && ps.back().dflt) error("non-default argument follows default argument");
    ps.push_back(std::move(p));
  }
  next();
  return ps;
}

StmtP Parser::macro_stmt() {
  auto s = new_stmt(Stmt::K::Macro);
  next();
  s->text = expect_name();
  s->params = params();
  expect_block_end();
  const int saved = loop_depth_;
  loop_depth_ = 0;
  s->body = body({"endmacro"});
  loop_depth_ = saved;
  next();
  if (cur().type == T::Name && cur().text == s->text) next();
  expect_block_end();
  return s;
}

StmtP Parser::call_stmt() {
  auto s = new_stmt(Stmt::K::CallBlock);
  next();
  if (is_op("(")) s->params = params();
  s->expr = expression(true);
  if (s->expr->k != Expr::K::Call) error("expected a call after 'call'");
  expect_block_end();
  s->body = body({"endcall"});
  next();
  expect_block_end();
  return s;
}

StmtP Parser::filter_stmt() {
  auto s = new_stmt(Stmt::K::FilterBlock);
  next();
  s->expr = filter_chain(nullptr, /*leading_bar=*/false);
  expect_block_end();
  s->body = body({"endfilter"});
  next();
  expect_block_end();
  return s;
}

StmtP Parser::with_stmt() {
  auto s = new_stmt(Stmt::K::With);
  next();
  while (cur().type != T::BlockEnd) {
    if (!s->assigns.empty()) expect_op(",");
    ExprP target = assign_target(false, {});
    expect_op("=");
    s->assigns.emplace_back(std::move(target), expression(true));
  }
  expect_block_end();
  s->body = body({"endwith"});
  next();
  expect_block_end();
  return s;
}

namespace {

// jinja2 rejects an unknown filter or test when compiling, unless it sits directly in an `if` (test or
// body) or inside an inline if: there it fails only when evaluated.
void check_expr(const Expr* e, bool soft) {
  if (!e) return;
  if (e->k == Expr::K::CondExpr) soft = true;
  if (e->k == Expr::K::Filter && !soft && !known_filter(e->name))
    fail("line " + std::to_string(e->line) + ": no filter named '" + e->name + "'");
  if (e->k == Expr::K::Test && !soft && !known_test(e->name))
    fail("line " + std::to_string(e->line) + ": no test named '" + e->name + "'");
  check_expr(e->a.get(), soft);
  check_expr(e->b.get(), soft);
  check_expr(e->c.get(), soft);
  for (const auto& x : e->items) check_expr(x.get(), soft);
  for (const auto& [k, x] : e->kwargs) check_expr(x.get(), soft);
  check_expr(e->star_args.get(), soft);
  check_expr(e->star_kwargs.get(), soft);
}

void check_body(const Body& body, bool soft) {
  for (const auto& s : body) {
    switch (s->k) {
      case Stmt::K::If:
        for (const auto& [c, b] : s->branches) {
          check_expr(c.get(), true);
          check_body(b, true);
        }
        break;
      case Stmt::K::For:
        check_expr(s->expr.get(), soft);
        check_expr(s->cond.get(), false);
        check_body(s->body, false);
        check_body(s->else_body, false);
        break;
      case Stmt::K::Macro:
        for (const auto& p : s->params) check_expr(p.dflt.get(), false);
        check_body(s->body, false);
        break;
      case Stmt::K::CallBlock:
        check_expr(s->expr.get(), soft);
        check_body(s->body, false);
        break;
      case Stmt::K::SetBlock:
      case Stmt::K::FilterBlock:
        check_expr(s->expr.get(), soft);
        check_body(s->body, false);
        break;
      case Stmt::K::With:
        for (const auto& [t, v] : s->assigns) check_expr(v.get(), soft);
        check_body(s->body, false);
        break;
      case Stmt::K::Generation: check_body(s->body, soft); break;
      default: check_expr(s->expr.get(), soft);
    }
  }
}

}  // namespace

std::unique_ptr<Program> parse(const std::string& source) {
  auto p = Parser(lex(source)).program();
  check_body(p->body, false);
  return p;
}

}  // namespace kestrel::jinja
