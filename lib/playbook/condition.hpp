#pragma once
// Conditions (a step's `when:`):
//   expr     := or_expr
//   or_expr  := and_expr ("or" and_expr)*
//   and_expr := not_expr ("and" not_expr)*
//   not_expr := "not" not_expr | cmp
//   cmp      := operand (("=="|"!="|">"|">="|"<"|"<=") operand)?
//   operand  := reference | number | 'single' or "double" quoted string | true | false | null
//             | "(" expr ")"
// References are bare (`steps.siblings.count > 0`); "{{ }}" around the whole condition is
// accepted too. A lone operand is truthy unless it is false, null, 0, "", [] or {}. "and" and "or"
// short-circuit.

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "playbook/template.hpp"
#include "util/result.hpp"

namespace ir::playbook {

struct ConditionNode;

// A parsed condition. Cheap to move; evaluating does not change it.
class Condition {
 public:
  Condition();
  Condition(Condition&&) noexcept;
  Condition& operator=(Condition&&) noexcept;
  ~Condition();

  // Every reference the condition uses, in the order written; offsets are into the string given
  // to parse_condition.
  [[nodiscard]] const std::vector<Reference>& references() const { return m_references; }

  // Evaluates against `scope` (see template.hpp). Errc::invalid for a reference that is not in
  // scope (when it is evaluated: `false and steps.x.y` never looks at steps.x.y), an ordering
  // comparison (>, >=, <, <=) on anything but two numbers. Never throws.
  [[nodiscard]] Result<bool> evaluate(const nlohmann::json& scope) const;

 private:
  friend Result<Condition> parse_condition(std::string_view, std::size_t*);
  std::unique_ptr<ConditionNode> m_root;
  std::vector<Reference> m_references;
};

// Parses a condition. Errc::invalid with a one-line message on a syntax error; *error_offset (if
// given) is then the offset in `expr` of the problem. Never throws.
Result<Condition> parse_condition(std::string_view expr, std::size_t* error_offset = nullptr);

// parse_condition then Condition::evaluate.
Result<bool> evaluate_condition(std::string_view expr, const nlohmann::json& scope);

// The truth of a value: false for false, null, 0, "", [] and {}; true otherwise.
bool truthy(const nlohmann::json& value);

}  // namespace ir::playbook
