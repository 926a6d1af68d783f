#include "playbook/step_types.hpp"

#include <algorithm>
#include <exception>

#include "playbook/template.hpp"
#include "util/strings.hpp"

namespace ir::playbook {

namespace {

using O = OptionType;
using T = OutputType;

OptionSpec opt(std::string name, OptionType type, bool required = false) {
  return OptionSpec{std::move(name), type, required, {}};
}

// Every step that acts on a pod names it like the CLI does; both default to the run's target.
std::vector<OptionSpec> pod_options(std::vector<OptionSpec> more) {
  std::vector<OptionSpec> all = {opt("pod", O::string), opt("namespace", O::string)};
  all.insert(all.end(), more.begin(), more.end());
  return all;
}

std::vector<StepType> make_table() {
  OptionSpec fs = opt("fs", O::choice);
  fs.choices = {"listing", "archive", "none"};
  return {
      {"isolate",
       pod_options({opt("ingress", O::boolean), opt("allow_dns", O::boolean), opt("allow_egress", O::string_list),
                    opt("exclusive", O::boolean), opt("detach", O::boolean), opt("cordon", O::boolean),
                    opt("admin_policy", O::boolean), opt("probe", O::string)}),
       {{"policy", T::string, {}},
        {"egress", T::string, {}},
        {"ingress", T::string, {}},
        {"contained", T::boolean, {}},
        {"node", T::string, {}}}},
      {"release", pod_options({}), {{"released", T::boolean, {}}}},
      {"collect",
       pod_options({opt("containers", O::string_list), fs, opt("paths", O::string_list), opt("max_log_bytes", O::size),
                    opt("max_file_bytes", O::size), opt("ephemeral", O::boolean), opt("debug_image", O::string),
                    opt("ptrace", O::boolean)}),
       {{"artifacts", T::integer, {}},
        {"partial", T::boolean, {}},
        {"not_collected", T::list, {}},
        {"ephemeral_containers", T::list, {}}}},
      {"siblings",
       pod_options({opt("digest", O::string), opt("all_namespaces", O::boolean), opt("include_self", O::boolean)}),
       {{"count", T::integer, {}},
        {"pods", T::list, {"namespace", "name", "workload", "node", "phase"}},
        {"partial", T::boolean, {}},
        {"digest", T::string, {}}}},
      {"exec",
       pod_options({opt("container", O::string), opt("command", O::string_list, true), opt("max_bytes", O::size)}),
       {{"exit_code", T::integer, {}}, {"stdout", T::string, {}}, {"truncated", T::boolean, {}}}},
      {"label", pod_options({opt("labels", O::string_map, true)}), {{"labels", T::object, {}}}},
      {"annotate", pod_options({opt("annotations", O::string_map, true)}), {{"annotations", T::object, {}}}},
      {"cordon", {opt("node", O::string)}, {{"node", T::string, {}}}},
      {"logs",
       pod_options({opt("container", O::string), opt("previous", O::boolean), opt("max_bytes", O::size)}),
       {{"bytes", T::integer, {}}}},
      {"wait", {opt("duration", O::duration, true)}, {}},
      {"for_each",
       {opt("items", O::items, true), opt("parallel", O::integer_min_1), opt("steps", O::steps, true)},
       {{"count", T::integer, {}}, {"failed", T::integer, {}}, {"results", T::list, {}}}},
  };
}

}  // namespace

const std::vector<StepType>& step_type_table() {
  static const std::vector<StepType> k_table = make_table();
  return k_table;
}

const std::vector<std::string>& step_types() {
  static const std::vector<std::string> k_names = [] {
    std::vector<std::string> names;
    for (const auto& t : step_type_table()) names.push_back(t.name);
    return names;
  }();
  return k_names;
}

const StepType* find_step_type(std::string_view uses) {
  const auto& table = step_type_table();
  const auto it = std::find_if(table.begin(), table.end(), [&](const StepType& t) { return t.name == uses; });
  return it == table.end() ? nullptr : &*it;
}

std::vector<std::string> outputs_of(const std::string& uses) {
  std::vector<std::string> names;
  if (const StepType* type = find_step_type(uses)) {
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

Result<void> check_rendered_options(const Step& step, const nlohmann::json& rendered_with) {
  const StepType* type = find_step_type(step.uses);
  if (type == nullptr)
    return fail(Errc::invalid, "unknown step type \"" + util::escape_for_terminal(step.uses, 60) + "\"");
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

}  // namespace ir::playbook
