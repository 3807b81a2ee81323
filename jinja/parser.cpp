// Recursive-descent parser with jinja2's grammar and operator precedence (see ast.h).
#include <functional>
#include <initializer_list>

#include "jinja/ast.h"
#include "jinja/lexer.h"

namespace kestrel::jinja {
namespace {

constexpr int kMaxNesting = 200;  // expression/statement nesting: a hostile template cannot exhaust the stack

using T = Token::Type;

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  std::unique_ptr<Program> program() {
    auto p = std::make_unique<Program>();
    p->body = body({});
    if (cur().type != T::Eof) error("unexpected tag");
    return p;
  }

 private:
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

  // ---- statements
  // Parses until a block tag whose name is one of `ends` (left unconsumed) or the end of the template.
  Body body(std::initializer_list<const char*> ends) {
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

  StmtP new_stmt(Stmt::K k) {
    auto s = std::make_unique<Stmt>();
    s->k = k;
    s->line = cur().line;
    return s;
  }

  StmtP statement() {
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

  StmtP if_stmt() {
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
  ExprP assign_target(bool allow_ns, std::initializer_list<const char*> ends) {
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

  StmtP for_stmt() {
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

  StmtP set_stmt() {
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

  std::vector<Param> params() {
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

  StmtP macro_stmt() {
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

  StmtP call_stmt() {
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

  StmtP filter_stmt() {
    auto s = new_stmt(Stmt::K::FilterBlock);
    next();
    s->expr = filter_chain(nullptr, /*leading_bar=*/false);
    expect_block_end();
    s->body = body({"endfilter"});
    next();
    expect_block_end();
    return s;
  }

  StmtP with_stmt() {
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

  // ---- expressions
  ExprP expression(bool with_condexpr) {
    Depth d(*this);
    return with_condexpr ? condexpr() : or_expr();
  }

  bool tuple_end(std::initializer_list<const char*> extra) const {
    if (cur().type == T::VarEnd || cur().type == T::BlockEnd || cur().type == T::Eof || is_op(")")) return true;
    for (const char* e : extra)
      if (is_name(e)) return true;
    return false;
  }

  ExprP tuple_expr(bool with_condexpr, std::initializer_list<const char*> extra, bool explicit_parens = false) {
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

  ExprP condexpr() {
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

  ExprP binary(Expr::K k, ExprP l, ExprP r, std::string op = {}) {
    auto e = make(k);
    e->a = std::move(l);
    e->b = std::move(r);
    e->name = std::move(op);
    return e;
  }

  ExprP or_expr() {
    ExprP l = and_expr();
    while (accept_name("or")) l = binary(Expr::K::Or, std::move(l), and_expr());
    return l;
  }
  ExprP and_expr() {
    ExprP l = not_expr();
    while (accept_name("and")) l = binary(Expr::K::And, std::move(l), not_expr());
    return l;
  }
  ExprP not_expr() {
    if (is_name("not")) {
      Depth d(*this);
      auto e = make(Expr::K::Not);
      next();
      e->a = not_expr();
      return e;
    }
    return compare();
  }
  ExprP compare() {
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
  ExprP math1() {
    ExprP l = concat();
    while (is_op("+") || is_op("-")) {
      std::string op = cur().text;
      next();
      l = binary(Expr::K::Binary, std::move(l), concat(), op);
    }
    return l;
  }
  ExprP concat() {
    ExprP l = math2();
    if (!is_op("~")) return l;
    auto c = make(Expr::K::Concat);
    c->items.push_back(std::move(l));
    while (accept_op("~")) c->items.push_back(math2());
    return c;
  }
  ExprP math2() {
    ExprP l = pow_expr();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = cur().text;
      next();
      l = binary(Expr::K::Binary, std::move(l), pow_expr(), op);
    }
    return l;
  }
  ExprP pow_expr() {
    ExprP l = unary(true);
    while (accept_op("**")) l = binary(Expr::K::Binary, std::move(l), unary(true), "**");
    return l;
  }
  ExprP unary(bool with_filter) {
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

  ExprP primary() {
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

  ExprP postfix(ExprP e) {
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

  ExprP subscript() {
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

  void call_args(Expr& e) {
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

  ExprP call(ExprP callee) {
    auto c = make(Expr::K::Call);
    c->a = std::move(callee);
    call_args(*c);
    return c;
  }

  std::string dotted_name() {
    std::string n = expect_name();
    while (is_op(".")) {
      next();
      n += "." + expect_name();
    }
    return n;
  }

  // `| name(args) | name ...` applied to subject (null: the body of a filter block / set block).
  ExprP filter_chain(ExprP subject, bool leading_bar = true) {
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

  ExprP filter_expr(ExprP e) {
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

  std::vector<Token> t_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

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
