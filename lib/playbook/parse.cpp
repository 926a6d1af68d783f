#include "playbook/playbook.hpp"

#include <algorithm>
#include <charconv>
#include <exception>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "playbook/condition.hpp"
#include "playbook/step_types.hpp"
#include "playbook/template.hpp"
#include "playbook/yaml_tree.hpp"
#include "util/escape.hpp"
#include "util/strings.hpp"

// Validation runs in two passes over the positioned YAML tree (yaml_tree.hpp): the first checks
// the structure and the option types of every step and builds the model; the second, which needs
// every step id, checks each reference ("{{ steps.x.count }}", "params.dry" in a condition) against
// what is defined at that point. Every problem becomes one Diagnostic; nothing stops at the first.

namespace ir::playbook {

namespace {

using detail::YamlNode;
using Kind = YamlNode::Kind;

constexpr std::size_t k_max_playbook_bytes = std::size_t{1} << 20;
const std::vector<std::string> k_roots = {"pod", "namespace", "case", "params", "steps", "item"};
const std::vector<std::string> k_playbook_keys = {"name", "description", "params", "steps", "report", "upload"};
const std::vector<std::string> k_param_keys = {"type", "default", "required", "description"};
const std::vector<std::string> k_step_keys = {"id", "uses", "description", "with", "when", "on_error", "timeout"};
const std::vector<std::string> k_param_types = {"string", "bool", "int", "list"};
constexpr std::string_view k_duration_hint = "a duration like 30s, 2m, 1h or 1m30s";

std::string q(std::string_view s) { return util::quoted(s, util::Cap::word); }

std::string fmt_pos(Position p) {
  return fmt::format("{}:{}", p.line, p.column);
}

// " (did you mean "x"?)" or " (<label>: a, b, c)" or "".
std::string suggestion(std::string_view word, const std::vector<std::string>& candidates, std::string_view label) {
  const std::string best = util::closest_match(word, candidates);
  if (!best.empty()) return " (did you mean " + q(best) + "?)";
  if (candidates.empty() || label.empty()) return "";
  return fmt::format(" ({}: {})", label, util::join(candidates, ", "));
}

bool matches(std::string_view s, bool (*allowed)(char)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), allowed);
}
bool is_lower_digit(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool name_char(char c) {
  return is_lower_digit(c) || c == '-';
}
bool id_char(char c) {
  return is_lower_digit(c) || c == '-' || c == '_';
}
bool param_char(char c) {
  return is_lower_digit(c) || c == '_';
}

// `pod: {{ item.name }}` is YAML for a map holding a map: the template needed quotes.
bool unquoted_template(const YamlNode& node) {
  return node.kind == Kind::map && node.entries.size() == 1 && node.entries[0].key.kind == Kind::map &&
         node.entries[0].value.kind == Kind::null;
}

std::string describe(const YamlNode& node) {
  switch (node.kind) {
    case Kind::null:
      return "null";
    case Kind::sequence:
      return "list";
    case Kind::map:
      return unquoted_template(node) ? "map (a template must be quoted: \"{{ ... }}\")" : "map";
    case Kind::scalar:
      return describe_value(detail::to_json(node));
  }
  return "value";
}

// A map's entries by key (the first of duplicates); keys as written.
struct Entry {
  const YamlNode* key = nullptr;
  const YamlNode* value = nullptr;
};
using Entries = std::map<std::string, Entry>;

// What the second pass needs about a step, beyond the model.
struct Draft {
  Step step;
  const YamlNode* node = nullptr;
  const YamlNode* with = nullptr;  // the `with` map, if any
  const YamlNode* when = nullptr;
  std::string label;            // how messages name the step: its id, or "#N" without one
  std::string parent;           // id of the enclosing for_each, "" at top level
  bool registered = false;      // the first step with this (valid) id: m_known describes it
  std::vector<Draft> children;  // for_each
};

// Every step id, first definition, for the second pass's explanations.
struct Known {
  Position pos;
  std::string uses;
  std::string parent;
};

// What a reference may name where it is used.
struct Scope {
  std::vector<std::string> visible;  // ids whose outputs exist here
  const Draft* self = nullptr;
  const Draft* for_each = nullptr;                      // the enclosing for_each
  std::optional<std::vector<std::string>> item_fields;  // known fields of `item`
};

class Validator {
 public:
  Validator(std::string file, std::string_view text, const StepTypes& types)
      : m_file(std::move(file)), m_text(text), m_types(types) {}

  std::vector<Diagnostic> take_diagnostics() {
    std::stable_sort(m_diagnostics.begin(), m_diagnostics.end(),
                     [](const Diagnostic& a, const Diagnostic& b) { return a.pos < b.pos; });
    m_diagnostics.erase(
        std::unique(m_diagnostics.begin(), m_diagnostics.end(),
                    [](const Diagnostic& a, const Diagnostic& b) { return a.pos == b.pos && a.message == b.message; }),
        m_diagnostics.end());
    return std::move(m_diagnostics);
  }

  void error(Position pos, std::string message) {
    m_diagnostics.push_back(Diagnostic{m_file, pos, std::move(message)});
  }

  Playbook run(const YamlNode& root) {
    Playbook playbook;
    playbook.file = m_file;
    if (root.kind == Kind::null) {
      error(Position{1, 1}, "empty playbook: it needs at least name, description and steps");
      return playbook;
    }
    if (root.kind != Kind::map) {
      error(root.pos, "a playbook must be a map (name, description, params, steps), got " + describe(root));
      return playbook;
    }
    const Entries fields = index(root);
    report_unknown(fields, k_playbook_keys, [](const std::string& key, const std::string& hint) {
      return "unknown key " + q(key) + " in playbook" + hint;
    });
    // The whole file lacks it: say so at its start, not at its first key.
    for (const std::string key : {"name", "description", "steps"}) {
      if (fields.count(key) == 0) error(Position{1, 1}, "missing required key " + q(key));
    }
    if (const auto* v = value(fields, "name")) {
      playbook.name = scalar_text(*v, "playbook name");
      if (v->kind == Kind::scalar && !matches(playbook.name, name_char)) {
        error(v->pos, "playbook name must match [a-z0-9-]+, got " + q(playbook.name));
      }
    }
    if (const auto* v = value(fields, "description")) playbook.description = one_line(*v, "playbook description", true);
    if (const auto* v = value(fields, "params")) playbook.params = params(*v);
    for (const auto& p : playbook.params) {
      m_param_names.push_back(p.name);
      m_param_types[p.name] = p.type;
    }
    if (const auto* v = value(fields, "steps")) {
      std::vector<Draft> drafts = step_list(*v, "steps", "");
      Scope scope;
      check_references(drafts, scope);
      for (auto& d : drafts) playbook.steps.push_back(to_step(std::move(d)));
    }
    if (const auto* v = value(fields, "report")) playbook.after_seal.report = after_seal_value(*v, "report", ParamType::boolean);
    if (const auto* v = value(fields, "upload")) playbook.after_seal.upload = after_seal_value(*v, "upload", ParamType::string);
    return playbook;
  }

 private:
  // ---- generic helpers ---------------------------------------------------------------------

  // Entries of a map by key; reports non-scalar and duplicate keys.
  Entries index(const YamlNode& map) {
    Entries out;
    for (const auto& [key, val] : map.entries) {
      if (key.kind != Kind::scalar) {
        error(key.pos, "keys must be strings, got " + describe(key));
        continue;
      }
      const auto [it, inserted] = out.emplace(key.text, Entry{&key, &val});
      if (!inserted)
        error(key.pos, "duplicate key " + q(key.text) + " (first at " + fmt_pos(it->second.key->pos) + ")");
    }
    return out;
  }

  template <class MakeMessage>
  void report_unknown(const Entries& entries, const std::vector<std::string>& allowed, MakeMessage make) {
    for (const auto& [key, entry] : entries) {
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      error(entry.key->pos, make(key, suggestion(key, allowed, "allowed")));
    }
  }

  static const YamlNode* value(const Entries& entries, const std::string& key) {
    const auto it = entries.find(key);
    return it == entries.end() ? nullptr : it->second.value;
  }

  // A scalar's text (any scalar: `when: true` is the condition "true"); "" and a diagnostic otherwise.
  std::string scalar_text(const YamlNode& node, const std::string& what) {
    if (node.kind == Kind::scalar) return node.text;
    error(node.pos, what + " must be a string, got " + describe(node));
    return "";
  }

  std::string one_line(const YamlNode& node, const std::string& what, bool required) {
    std::string text = scalar_text(node, what);
    if (node.kind != Kind::scalar) return text;
    while (!text.empty() && text.back() == '\n') text.pop_back();  // a block scalar's final newline
    if (text.find('\n') != std::string::npos) error(node.pos, what + " must be one line");
    if (required && util::trim(text).empty()) error(node.pos, what + " must not be empty");
    return text;
  }

  // ---- report, upload: what run does after sealing ---------------------------------------------

  // `report` (a bool) or `upload` (a string) as written; null and a diagnostic when it is wrong.
  // Templates may name params, pod, namespace and case: no step output exists for them, as they
  // act once the run is over and its bundle sealed.
  nlohmann::json after_seal_value(const YamlNode& node, const std::string& key, ParamType type) {
    const std::string what = "playbook key " + q(key);
    const std::string want = type == ParamType::boolean ? "a bool (true or false)" : "a string (s3://BUCKET/PREFIX, or \"\")";
    if (node.kind == Kind::null) return nullptr;
    const nlohmann::json j = detail::to_json(node);
    if (node.kind != Kind::scalar) {
      error(node.pos, what + " must be " + want + ", got " + describe(node));
      return nullptr;
    }
    if (type == ParamType::boolean && j.is_boolean()) return j;
    if (type == ParamType::string && (j.is_boolean() || j.is_null())) {
      error(node.pos, what + " must be " + want + ", got " + describe(node));
      return nullptr;
    }
    if (!has_template(node.text)) {
      if (type == ParamType::string) return nlohmann::json(node.text);
      error(node.pos, what + " must be " + want + " or one template naming a bool parameter, got " + describe(node));
      return nullptr;
    }
    auto parts = split_template(node.text);
    if (!parts) {
      error(node.pos, "invalid template in " + what + ": " + parts.error().message);
      return nullptr;
    }
    const auto single = single_reference(node.text);
    if (type == ParamType::boolean && !single) {
      error(node.pos, what + " must be " + want + " or one template naming a bool parameter, got " + describe(node));
      return nullptr;
    }
    bool ok = true;
    for (const auto& part : *parts) {
      if (!part.is_reference) continue;
      const auto& path = part.reference.path;
      if (path[0] == "steps" || path[0] == "item") {
        error(node.pos, "undefined reference " + q(part.reference.text) + ": " + what +
                            " acts after the run, when no step is running (use params, pod, namespace or case)");
        ok = false;
        continue;
      }
      if (auto problem = reference_problem(path, Scope{})) {
        error(node.pos, "undefined reference " + q(part.reference.text) + ": " + *problem);
        ok = false;
        continue;
      }
      // A value that is exactly one parameter keeps the parameter's type: it must be the key's.
      if (single && path[0] == "params" && m_param_types.count(path[1]) != 0 && m_param_types.at(path[1]) != type) {
        error(node.pos, fmt::format("{} must be {}, but {} is a parameter of type {}", what, want, part.reference.text,
                                    to_string(m_param_types.at(path[1]))));
        ok = false;
      } else if (single && type == ParamType::boolean && path[0] != "params") {
        error(node.pos, what + " must be " + want + ", but " + part.reference.text + " is a string");
        ok = false;
      }
    }
    return ok ? nlohmann::json(node.text) : nlohmann::json();
  }

  // ---- params ------------------------------------------------------------------------------

  std::vector<Param> params(const YamlNode& node) {
    std::vector<Param> out;
    if (node.kind == Kind::null) return out;
    if (node.kind != Kind::map) {
      error(node.pos,
            "params must be a map of parameter name -> {type, default, required, description}, got " + describe(node));
      return out;
    }
    const Entries entries = index(node);
    for (const auto& [key, val] : node.entries) {
      if (key.kind != Kind::scalar || entries.at(key.text).key != &key) continue;  // reported by index()
      out.push_back(param(key, val));
    }
    return out;
  }

  Param param(const YamlNode& key, const YamlNode& node) {
    Param p;
    p.name = key.text;
    p.pos = key.pos;
    const std::string what = "parameter " + q(p.name);
    if (!matches(p.name, param_char) || !(p.name[0] >= 'a' && p.name[0] <= 'z')) {
      error(key.pos, "parameter name must match [a-z][a-z0-9_]*, got " + q(p.name));
    }
    if (node.kind != Kind::map) {
      error(node.pos, what + " must be a map (type, default, required, description), got " + describe(node));
      return p;
    }
    const Entries fields = index(node);
    report_unknown(fields, k_param_keys, [&](const std::string& k, const std::string& hint) {
      return "unknown key " + q(k) + " in " + what + hint;
    });
    const YamlNode* type = value(fields, "type");
    if (type == nullptr) {
      error(node.pos, "missing required key \"type\" in " + what);
    } else {
      const std::string text = scalar_text(*type, "type of " + what);
      const auto it = std::find(k_param_types.begin(), k_param_types.end(), text);
      if (it != k_param_types.end()) {
        p.type = static_cast<ParamType>(it - k_param_types.begin());
      } else if (type->kind == Kind::scalar) {
        error(type->pos, "type of " + what + " must be one of string, bool, int, list, got " + describe(*type) +
                             suggestion(text, k_param_types, ""));
      }
    }
    if (const auto* v = value(fields, "required")) {
      const auto j = detail::to_json(*v);
      if (j.is_boolean()) {
        p.required = j.get<bool>();
      } else {
        error(v->pos, "required of " + what + " must be a bool, got " + describe(*v));
      }
    }
    if (const auto* v = value(fields, "description")) p.description = one_line(*v, "description of " + what, false);
    if (const auto* v = value(fields, "default"); v != nullptr && v->kind != Kind::null) {
      if (type != nullptr) p.default_value = param_default(*v, p.type, what);
      if (p.required) error(v->pos, what + " is required and has a default: drop one");
    }
    return p;
  }

  nlohmann::json param_default(const YamlNode& v, ParamType type, const std::string& what) {
    const auto j = detail::to_json(v);
    const std::string must = "default of " + what + " must be ";
    switch (type) {
      case ParamType::string:
        if (v.kind == Kind::scalar) return v.text;
        error(v.pos, must + "a string, got " + describe(v));
        return nullptr;
      case ParamType::boolean:
        if (j.is_boolean()) return j;
        error(v.pos, must + "a bool, got " + describe(v));
        return nullptr;
      case ParamType::integer:
        if (j.is_number_integer()) return j;
        error(v.pos, must + "an int, got " + describe(v));
        return nullptr;
      case ParamType::list: {
        nlohmann::json out = nlohmann::json::array();
        if (v.kind == Kind::sequence) {
          for (const auto& item : v.items) {
            if (item.kind == Kind::scalar) {
              out.push_back(item.text);
            } else {
              error(item.pos, "items of the default of " + what + " must be strings, got " + describe(item));
            }
          }
          return out;
        }
        error(v.pos, must + "a list, got " + describe(v));
        return nullptr;
      }
    }
    return nullptr;
  }

  // ---- steps -------------------------------------------------------------------------------

  // `what` names the list in messages ("steps", "option \"steps\" of step \"x\"").
  std::vector<Draft> step_list(const YamlNode& node, const std::string& what, const std::string& parent) {
    std::vector<Draft> out;
    if (node.kind != Kind::sequence || node.items.empty()) {
      error(node.pos, what + " must be a non-empty list of steps" +
                          (node.kind == Kind::sequence ? std::string() : ", got " + describe(node)));
      return out;
    }
    for (std::size_t i = 0; i < node.items.size(); ++i) {
      if (auto d = step(node.items[i], i + 1, parent)) out.push_back(std::move(*d));
    }
    return out;
  }

  std::optional<Draft> step(const YamlNode& node, std::size_t number, const std::string& parent) {
    if (node.kind != Kind::map) {
      error(node.pos, "a step must be a map with at least id and uses, got " + describe(node));
      return std::nullopt;
    }
    Draft d;
    d.node = &node;
    d.parent = parent;
    d.step.pos = node.pos;
    const Entries fields = index(node);
    const YamlNode* id = value(fields, "id");
    d.label = (id != nullptr && id->kind == Kind::scalar && !id->text.empty()) ? id->text : fmt::format("#{}", number);
    const std::string what = "step " + q(d.label);
    report_unknown(fields, k_step_keys, [&](const std::string& k, const std::string& hint) {
      return "unknown key " + q(k) + " in " + what + hint;
    });
    for (const std::string key : {"id", "uses"}) {
      if (fields.count(key) == 0) error(node.pos, "missing required key " + q(key) + " in " + what);
    }
    if (id != nullptr) step_id(d, *id);
    const StepType* type = nullptr;
    if (const auto* v = value(fields, "uses")) {
      d.step.uses = scalar_text(*v, "uses of " + what);
      type = m_types.find(d.step.uses);
      if (type != nullptr && d.registered) m_known[d.step.id].uses = type->name;
      if (type == nullptr && v->kind == Kind::scalar) {
        error(v->pos, "unknown step type " + q(d.step.uses) + suggestion(d.step.uses, m_types.names(), "one of"));
      }
      if (type != nullptr && type->name == "for_each" && !parent.empty()) {
        error(v->pos, "for_each " + what + " cannot be nested in for_each " + q(parent));
      }
    }
    if (const auto* v = value(fields, "description"))
      d.step.description = one_line(*v, "description of " + what, false);
    if (const auto* v = value(fields, "when")) {
      d.when = v;
      if (v->kind == Kind::scalar && !util::trim(v->text).empty()) {
        d.step.when = v->text;
        std::size_t offset = 0;
        auto condition = parse_condition(v->text, &offset);
        if (!condition) {
          error(detail::position_in_scalar(*v, m_text, offset),
                "condition of " + what + " does not parse: " + condition.error().message);
        }
      } else {
        error(v->pos, "when of " + what + " must be a condition, got " + describe(*v));
      }
    }
    if (const auto* v = value(fields, "on_error")) {
      const std::string text = scalar_text(*v, "on_error of " + what);
      if (text == "continue") {
        d.step.on_error = OnError::continue_;
      } else if (text != "abort" && v->kind == Kind::scalar) {
        error(v->pos, "on_error of " + what + " must be abort or continue, got " + describe(*v) +
                          suggestion(text, {"abort", "continue"}, ""));
      }
    }
    if (const auto* v = value(fields, "timeout")) {
      const std::string text = scalar_text(*v, "timeout of " + what);
      if (v->kind == Kind::scalar) {
        auto duration = parse_duration(text);
        if (duration) {
          d.step.timeout = *duration;
        } else {
          error(v->pos, fmt::format("timeout of {} must be {}, got {}", what, k_duration_hint, describe(*v)));
        }
      }
    }
    const YamlNode* with = value(fields, "with");
    if (with != nullptr && with->kind != Kind::null && with->kind != Kind::map) {
      error(with->pos, "with of " + what + " must be a map of options, got " + describe(*with));
      with = nullptr;
    }
    if (with != nullptr && with->kind == Kind::map) d.with = with;
    if (type != nullptr) options(d, *type, with != nullptr ? with->pos : node.pos);
    return d;
  }

  void step_id(Draft& d, const YamlNode& id) {
    const std::string text = scalar_text(id, "step id");
    if (id.kind != Kind::scalar) return;
    d.step.id = text;
    if (!matches(text, id_char)) {
      error(id.pos, "step id must match [a-z0-9_-]+, got " + q(text));
      return;
    }
    const auto [it, inserted] = m_known.emplace(text, Known{id.pos, "", d.parent});
    d.registered = inserted;
    if (!inserted) error(id.pos, "duplicate step id " + q(text) + " (first at " + fmt_pos(it->second.pos) + ")");
  }

  // Checks and normalises the options of a step whose type is known; `missing_pos` is where a
  // missing required option is reported (the `with` map, else the step).
  void options(Draft& d, const StepType& type, Position missing_pos) {
    const std::string what = "step " + q(d.label);
    std::vector<std::string> names;
    for (const auto& o : type.options) names.push_back(o.name);
    Entries entries;
    if (d.with != nullptr) entries = index(*d.with);
    report_unknown(entries, names, [&](const std::string& k, const std::string&) {
      return what + " (" + type.name + ") has no option " + q(k) + suggestion(k, names, "has");
    });
    for (const auto& spec : type.options) {
      const YamlNode* v = value(entries, spec.name);
      if (v == nullptr || v->kind == Kind::null) {
        if (spec.required) error(missing_pos, what + " (" + type.name + ") is missing required option " + q(spec.name));
        continue;
      }
      if (spec.type == OptionType::steps) {
        d.children = step_list(*v, "option \"steps\" of " + what, d.step.id.empty() ? d.label : d.step.id);
        continue;
      }
      if (v->kind == Kind::scalar && single_reference(v->text)) {
        d.step.with[spec.name] = v->text;  // typed at run time
        continue;
      }
      if (auto j = option_value(*v, spec, "option " + q(spec.name) + " of " + what)) d.step.with[spec.name] = *j;
    }
  }

  // A literal option value checked against its type; nullopt (and a diagnostic) if it is wrong.
  std::optional<nlohmann::json> option_value(const YamlNode& v, const OptionSpec& spec, const std::string& what) {
    const nlohmann::json j = detail::to_json(v);
    const auto wrong = [&]() {
      error(v.pos, fmt::format("{} must be {}, got {}", what, expected_value(spec), describe(v)));
      return std::nullopt;
    };
    switch (spec.type) {
      case OptionType::string:
        return string_like(v, what);
      case OptionType::boolean:
        if (j.is_boolean()) return j;
        return wrong();
      case OptionType::integer_min_1:
        if (j.is_number_integer() && j.get<std::int64_t>() >= 1) return j;
        return wrong();
      case OptionType::integer:
        if (j.is_number_integer() && j.get<std::int64_t>() >= spec.min) return j;
        return wrong();
      case OptionType::string_list: {
        if (v.kind != Kind::sequence) return wrong();
        if (spec.required && v.items.empty()) {
          error(v.pos, what + " must not be empty");
          return std::nullopt;
        }
        nlohmann::json out = nlohmann::json::array();
        for (std::size_t i = 0; i < v.items.size(); ++i) {
          auto item = string_like(v.items[i], fmt::format("item {} of {}", i + 1, what));
          if (!item) return std::nullopt;
          out.push_back(std::move(*item));
        }
        return out;
      }
      case OptionType::string_map: {
        if (v.kind != Kind::map) return wrong();
        nlohmann::json out = nlohmann::json::object();
        for (const auto& [key, val] : v.entries) {
          if (key.kind != Kind::scalar || key.text.empty()) {
            error(key.pos, "keys of " + what + " must be non-empty strings");
            return std::nullopt;
          }
          if (val.kind == Kind::null) {
            out[key.text] = nullptr;
          } else if (val.kind == Kind::scalar) {
            out[key.text] = val.text;  // `team: 42` means the label value "42"
          } else {
            error(val.pos,
                  "value of " + q(key.text) + " in " + what + " must be a string or null, got " + describe(val));
            return std::nullopt;
          }
        }
        return out;
      }
      case OptionType::choice: {
        const std::string text = v.kind == Kind::scalar ? v.text : "";
        if (v.kind == Kind::scalar && std::find(spec.choices.begin(), spec.choices.end(), text) != spec.choices.end()) {
          return nlohmann::json(text);
        }
        error(v.pos, fmt::format("{} must be {}, got {}{}", what, expected_value(spec), describe(v),
                                 suggestion(text, spec.choices, "")));
        return std::nullopt;
      }
      case OptionType::size:
        if (j.is_number_integer() && j.get<std::int64_t>() >= 0) return nlohmann::json(v.text);
        if (j.is_string() && util::parse_byte_size(v.text)) return j;
        return wrong();
      case OptionType::duration:
        if (j.is_string() && parse_duration(v.text)) return j;
        return wrong();
      case OptionType::items:
        if (v.kind == Kind::sequence) return j;
        return wrong();
      case OptionType::steps:
        break;
    }
    return std::nullopt;
  }

  // A string option: any scalar but null and bools, as written (`pod: 1234` is the pod "1234").
  std::optional<nlohmann::json> string_like(const YamlNode& v, const std::string& what) {
    const nlohmann::json j = detail::to_json(v);
    if (v.kind == Kind::scalar && !j.is_boolean() && !j.is_null()) return nlohmann::json(v.text);
    error(v.pos, what + " must be a string, got " + describe(v));
    return std::nullopt;
  }

  // ---- references (second pass) --------------------------------------------------------------

  void check_references(const std::vector<Draft>& drafts, Scope& scope) {
    for (const auto& d : drafts) {
      scope.self = &d;
      if (d.with != nullptr) {
        for (const auto& [key, val] : d.with->entries) {
          if (key.kind == Kind::scalar && key.text == "steps" && d.step.uses == "for_each") continue;
          check_strings(val, scope);
        }
      }
      if (d.when != nullptr && !d.step.when.empty()) {
        if (auto condition = parse_condition(d.step.when)) {
          for (const auto& ref : condition->references()) check_reference(ref, d.when->pos, scope);
        }
      }
      if (d.step.uses == "for_each") {
        Scope inner;
        inner.visible = scope.visible;
        inner.for_each = &d;
        inner.item_fields = item_fields(d, scope);
        check_references(d.children, inner);
      }
      if (m_known.count(d.step.id) != 0) scope.visible.push_back(d.step.id);
    }
  }

  // Every template in every string below `node`.
  void check_strings(const YamlNode& node, const Scope& scope) {
    if (node.kind == Kind::sequence) {
      for (const auto& item : node.items) check_strings(item, scope);
    } else if (node.kind == Kind::map) {
      for (const auto& entry : node.entries) check_strings(entry.value, scope);
    } else if (node.kind == Kind::scalar && has_template(node.text)) {
      auto parts = split_template(node.text);
      if (!parts) {
        error(node.pos, "invalid template in step " + q(scope.self->label) + ": " + parts.error().message);
        return;
      }
      for (const auto& part : *parts) {
        if (part.is_reference) check_reference(part.reference, node.pos, scope);
      }
    }
  }

  void check_reference(const Reference& ref, Position pos, const Scope& scope) {
    if (auto problem = reference_problem(ref.path, scope)) {
      error(pos, "undefined reference " + q(ref.text) + ": " + *problem);
    }
  }

  std::optional<std::string> reference_problem(const std::vector<std::string>& path, const Scope& scope) {
    const std::string& root = path[0];
    if (root == "pod" || root == "namespace" || root == "case") {
      if (path.size() > 1) return q(root) + " is a string and has no fields";
      return std::nullopt;
    }
    if (root == "params") {
      if (path.size() == 1) return "name a parameter (params.<name>)";
      if (std::find(m_param_names.begin(), m_param_names.end(), path[1]) == m_param_names.end()) {
        if (m_param_names.empty()) return "no parameter " + q(path[1]) + " (the playbook declares none)";
        return "no parameter " + q(path[1]) + suggestion(path[1], m_param_names, "declared");
      }
      if (path.size() > 2) return "parameter " + q(path[1]) + " has no fields";
      return std::nullopt;
    }
    if (root == "steps") return step_reference_problem(path, scope);
    if (root == "item") {
      if (scope.for_each == nullptr) return "\"item\" is only defined in the steps of a for_each";
      if (path.size() > 1 && scope.item_fields &&
          std::find(scope.item_fields->begin(), scope.item_fields->end(), path[1]) == scope.item_fields->end()) {
        return "items of for_each " + q(scope.for_each->label) + " have no field " + q(path[1]) +
               " (has: " + util::join(*scope.item_fields, ", ") + ")";
      }
      return std::nullopt;
    }
    return "unknown name " + q(root) + suggestion(root, k_roots, "known");
  }

  std::optional<std::string> step_reference_problem(const std::vector<std::string>& path, const Scope& scope) {
    if (path.size() == 1) return "name a step (steps.<id>.<output>)";
    const std::string& id = path[1];
    if (std::find(scope.visible.begin(), scope.visible.end(), id) == scope.visible.end()) {
      const auto known = m_known.find(id);
      if (scope.self != nullptr && id == scope.self->step.id) return "a step cannot reference its own outputs";
      if (known == m_known.end()) return "no earlier step " + q(id) + suggestion(id, scope.visible, "");
      if (scope.for_each != nullptr && id == scope.for_each->step.id) {
        return "step " + q(id) + " is still running (this step is inside it)";
      }
      if (!known->second.parent.empty() &&
          (scope.for_each == nullptr || scope.for_each->step.id != known->second.parent)) {
        return "step " + q(id) + " runs inside for_each " + q(known->second.parent) + " (use steps." +
               known->second.parent + ".results)";
      }
      return "no earlier step " + q(id) + " (it comes later, at " + fmt_pos(known->second.pos) + ")";
    }
    if (path.size() == 2) return std::nullopt;
    const StepType* type = m_types.find(m_known.at(id).uses);  // visible ids are all known
    if (type == nullptr) return std::nullopt;                    // its own diagnostic says why
    const std::string& field = path[2];
    const auto output =
        std::find_if(type->outputs.begin(), type->outputs.end(), [&](const OutputSpec& o) { return o.name == field; });
    if (output == type->outputs.end()) {
      if (type->outputs.empty()) return "step " + q(id) + " (" + type->name + ") has no outputs";
      return "step " + q(id) + " (" + type->name + ") has no output " + q(field) +
             " (has: " + util::join(m_types.outputs_of(type->name), ", ") + ")";
    }
    if (path.size() > 3) {
      return "cannot reach inside output " + q(field) + " of step " + q(id) +
             " (iterate a list with for_each and use item)";
    }
    return std::nullopt;
  }

  // The fields each item has when `items` is one reference to a known list output; reports items
  // that name something that is not a list.
  std::optional<std::vector<std::string>> item_fields(const Draft& d, const Scope& outer) {
    const auto it = d.step.with.find("items");
    if (it == d.step.with.end() || !it->is_string()) return std::nullopt;
    const auto ref = single_reference(it->get_ref<const std::string&>());
    if (!ref || reference_problem(ref->path, outer)) return std::nullopt;  // reported already
    const auto& path = ref->path;
    const auto not_a_list = [&](const std::string& is) {
      error(items_pos(d), "option \"items\" of step " + q(d.label) + " must be a list, but " + ref->text + " is " + is);
      return std::nullopt;
    };
    if (path[0] == "pod" || path[0] == "namespace" || path[0] == "case") return not_a_list("a string");
    if (path[0] == "params" && path.size() == 2) {
      for (const auto& name : m_param_names) {
        if (name != path[1]) continue;
        const ParamType type = m_param_types.at(name);
        if (type != ParamType::list) return not_a_list(std::string("a ") + std::string(to_string(type)) + " parameter");
      }
      return std::nullopt;
    }
    if (path[0] == "steps" && path.size() == 3) {
      const StepType* type = m_types.find(m_known.at(path[1]).uses);
      if (type == nullptr) return std::nullopt;
      for (const auto& o : type->outputs) {
        if (o.name != path[2]) continue;
        if (o.type != OutputType::list) {
          return not_a_list(std::string(o.type == OutputType::integer ? "an " : "a ") + std::string(to_string(o.type)));
        }
        if (!o.element_fields.empty()) return o.element_fields;
      }
    }
    return std::nullopt;
  }

  Position items_pos(const Draft& d) {
    for (const auto& [key, val] : d.with->entries) {
      if (key.kind == Kind::scalar && key.text == "items") return val.pos;
    }
    return d.step.pos;
  }

  static Step to_step(Draft&& d) {
    Step s = std::move(d.step);
    for (auto& child : d.children) s.steps.push_back(to_step(std::move(child)));
    return s;
  }

  std::string m_file;
  std::string_view m_text;
  const StepTypes& m_types;
  std::vector<Diagnostic> m_diagnostics;
  std::vector<std::string> m_param_names;
  std::map<std::string, ParamType> m_param_types;
  std::map<std::string, Known> m_known;
};

}  // namespace

std::string Diagnostic::to_string() const {
  return fmt::format("{}:{}:{}: {}", file, pos.line, pos.column, message);
}

std::string_view to_string(ParamType type) {
  switch (type) {
    case ParamType::string:
      return "string";
    case ParamType::boolean:
      return "bool";
    case ParamType::integer:
      return "int";
    case ParamType::list:
      return "list";
  }
  return "?";
}

Result<Playbook> parse_playbook(std::string_view yaml_text, const std::string& file_name, const StepTypes& types,
                                std::vector<Diagnostic>* diagnostics) {
  try {
    std::vector<Diagnostic> found;
    Playbook playbook;
    if (yaml_text.size() > k_max_playbook_bytes) {
      found.push_back(Diagnostic{file_name, Position{1, 1}, "playbook is larger than 1 MiB"});
    } else {
      Position error_pos;
      auto root = detail::load_yaml(yaml_text, &error_pos);
      if (!root) {
        found.push_back(Diagnostic{file_name, error_pos, "yaml: " + root.error().message});
      } else {
        Validator validator(file_name, yaml_text, types);
        playbook = validator.run(*root);
        found = validator.take_diagnostics();
      }
    }
    if (diagnostics != nullptr) *diagnostics = found;
    if (found.empty()) return playbook;
    std::vector<std::string> lines;
    for (const auto& d : found) lines.push_back(d.to_string());
    return fail(Errc::invalid, util::join(lines, "\n"));
  } catch (const std::exception& e) {
    return fail(Errc::failure, file_name + ": internal error: " + e.what());
  }
}

Result<AfterSealSettings> render_after_seal(const Playbook& playbook, const nlohmann::json& scope) {
  try {
    AfterSealSettings out;
    if (!playbook.after_seal.report.is_null()) {
      auto r = render(playbook.after_seal.report, scope);
      if (!r) return unexpected(Error(Errc::usage, r.error().message).context("playbook key \"report\""));
      if (!r->is_boolean()) {
        return fail(Errc::usage, "playbook key \"report\" must be a bool, got " + describe_value(*r));
      }
      out.report = r->get<bool>();
    }
    if (!playbook.after_seal.upload.is_null()) {
      auto r = render(playbook.after_seal.upload, scope);
      if (!r) return unexpected(Error(Errc::usage, r.error().message).context("playbook key \"upload\""));
      if (r->is_null()) return out;  // a string parameter without a default
      if (!r->is_string()) {
        return fail(Errc::usage, "playbook key \"upload\" must be a string, got " + describe_value(*r));
      }
      out.upload = r->get<std::string>();
    }
    return out;
  } catch (const std::exception& e) {
    return fail(Errc::failure, std::string("report/upload: internal error: ") + e.what());
  }
}

Result<nlohmann::json> resolve_params(const Playbook& playbook, const std::map<std::string, std::string>& given) {
  try {
    std::vector<std::string> names;
    for (const auto& p : playbook.params) names.push_back(p.name);
    nlohmann::json out = nlohmann::json::object();
    for (const auto& entry : given) {
      const std::string& name = entry.first;  // not a structured binding: clang 14 cannot capture those
      const std::string& text = entry.second;
      const auto param =
          std::find_if(playbook.params.begin(), playbook.params.end(), [&](const Param& p) { return p.name == name; });
      if (param == playbook.params.end()) {
        if (names.empty()) return fail(Errc::usage, "unknown parameter " + q(name) + ": the playbook takes none");
        return fail(Errc::usage, "unknown parameter " + q(name) + suggestion(name, names, "parameters"));
      }
      const auto bad = [&](std::string_view want) {
        return fail(Errc::usage, fmt::format("parameter {} must be {}, got {}", q(name), want, q(text)));
      };
      switch (param->type) {
        case ParamType::string:
          out[name] = text;
          break;
        case ParamType::boolean: {
          const std::string lower = util::to_lower(text);
          if (lower != "true" && lower != "false") return bad("true or false");
          out[name] = lower == "true";
          break;
        }
        case ParamType::integer: {
          std::int64_t n = 0;
          const auto r = std::from_chars(text.data(), text.data() + text.size(), n);
          if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size()) return bad("an integer");
          out[name] = n;
          break;
        }
        case ParamType::list: {
          nlohmann::json items = nlohmann::json::array();
          for (const auto& item : util::split(text, ',')) {
            const std::string_view trimmed = util::trim(item);
            if (!trimmed.empty()) items.push_back(std::string(trimmed));
          }
          out[name] = std::move(items);
          break;
        }
      }
    }
    for (const auto& p : playbook.params) {
      if (out.contains(p.name)) continue;
      if (p.required)
        return fail(Errc::usage, "missing required parameter " + q(p.name) + " (--param " + p.name + "=...)");
      out[p.name] = p.default_value;
    }
    return out;
  } catch (const std::exception& e) {
    return fail(Errc::failure, std::string("parameters: internal error: ") + e.what());
  }
}

Result<std::chrono::seconds> parse_duration(std::string_view text) {
  static constexpr std::pair<char, long long> k_units[] = {{'h', 3600}, {'m', 60}, {'s', 1}};
  long long total = 0;
  std::size_t pos = 0;
  std::size_t next_unit = 0;  // units go h, m, s, each at most once
  while (pos < text.size()) {
    const std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start || pos - start > 6 || pos == text.size()) break;
    const long long n = std::stoll(std::string(text.substr(start, pos - start)));
    std::size_t unit = next_unit;
    while (unit < std::size(k_units) && k_units[unit].first != text[pos]) ++unit;
    if (unit == std::size(k_units)) break;
    total += n * k_units[unit].second;
    next_unit = unit + 1;
    ++pos;
    if (pos == text.size() && total > 0) return std::chrono::seconds(total);
  }
  return fail(Errc::invalid, "invalid duration " + q(text) + ": want " + std::string(k_duration_hint));
}

const Step* find_step(const Playbook& playbook, std::string_view id) {
  const auto search = [&](const auto& self, const std::vector<Step>& steps) -> const Step* {
    for (const auto& s : steps) {
      if (s.id == id) return &s;
      if (const Step* found = self(self, s.steps)) return found;
    }
    return nullptr;
  };
  return search(search, playbook.steps);
}

}  // namespace ir::playbook
