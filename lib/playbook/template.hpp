#pragma once
// Templates in playbook values: "{{ params.ingress }}", "case-{{ case }}". A template holds one
// dotted reference into the run's scope:
//   {"pod": "...", "namespace": "...", "case": "...", "params": {name: value},
//    "steps": {id: {output: value}}, "item": <the for_each element>}
// The references themselves (which names exist, which steps come earlier) are checked by the
// validator (parse_playbook); this file only knows the syntax and how to render.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.hpp"

namespace ir::playbook {

// A dotted reference: `text` as written ("steps.siblings.pods"), split into `path`
// ({"steps", "siblings", "pods"}). `offset` is where `text` starts in the string it was read from.
struct Reference {
  std::string text;
  std::vector<std::string> path;
  std::size_t offset = 0;
};

// Splits "a.b.c" into segments when it is a well-formed reference: segments of [A-Za-z0-9_-],
// the first starting with a letter or '_'. nullopt otherwise.
std::optional<std::vector<std::string>> parse_reference(std::string_view text);

// One piece of a string: literal text, or a reference written as "{{ ref }}".
struct TemplatePart {
  bool is_reference = false;
  std::string literal;  // when !is_reference
  Reference reference;  // when is_reference; offset of the reference text itself
};

// Splits a string into literal text and "{{ ref }}" references (white space inside the braces is
// optional). Errc::invalid on "{{" without "}}", an empty "{{ }}" or braces around something that
// is not a reference; *error_offset (if given) is then the offset of the offending "{{".
Result<std::vector<TemplatePart>> split_template(std::string_view s, std::size_t* error_offset = nullptr);

// The reference when `s` is exactly one template ("{{ params.x }}", nothing around the braces):
// such a string renders to the referenced value with its JSON type. nullopt otherwise.
std::optional<Reference> single_reference(std::string_view s);

// Whether `s` contains "{{" (that is, it needs rendering or is malformed).
bool has_template(std::string_view s);

// The value `path` names in `scope`, walking objects by key and arrays by decimal index; nullptr
// if any segment is missing. The pointer is into `scope`.
const nlohmann::json* lookup(const nlohmann::json& scope, const std::vector<std::string>& path);

// Renders every string inside `value` (deeply: object values and list elements; object keys are
// kept as written). A string that is exactly one template becomes the referenced value itself
// (bool, number, list, object...); a string mixing text and templates stays a string, each value
// converted: strings as is, everything else as compact JSON ("true", "3", "null", "[\"a\"]").
// Errc::invalid naming the reference ("undefined reference \"steps.x.count\"") when one is not in
// `scope`, or naming the malformed template. Never throws.
Result<nlohmann::json> render(const nlohmann::json& value, const nlohmann::json& scope);

// A one-line description of a value for messages: `string "yes please"`, `int 3`, `number 1.5`,
// `bool true`, `null`, `list`, `map` (long strings are cut, control bytes escaped).
std::string describe_value(const nlohmann::json& value);

// The JSON text of a value without throwing (invalid UTF-8 in strings is replaced).
std::string to_json_text(const nlohmann::json& value);

}  // namespace ir::playbook
