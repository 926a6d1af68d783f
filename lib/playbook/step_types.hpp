#pragma once
// The shape of a step type: its options (what `with:` may hold) and outputs (what
// `steps.<id>.<field>` may reference). The table of step types itself is declared once, with each
// verb's handler, by the runner's verb table (lib/run/verbs.hpp: run::step_types()); the validator
// and the runner take it as a StepTypes view, so this module stays pure.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "playbook/playbook.hpp"
#include "util/result.hpp"

namespace ir::playbook {

// What an option value must be when it is written literally (a value that is exactly one
// "{{ reference }}" is checked by the runner instead).
enum class OptionType {
  string,
  boolean,
  integer_min_1,  // an int >= 1 (for_each.parallel)
  integer,        // an int >= OptionSpec::min (drift.siblings, drift.quorum)
  string_list,    // a list of strings
  string_map,     // a map of string -> string or null (labels, annotations; null removes)
  choice,         // a string among OptionSpec::choices
  size,           // a byte size as util::parse_byte_size reads it ("64Mi"); a literal int becomes its text
  duration,       // a duration as parse_duration reads it ("30s", "1m30s")
  items,          // for_each.items: a literal list or a template
  steps,          // for_each.steps: a non-empty list of steps
};

struct OptionSpec {
  std::string name;
  OptionType type = OptionType::string;
  bool required = false;
  std::vector<std::string> choices;  // for OptionType::choice
  std::int64_t min = 0;              // for OptionType::integer: the smallest value allowed
  std::string help;                  // one line, for --help and the documentation
  nlohmann::json default_value;      // what an absent option means (null: none)
  std::string cli_short;             // the CLI's one-letter flag, or ""
  std::string cli_name;              // the CLI's long flag when it is not the name ("path" for paths)
  bool cli = true;                   // false: playbooks only (the CLI takes it another way)
};

// The JSON type of an output value.
enum class OutputType { string, boolean, integer, list, object };

struct OutputSpec {
  std::string name;
  OutputType type = OutputType::string;
  // For a list of objects: the fields of each element (siblings.pods); empty when unknown.
  std::vector<std::string> element_fields;
};

struct StepType {
  std::string name;
  std::vector<OptionSpec> options;
  std::vector<OutputSpec> outputs;
};

// A view of a table of step types (the caller owns the table, which must outlive the view).
class StepTypes {
 public:
  explicit StepTypes(const std::vector<StepType>& table) : m_table(&table) {}
  [[nodiscard]] const std::vector<StepType>& all() const { return *m_table; }
  // The names, in table order.
  [[nodiscard]] std::vector<std::string> names() const;
  // The step type called `uses`, or nullptr if there is none.
  [[nodiscard]] const StepType* find(std::string_view uses) const;
  // The output names of `uses`, in table order; empty for an unknown type or one without outputs.
  [[nodiscard]] std::vector<std::string> outputs_of(std::string_view uses) const;

 private:
  const std::vector<StepType>* m_table;
};

// "string", "bool", "int", "list" or "object": how messages and documentation name a type.
std::string_view to_string(OutputType type);

// What a value of the option must be, as messages say it: "a bool", "an int >= 1", "a list of
// strings", "one of listing, archive, none", "a duration like 30s, 2m, 1h or 1m30s"...
std::string expected_value(const OptionSpec& spec);

// Checks a step's options once rendered (render() in template.hpp), for the runner: an option
// written as one "{{ reference }}" is only typed then. Each value must be what parse_playbook
// requires of a literal (a size may be a non-negative int); null means "not set", which only a
// required option may not be. Options the step type does not have are ignored (parse_playbook
// rejected them). Errc::invalid: `option "ingress" of step "isolate" must be a bool, got string
// "yes"`. Never throws.
Result<void> check_rendered_options(const Step& step, const StepType& type, const nlohmann::json& rendered_with);
// The same, looking the step's type up in `types`: Errc::invalid `unknown step type "x"` when it
// has none.
Result<void> check_rendered_options(const StepTypes& types, const Step& step, const nlohmann::json& rendered_with);

}  // namespace ir::playbook
