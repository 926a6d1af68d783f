#include "playbook/condition.hpp"

#include <charconv>
#include <exception>

#include "util/escape.hpp"
#include "util/strings.hpp"

namespace ir::playbook {

namespace {

// Conditions are one-liners; the limits keep a hostile playbook from exhausting the stack.
constexpr std::size_t k_max_condition_bytes = 4096;
constexpr int k_max_nesting = 64;

enum class TokenKind { end, open, close, compare, and_, or_, not_, literal, reference };

struct Token {
  TokenKind kind = TokenKind::end;
  std::size_t offset = 0;
  std::string text;      // as written, for messages
  nlohmann::json value;  // literal
  Reference reference;   // reference
};

bool is_identifier_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

class Lexer {
 public:
  Lexer(std::string_view expr, std::size_t begin, std::size_t end) : m_s(expr), m_pos(begin), m_end(end) {}

  // Tokens up to and including an `end` token; Errc::invalid with m_error_offset set otherwise.
  Result<std::vector<Token>> run() {
    std::vector<Token> tokens;
    for (;;) {
      while (m_pos < m_end && (m_s[m_pos] == ' ' || m_s[m_pos] == '\t' || m_s[m_pos] == '\n' || m_s[m_pos] == '\r')) {
        ++m_pos;
      }
      if (m_pos >= m_end) {
        tokens.push_back(Token{TokenKind::end, m_end, "", {}, {}});
        return tokens;
      }
      IR_TRY(token, next());
      tokens.push_back(std::move(token));
    }
  }
  [[nodiscard]] std::size_t error_offset() const { return m_error_offset; }

 private:
  Unexpected error(std::size_t at, std::string message) {
    m_error_offset = at;
    return fail(Errc::invalid, std::move(message));
  }

  [[nodiscard]] std::string_view rest() const { return m_s.substr(m_pos, m_end - m_pos); }

  Result<Token> next() {
    const std::size_t start = m_pos;
    const char c = m_s[m_pos];
    const std::string_view r = rest();
    if (r.substr(0, 2) == "{{" || r.substr(0, 2) == "}}") {
      return error(start, "templates are not used inside a condition: write references bare (steps.x.count > 0)");
    }
    if (c == '(' || c == ')') {
      ++m_pos;
      return Token{c == '(' ? TokenKind::open : TokenKind::close, start, std::string(1, c), {}, {}};
    }
    for (const std::string_view op : {"==", "!=", ">=", "<=", ">", "<"}) {
      if (r.substr(0, op.size()) == op) {
        m_pos += op.size();
        return Token{TokenKind::compare, start, std::string(op), {}, {}};
      }
    }
    if (r.substr(0, 2) == "&&") return error(start, "unexpected \"&&\" (use \"and\")");
    if (r.substr(0, 2) == "||") return error(start, "unexpected \"||\" (use \"or\")");
    if (c == '=') return error(start, "unexpected \"=\" (use \"==\")");
    if (c == '!') return error(start, "unexpected \"!\" (use \"not\")");
    if (c == '"' || c == '\'') return string_literal();
    if (is_digit(c) || (c == '-' && r.size() > 1 && is_digit(r[1]))) return number();
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return word();
    return error(start, "unexpected " + util::quoted(r.substr(0, 1), util::Cap::word));
  }

  Result<Token> string_literal() {
    const std::size_t start = m_pos;
    const char quote = m_s[m_pos++];
    std::string value;
    while (m_pos < m_end && m_s[m_pos] != quote) {
      if (m_s[m_pos] == '\\' && m_pos + 1 < m_end) ++m_pos;
      value += m_s[m_pos++];
    }
    if (m_pos >= m_end) return error(start, "unterminated string");
    ++m_pos;
    return Token{TokenKind::literal, start, std::string(m_s.substr(start, m_pos - start)), nlohmann::json(value), {}};
  }

  Result<Token> number() {
    const std::size_t start = m_pos;
    if (m_s[m_pos] == '-') ++m_pos;
    while (m_pos < m_end && is_digit(m_s[m_pos])) ++m_pos;
    bool fraction = false;
    if (m_pos + 1 < m_end && m_s[m_pos] == '.' && is_digit(m_s[m_pos + 1])) {
      fraction = true;
      ++m_pos;
      while (m_pos < m_end && is_digit(m_s[m_pos])) ++m_pos;
    }
    const std::string_view text = m_s.substr(start, m_pos - start);
    if (m_pos < m_end && is_identifier_char(m_s[m_pos])) {
      std::size_t end = m_pos;
      while (end < m_end && is_identifier_char(m_s[end])) ++end;
      return error(start, "invalid number " + util::quoted(m_s.substr(start, end - start), util::Cap::word));
    }
    nlohmann::json value;
    std::int64_t integer = 0;
    const auto parsed = std::from_chars(text.data(), text.data() + text.size(), integer);
    if (!fraction && parsed.ec == std::errc() && parsed.ptr == text.data() + text.size()) {
      value = integer;
    } else {
      double real = 0;
      std::from_chars(text.data(), text.data() + text.size(), real);
      value = real;
    }
    return Token{TokenKind::literal, start, std::string(text), std::move(value), {}};
  }

  Result<Token> word() {
    const std::size_t start = m_pos;
    while (m_pos < m_end && is_identifier_char(m_s[m_pos])) ++m_pos;
    const std::string text(m_s.substr(start, m_pos - start));
    if (text == "and") return Token{TokenKind::and_, start, text, {}, {}};
    if (text == "or") return Token{TokenKind::or_, start, text, {}, {}};
    if (text == "not") return Token{TokenKind::not_, start, text, {}, {}};
    if (text == "true" || text == "false") return Token{TokenKind::literal, start, text, text == "true", {}};
    if (text == "null") return Token{TokenKind::literal, start, text, nullptr, {}};
    auto path = parse_reference(text);
    if (!path) return error(start, "invalid reference " + util::quoted(text, util::Cap::word));
    return Token{TokenKind::reference, start, text, {}, Reference{text, std::move(*path), start}};
  }

  std::string_view m_s;
  std::size_t m_pos;
  std::size_t m_end;
  std::size_t m_error_offset = 0;
};

}  // namespace

struct ConditionNode {
  enum class Kind { literal, reference, not_, and_, or_, compare };
  Kind kind = Kind::literal;
  nlohmann::json value;
  Reference reference;
  std::string op;
  std::unique_ptr<ConditionNode> left;
  std::unique_ptr<ConditionNode> right;
};

namespace {

using NodePtr = std::unique_ptr<ConditionNode>;

NodePtr make_node(ConditionNode::Kind kind, NodePtr left = nullptr, NodePtr right = nullptr) {
  auto node = std::make_unique<ConditionNode>();
  node->kind = kind;
  node->left = std::move(left);
  node->right = std::move(right);
  return node;
}

std::string describe_token(const Token& t) {
  return t.kind == TokenKind::end ? "end of condition" : util::quoted(t.text, util::Cap::word);
}

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, std::vector<Reference>& references)
      : m_tokens(tokens), m_references(references) {}

  Result<NodePtr> run() {
    IR_TRY(root, or_expr());
    const Token& t = peek();
    if (t.kind == TokenKind::close) return error(t, "unexpected \")\" (no \"(\" to close)");
    if (t.kind == TokenKind::compare)
      return error(t,
                   "unexpected " + util::quoted(t.text, util::Cap::word) + " (comparisons do not chain: use \"and\")");
    if (t.kind != TokenKind::end)
      return error(t, "unexpected " + util::quoted(t.text, util::Cap::word) + " (expected \"and\", \"or\" or the end)");
    return root;
  }
  [[nodiscard]] std::size_t error_offset() const { return m_error_offset; }

 private:
  const Token& peek() const { return m_tokens[m_i]; }
  const Token& take() { return m_tokens[m_i++]; }  // never past the `end` token: callers peek first

  Unexpected error(const Token& at, std::string message) {
    m_error_offset = at.offset;
    return fail(Errc::invalid, std::move(message));
  }

  // or_expr / and_expr: left-associative chains of one keyword.
  Result<NodePtr> chain(TokenKind keyword, ConditionNode::Kind kind, Result<NodePtr> (Parser::*tighter)()) {
    IR_TRY(left, (this->*tighter)());
    while (peek().kind == keyword) {
      take();
      IR_TRY(right, (this->*tighter)());
      left = make_node(kind, std::move(left), std::move(right));
    }
    return left;
  }
  Result<NodePtr> or_expr() { return chain(TokenKind::or_, ConditionNode::Kind::or_, &Parser::and_expr); }
  Result<NodePtr> and_expr() { return chain(TokenKind::and_, ConditionNode::Kind::and_, &Parser::not_expr); }

  Result<NodePtr> not_expr() {
    if (peek().kind != TokenKind::not_) return compare();
    const Token& t = take();
    if (++m_depth > k_max_nesting) return error(t, "condition nests too deeply");
    IR_TRY(operand, not_expr());
    --m_depth;
    return make_node(ConditionNode::Kind::not_, std::move(operand));
  }

  Result<NodePtr> compare() {
    IR_TRY(left, operand());
    if (peek().kind != TokenKind::compare) return left;
    const Token& op = take();
    IR_TRY(right, operand());
    auto node = make_node(ConditionNode::Kind::compare, std::move(left), std::move(right));
    node->op = op.text;
    return node;
  }

  Result<NodePtr> operand() {
    const Token& t = peek();
    switch (t.kind) {
      case TokenKind::literal: {
        take();
        auto node = make_node(ConditionNode::Kind::literal);
        node->value = t.value;
        return node;
      }
      case TokenKind::reference: {
        take();
        auto node = make_node(ConditionNode::Kind::reference);
        node->reference = t.reference;
        m_references.push_back(t.reference);
        return node;
      }
      case TokenKind::open: {
        take();
        if (++m_depth > k_max_nesting) return error(t, "condition nests too deeply");
        IR_TRY(inner, or_expr());
        --m_depth;
        if (peek().kind != TokenKind::close) {
          if (peek().kind == TokenKind::end) return error(t, "unclosed \"(\"");
          return error(peek(), "unexpected " + describe_token(peek()) + " (expected \")\")");
        }
        take();
        return inner;
      }
      default:
        return error(t, "expected a value, got " + describe_token(t));
    }
  }

  const std::vector<Token>& m_tokens;
  std::vector<Reference>& m_references;
  std::size_t m_i = 0;
  int m_depth = 0;
  std::size_t m_error_offset = 0;
};

Result<nlohmann::json> evaluate_node(const ConditionNode& node, const nlohmann::json& scope) {
  using Kind = ConditionNode::Kind;
  switch (node.kind) {
    case Kind::literal:
      return node.value;
    case Kind::reference: {
      const nlohmann::json* v = lookup(scope, node.reference.path);
      if (v == nullptr)
        return fail(Errc::invalid, "undefined reference " + util::quoted(node.reference.text, util::Cap::word));
      return *v;
    }
    case Kind::not_: {
      IR_TRY(v, evaluate_node(*node.left, scope));
      return nlohmann::json(!truthy(v));
    }
    case Kind::and_:
    case Kind::or_: {
      IR_TRY(left, evaluate_node(*node.left, scope));
      const bool l = truthy(left);
      if (node.kind == Kind::and_ ? !l : l) return nlohmann::json(l);
      IR_TRY(right, evaluate_node(*node.right, scope));
      return nlohmann::json(truthy(right));
    }
    case Kind::compare: {
      IR_TRY(left, evaluate_node(*node.left, scope));
      IR_TRY(right, evaluate_node(*node.right, scope));
      if (node.op == "==") return nlohmann::json(left == right);
      if (node.op == "!=") return nlohmann::json(left != right);
      if (!left.is_number() || !right.is_number()) {
        return fail(Errc::invalid, "cannot compare " + describe_value(left) + " " + node.op + " " +
                                       describe_value(right) + ": ordering works on numbers only");
      }
      if (node.op == ">") return nlohmann::json(right < left);
      if (node.op == ">=") return nlohmann::json(!(left < right));
      if (node.op == "<") return nlohmann::json(left < right);
      return nlohmann::json(!(right < left));
    }
  }
  return fail(Errc::failure, "condition: unknown node");
}

}  // namespace

Condition::Condition() = default;
Condition::Condition(Condition&&) noexcept = default;
Condition& Condition::operator=(Condition&&) noexcept = default;
Condition::~Condition() = default;

Result<bool> Condition::evaluate(const nlohmann::json& scope) const {
  if (!m_root) return fail(Errc::invalid, "empty condition");
  try {
    IR_TRY(v, evaluate_node(*m_root, scope));
    return truthy(v);
  } catch (const std::exception& e) {
    return fail(Errc::failure, std::string("condition: internal error: ") + e.what());
  }
}

Result<Condition> parse_condition(std::string_view expr, std::size_t* error_offset) {
  const auto error = [&](std::size_t at, const Error& e) {
    if (error_offset != nullptr) *error_offset = at;
    return unexpected(e);
  };
  try {
    if (expr.size() > k_max_condition_bytes) {
      return error(0, Error(Errc::invalid, "condition is longer than 4096 bytes"));
    }
    // "{{ expr }}" around the whole condition: evaluate what is inside.
    std::size_t begin = 0;
    std::size_t end = expr.size();
    const std::string_view trimmed = util::trim(expr);
    if (trimmed.size() >= 4 && trimmed.substr(0, 2) == "{{" && trimmed.substr(trimmed.size() - 2) == "}}") {
      begin = static_cast<std::size_t>(trimmed.data() - expr.data()) + 2;
      end = begin + trimmed.size() - 4;
    }
    Lexer lexer(expr, begin, end);
    auto tokens = lexer.run();
    if (!tokens) return error(lexer.error_offset(), tokens.error());
    if (tokens->size() == 1) return error(tokens->front().offset, Error(Errc::invalid, "empty condition"));
    Condition condition;
    Parser parser(*tokens, condition.m_references);
    auto root = parser.run();
    if (!root) return error(parser.error_offset(), root.error());
    condition.m_root = std::move(*root);
    return condition;
  } catch (const std::exception& e) {
    return error(0, Error(Errc::failure, std::string("condition: internal error: ") + e.what()));
  }
}

Result<bool> evaluate_condition(std::string_view expr, const nlohmann::json& scope) {
  IR_TRY(condition, parse_condition(expr));
  return condition.evaluate(scope);
}

bool truthy(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return false;
    case nlohmann::json::value_t::boolean:
      return value.get<bool>();
    case nlohmann::json::value_t::number_integer:
      return value.get<std::int64_t>() != 0;
    case nlohmann::json::value_t::number_unsigned:
      return value.get<std::uint64_t>() != 0;
    case nlohmann::json::value_t::number_float:
      return value.get<double>() != 0.0;
    case nlohmann::json::value_t::string:
      return !value.get_ref<const std::string&>().empty();
    case nlohmann::json::value_t::array:
    case nlohmann::json::value_t::object:
      return !value.empty();
    default:
      return true;
  }
}

}  // namespace ir::playbook
