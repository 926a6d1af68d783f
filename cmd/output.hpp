#pragma once
// Shared output helpers for commands that print data (-o json|yaml|table|name).

#include <string>

#include <nlohmann/json.hpp>

namespace ir::cli {

// Block-style YAML for a JSON value (yaml-cpp's emitter; strings quoted where YAML would
// misread them; object keys in the JSON's order). Deterministic.
std::string to_yaml(const nlohmann::json& value);

}  // namespace ir::cli
