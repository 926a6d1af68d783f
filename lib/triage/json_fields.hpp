#pragma once
// Reading fields of API objects that may lack them (or hold another type): never throws.

#include <string>

#include <nlohmann/json.hpp>

namespace ir::triage::json_fields {

// j[key] when `j` is an object holding `key`, else a null value (never a reference to a temporary).
inline const nlohmann::json& member(const nlohmann::json& j, const char* key) {
  static const nlohmann::json k_null;
  if (!j.is_object()) return k_null;
  auto it = j.find(key);
  return it != j.end() ? *it : k_null;
}

// j[key] when it is a string, else "".
inline std::string str(const nlohmann::json& j, const char* key) {
  const nlohmann::json& v = member(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

}  // namespace ir::triage::json_fields
