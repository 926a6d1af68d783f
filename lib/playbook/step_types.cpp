#include "playbook/step_types.hpp"

#include <algorithm>
#include <exception>

#include "playbook/template.hpp"
#include "util/strings.hpp"

namespace ir::playbook {

std::vector<std::string> StepTypes::names() const {
  std::vector<std::string> out;
  for (const auto& t : *m_table) out.push_back(t.name);
  return out;
}

const StepType* StepTypes::find(std::string_view uses) const {
  const auto it = std::find_if(m_table->begin(), m_table->end(), [&](const StepType& t) { return t.name == uses; });
  return it == m_table->end() ? nullptr : &*it;
}

std::vector<std::string> StepTypes::outputs_of(std::string_view uses) const {
  std::vector<std::string> names;
  if (const StepType* type = find(uses)) {
    for (const auto& o : type->outputs) names.push_back(o.name);
  }
  return names;
}

std::string_view to_string(OutputType type) {
  switch (type) {
    case OutputType::string:
      return "string";
    case OutputType::boolean:
      return "bool";
    case OutputType::integer:
      return "int";
    case OutputType::list:
      return "list";
    case OutputType::object:
      return "object";
  }
  return "?";
}

std::string expected_value(const OptionSpec& spec) {
  switch (spec.type) {
    case OptionType::string:
      return "a string";
    case OptionType::boolean:
      return "a bool";
    case OptionType::integer_min_1:
      return "an int >= 1";
    case OptionType::integer:
      return "an int >= " + std::to_string(spec.min);
    case OptionType::string_list:
      return "a list of strings";
    case OptionType::string_map:
      return "a map of string -> string or null";
    case OptionType::choice:
      return "one of " + util::join(spec.choices, ", ");
    case OptionType::size:
      return "a size like 64Mi or 1048576";
    case OptionType::duration:
      return "a duration like 30s, 2m, 1h or 1m30s";
    case OptionType::items:
      return "a list or one \"{{ reference }}\"";
    case OptionType::steps:
      return "a non-empty list of steps";
  }
  return "?";
}

namespace {

bool rendered_value_ok(const OptionSpec& spec, const nlohmann::json& v) {
  const auto all_of = [&](auto pred) { return std::all_of(v.begin(), v.end(), pred); };
  switch (spec.type) {
    case OptionType::string:
      return v.is_string();
    case OptionType::boolean:
      return v.is_boolean();
    case OptionType::integer_min_1:
      return v.is_number_integer() && v.get<std::int64_t>() >= 1;
    case OptionType::integer:
      return v.is_number_integer() && v.get<std::int64_t>() >= spec.min;
    case OptionType::string_list:
      return v.is_array() && all_of([](const nlohmann::json& e) { return e.is_string(); });
    case OptionType::string_map:
      return v.is_object() && all_of([](const nlohmann::json& e) { return e.is_string() || e.is_null(); });
    case OptionType::choice:
      return v.is_string() &&
             std::find(spec.choices.begin(), spec.choices.end(), v.get_ref<const std::string&>()) != spec.choices.end();
    case OptionType::size:
      return (v.is_string() && util::parse_byte_size(v.get_ref<const std::string&>())) ||
             (v.is_number_integer() && v.get<std::int64_t>() >= 0);
    case OptionType::duration:
      return v.is_string() && parse_duration(v.get_ref<const std::string&>()).has_value();
    case OptionType::items:
      return v.is_array();
    case OptionType::steps:
      return true;  // not an option once parsed: Step::steps
  }
  return false;
}

}  // namespace

Result<void> check_rendered_options(const Step& step, const StepType& step_type, const nlohmann::json& rendered_with) {
  const StepType* type = &step_type;
  if (!rendered_with.is_object()) return fail(Errc::invalid, "options of step \"" + step.id + "\" must be a map");
  try {
    for (const auto& spec : type->options) {
      const std::string what = "option \"" + spec.name + "\" of step \"" + step.id + "\"";
      const auto it = rendered_with.find(spec.name);
      if (it == rendered_with.end() || it->is_null()) {
        if (spec.required && spec.type != OptionType::steps) {
          return fail(Errc::invalid,
                      "step \"" + step.id + "\" (" + type->name + ") is missing required option \"" + spec.name + "\"");
        }
        continue;
      }
      if (!rendered_value_ok(spec, *it)) {
        return fail(Errc::invalid, what + " must be " + expected_value(spec) + ", got " + describe_value(*it));
      }
      if (spec.type == OptionType::string_list && spec.required && it->empty()) {
        return fail(Errc::invalid, what + " must not be empty");
      }
    }
    return {};
  } catch (const std::exception& e) {
    return fail(Errc::failure, std::string("check options: internal error: ") + e.what());
  }
}

Result<void> check_rendered_options(const StepTypes& types, const Step& step, const nlohmann::json& rendered_with) {
  const StepType* type = types.find(step.uses);
  if (type == nullptr) return fail(Errc::invalid, "unknown step type " + util::quoted(step.uses, util::Cap::word));
  return check_rendered_options(step, *type, rendered_with);
}

}  // namespace ir::playbook
