// Expressions of the recursive-descent parser (parser.h), with jinja2's operator precedence:
// condexpr < or < and < not < compare < + - < ~ < * / // % < ** < unary < postfix/filters/tests.
#include "jinja/parser.h"

namespace kestrel::jinja {

ExprP Parser::expression(bool with_condexpr) {
  Depth d(*this);
  return with_condexpr ? condexpr() : or_expr();
}

bool Parser::tuple_end(std::initializer_list<const char*> extra) const {
  if (cur().type == T::VarEnd || cur().type == T::BlockEnd || cur().type == T::Eof || is_op(")")) return true;
  for (const char* e : extra)
    if (is_name(e)) return true;
  return false;
}

ExprP Parser::tuple_expr(bool with_condexpr, std::initializer_list<const char*> extra, bool explicit_parens) {
  auto tup = make(Expr::K::Tuple);
  bool comma = false;
  while (true) {
    if (!tup->items.empty()) {
      expect_op(",");
      comma = true;
    }
    if (tuple_end(extra)) break;
    tup->items.push_back(expression(with_condexpr));
    if (!is_op(",")) break;
  }
  if (!comma && tup->items.size() == 1) return std::move(tup->items[0]);
  if (tup->items.empty() && !explicit_parens) error("expected an expression, got " + describe());
  return tup;
}

ExprP Parser::condexpr() {
  ExprP e = or_expr();
  while (is_name("if")) {
    next();
    auto c = make(Expr::K::CondExpr);
    c->a = or_expr();  // condition
    c->b = std::move(e);
    if (accept_name("else")) c->c = condexpr();
    e = std::move(c);
  }
  return e;
}

ExprP Parser::binary(Expr::K k, ExprP l, ExprP r, std::string op) {
  auto e = make(k);
  e->a = std::move(l);
  e->b = std::move(r);
  e->name = std::move(op);
  return e;
}

ExprP Parser::or_expr() {
  ExprP l = and_expr();
  while (accept_name("or")) l = binary(Expr::K::Or, std::move(l), and_expr());
  return l;
}
ExprP Parser::and_expr() {
  ExprP l = not_expr();
  while (accept_name("and")) l = binary(Expr::K::And, std::move(l), not_expr());
  return l;
}
ExprP Parser::not_expr() {
  if (is_name("not")) {
    Depth d(*this);
    auto e = make(Expr::K::Not);
    next();
    e->a = not_expr();
    return e;
  }
  return compare();
}
ExprP Parser::compare() {
  ExprP l = math1();
  auto cmp = make(Expr::K::Compare);
  while (true) {
    if (cur().type == T::Op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == ">" ||
                                cur().text == "<=" || cur().text == ">=")) {
      cmp->ops.push_back(cur().text);
      next();
    } else if (is_name("in")) {
      cmp->ops.push_back("in");
      next();
    } else if (is_name("not") && peek().type == T::Name && peek().text == "in") {
      cmp->ops.push_back("notin");
      next();
      next();
    } else {
      break;
    }
    cmp->items.push_back(math1());
  }
  if (cmp->ops.empty()) return l;
  cmp->a = std::move(l);
  return cmp;
}
ExprP Parser::math1() {
  ExprP l = concat();
  while (is_op("+") || is_op("-")) {
    std::string op = cur().text;
    next();
    l = binary(Expr::K::Binary, std::move(l), concat(), op);
  }
  return l;
}
ExprP Parser::concat() {
  ExprP l = math2();
  if (!is_op("~")) return l;
  auto c = make(Expr::K::Concat);
  c->items.push_back(std::move(l));
  while (accept_op("~")) c->items.push_back(math2());
  return c;
}
ExprP Parser::math2() {
  ExprP l = pow_expr();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    std::string op = cur().text;
    next();
    l = binary(Expr::K::Binary, std::move(l), pow_expr(), op);
  }
  return l;
}
ExprP Parser::pow_expr() {
  ExprP l = unary(true);
  while (accept_op("**")) l = binary(Expr::K::Binary, std::move(l), unary(true), "**");
  return l;
}
ExprP Parser::unary(bool with_filter) {
  Depth d(*this);
  ExprP e;
  if (is_op("-") || is_op("+")) {
    e = make(is_op("-") ? Expr::K::Neg : Expr::K::Pos);
    next();
    e->a = unary(false);
  } else {
    e = primary();
  }
  e = postfix(std::move(e));
  if (with_filter) e = filter_expr(std::move(e));
  return e;
}

ExprP Parser::primary() {
  const Token& t = cur();
  if (t.type == T::Name) {
    auto e = make(Expr::K::Literal);
    if (t.text == "true" || t.text == "True") e->literal = Value(true);
    else if (t.text == "false" || t.text == "False") e->literal = Value(false);
    else if (t.text == "none" || t.text == "None") e->literal = Value::none();
    else {
      e->k = Expr::K::Name;
      e->name = t.text;
    }
    next();
    return e;
  }
  if (t.type == T::String) {
    auto e = make(Expr::K::Literal);
    std::string s;
    while (cur().type == T::String) {  // adjacent literals concatenate
      s += cur().text;
      next();
    }
    e->literal = Value(std::move(s));
    return e;
  }
  if (t.type == T::Int || t.type == T::Float) {
    auto e = make(Expr::K::Literal);
    e->literal = t.type == T::Int ? Value(t.i) : Value(t.f);
    next();
    return e;
  }
  if (is_op("(")) {
    next();
    ExprP e = tuple_expr(true, {}, true);
    expect_op(")");
    return e;
  }
  if (is_op("[")) {
    auto e = make(Expr::K::List);
    next();
    while (!is_op("]")) {
      if (!e->items.empty()) expect_op(",");
      if (is_op("]")) break;
      e->items.push_back(expression(true));
    }
    next();
    return e;
  }
  if (is_op("{")) {
    auto e = make(Expr::K::Dict);
    next();
    while (!is_op("}")) {
      if (!e->items.empty()) expect_op(",");
      if (is_op("}")) break;
      e->items.push_back(expression(true));
      expect_op(":");
      e->items.push_back(expression(true));
    }
    next();
    return e;
  }
  error("unexpected " + describe());
}

ExprP Parser::postfix(ExprP e) {
  while (true) {
    if (is_op(".")) {
      next();
      if (cur().type == T::Int) {
        auto g = make(Expr::K::GetItem);
        auto lit = make(Expr::K::Literal);
        lit->literal = Value(cur().i);
        next();
        g->a = std::move(e);
        g->b = std::move(lit);
        e = std::move(g);
      } else {
        auto g = make(Expr::K::GetAttr);
        g->name = expect_name();
        g->a = std::move(e);
        e = std::move(g);
      }
    } else if (is_op("[")) {
      next();
      auto g = make(Expr::K::GetItem);
      g->a = std::move(e);
      g->b = subscript();
      expect_op("]");
      e = std::move(g);
    } else if (is_op("(")) {
      e = call(std::move(e));
    } else {
      return e;
    }
  }
}

ExprP Parser::subscript() {
  auto slice_part = [&]() -> ExprP {
    if (is_op(":") || is_op("]") || is_op(",")) return nullptr;
    return expression(true);
  };
  ExprP start = slice_part();
  if (!is_op(":")) {
    if (!start) error("expected a subscript");
    return start;
  }
  auto s = make(Expr::K::Slice);
  next();
  s->a = std::move(start);
  s->b = slice_part();
  if (accept_op(":")) s->c = slice_part();
  return s;
}

void Parser::call_args(Expr& e) {
  expect_op("(");
  bool first = true;
  while (!is_op(")")) {
    if (!first) expect_op(",");
    first = false;
    if (is_op(")")) break;
    if (accept_op("*")) {
      e.star_args = expression(true);
    } else if (accept_op("**")) {
      e.star_kwargs = expression(true);
    } else if (cur().type == T::Name && peek().type == T::Op && peek().text == "=") {
      std::string k = cur().text;
      next();
      next();
      e.kwargs.emplace_back(k, expression(true));
    } else {
      if (!e.kwargs.empty()) error("positional argument follows keyword argument");
      e.items.push_back(expression(true));
    }
  }
  next();
}

ExprP Parser::call(ExprP callee) {
  auto c = make(Expr::K::Call);
  c->a = std::move(callee);
  call_args(*c);
  return c;
}

std::string Parser::dotted_name() {
  std::string n = expect_name();
  while (is_op(".")) {
    next();
    n += "." + expect_name();
  }
  return n;
}

// `| name(args) | name ...` applied to subject (null: the body of a filter block / set block).
ExprP Parser::filter_chain(ExprP subject, bool leading_bar) {
  bool first = true;
  while ((first && !leading_bar) || is_op("|")) {
    if (!(first && !leading_bar)) next();
    first = false;
    auto f = make(Expr::K::Filter);
    f->name = dotted_name();
    if (is_op("(")) call_args(*f);
    f->a = std::move(subject);
    subject = std::move(f);
  }
  return subject;
}

ExprP Parser::filter_expr(ExprP e) {
  while (true) {
    if (is_op("|")) {
      e = filter_chain(std::move(e));
    } else if (is_name("is")) {
      next();
      auto t = make(Expr::K::Test);
      if (accept_name("not")) t->negated = true;
      t->name = dotted_name();
      if (is_op("(")) {
        call_args(*t);
      } else if ((cur().type == T::Name || cur().type == T::String || cur().type == T::Int ||
                  cur().type == T::Float || is_op("[") || is_op("{")) &&
                 !is_name("else") && !is_name("or") && !is_name("and")) {
        if (is_name("is")) error("you cannot chain multiple tests with 'is'");
        Depth d(*this);
        t->items.push_back(postfix(primary()));
      }
      t->a = std::move(e);
      e = std::move(t);
    } else if (is_op("(")) {
      e = call(std::move(e));
    } else {
      return e;
    }
  }
}

}  // namespace kestrel::jinja
