#pragma once
// The playbook language: a YAML file naming a sequence of triage steps (isolate, collect,
// siblings...) with parameters, templates and conditions. This header holds the model and its
// parser/validator; templates are in template.hpp, conditions in condition.hpp, the step types in
// step_types.hpp, the playbooks shipped with kubectl-ir in embedded.hpp. The format is documented
// in playbooks/README.md. Everything here is pure: no network, no files, no exceptions out.

#include <chrono>
#include <compare>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.hpp"

namespace ir::playbook {

// A place in a playbook file, 1-based (line 0 = unknown). Columns count bytes.
struct Position {
  int line = 0;
  int column = 0;
  friend auto operator<=>(const Position&, const Position&) = default;
};

// One problem found in a playbook.
struct Diagnostic {
  std::string file;
  Position pos;
  std::string message;  // one line, user strings escaped
  // "file:line:col: message".
  [[nodiscard]] std::string to_string() const;
};

// What the runner does when a step fails.
enum class OnError { abort, continue_ };

// The type of a parameter; `list` is a list of strings ("a,b,c" on the command line).
enum class ParamType { string, boolean, integer, list };

// "string", "bool", "int" or "list", as written in a playbook.
std::string_view to_string(ParamType type);

// A declared parameter (`params:`), set on the command line with --param name=value.
struct Param {
  std::string name;
  ParamType type = ParamType::string;
  nlohmann::json default_value;  // null when there is none; else of `type` (a list holds strings)
  bool required = false;         // never together with a default
  std::string description;
  Position pos;  // of the name
};

// One step. `with` holds the options as written (templates unrendered), normalised: string
// options are JSON strings (a number written for a string option becomes its text), sizes are
// strings ("64Mi"; a literal int becomes its decimal text); a for_each's `steps` are moved out of
// `with` into `steps`.
struct Step {
  std::string id;
  std::string uses;
  std::string description;
  nlohmann::json with = nlohmann::json::object();
  std::string when;  // "" = always; else a condition (condition.hpp), already checked to parse
  OnError on_error = OnError::abort;
  std::chrono::seconds timeout{0};  // 0 = none
  std::vector<Step> steps;          // for_each: the steps run for each item
  Position pos;                     // of the step's map
};

// What `kubectl ir run` does with the run's own bundle once it is sealed, set by top-level keys.
// No step can: the bundle is not finished while steps run (the steps `sign` and `upload` act on
// files that already exist). Values as written, templates unrendered:
//   report: true                      # write the HTML page beside the bundle
//   upload: "{{ params.upload }}"     # s3://BUCKET/PREFIX, or "" for none
// `report` is null (not set), a bool, or exactly one template naming a bool parameter; `upload` is
// null or a string whose templates name only params, pod, namespace or case (checked by
// parse_playbook).
struct AfterSeal {
  nlohmann::json report;
  nlohmann::json upload;
};

struct Playbook {
  std::string name;
  std::string description;
  std::string file;  // the file name given to parse_playbook
  std::vector<Param> params;
  std::vector<Step> steps;
  AfterSeal after_seal;
};

// The after-seal settings of a run, rendered.
struct AfterSealSettings {
  bool report = false;
  std::string upload;  // "" = none
};

// Renders playbook.after_seal over `scope` ({"pod","namespace","case","params"}, as for steps).
// Errc::usage when `report` does not render to a bool or `upload` to a string (a parameter given
// the wrong type), naming the key. Never throws.
Result<AfterSealSettings> render_after_seal(const Playbook& playbook, const nlohmann::json& scope);

class StepTypes;  // step_types.hpp

// Parses and validates a playbook against the step types `types` (run::step_types() for the real
// verbs). `file_name` is only used in diagnostics and Playbook::file. All
// problems are reported, each with the position of the node at fault, sorted by position; on any
// problem the result is Errc::invalid whose message is the diagnostics' to_string() joined by
// '\n', and `diagnostics` (if given) receives them. Never throws.
Result<Playbook> parse_playbook(std::string_view yaml_text, const std::string& file_name, const StepTypes& types,
                                std::vector<Diagnostic>* diagnostics = nullptr);

// The parameter values for a run: `given` ("--param k=v", as strings) converted to the declared
// types (bool: true/false, any case; int: decimal; list: comma-separated, items trimmed), merged
// with the defaults; a parameter with neither is null. Returns an object name -> value.
// Errc::usage for an unknown parameter (with a did-you-mean), a value that does not convert, or a
// missing required parameter. Never throws.
Result<nlohmann::json> resolve_params(const Playbook& playbook, const std::map<std::string, std::string>& given);

// Parses a playbook duration: hours, minutes and seconds in that order, each optional but at least
// one ("30s", "2m", "1h", "1m30s", "1h0m5s"); > 0. Errc::invalid otherwise. Never throws.
Result<std::chrono::seconds> parse_duration(std::string_view text);

// The step called `id` anywhere in the playbook (nested for_each steps included), or nullptr.
const Step* find_step(const Playbook& playbook, std::string_view id);

}  // namespace ir::playbook
