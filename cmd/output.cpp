#include "cmd/output.hpp"

#include <yaml-cpp/yaml.h>

namespace ir::cli {

namespace {

void emit(YAML::Emitter& out, const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::object:
      out << YAML::BeginMap;
      for (auto it = v.begin(); it != v.end(); ++it) {
        out << YAML::Key << it.key() << YAML::Value;
        emit(out, it.value());
      }
      out << YAML::EndMap;
      break;
    case nlohmann::json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& e : v) emit(out, e);
      out << YAML::EndSeq;
      break;
    case nlohmann::json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      // yaml-cpp leaves "true", "123", "null" unquoted: quote anything a YAML reader would retype.
      // Also anything starting with a digit (numbers, timestamps, versions), as kubectl does.
      const bool retyped = s.empty() || s == "true" || s == "false" || s == "null" || s == "~" || s == "yes" ||
                           s == "no" || s == "on" || s == "off" || (s[0] >= '0' && s[0] <= '9') ||
                           s.find_first_not_of("0123456789.-+eE") == std::string::npos;
      if (retyped) out << YAML::DoubleQuoted;
      out << s;
      break;
    }
    case nlohmann::json::value_t::boolean: out << v.get<bool>(); break;
    case nlohmann::json::value_t::number_integer: out << v.get<long long>(); break;
    case nlohmann::json::value_t::number_unsigned: out << v.get<unsigned long long>(); break;
    case nlohmann::json::value_t::number_float: out << v.get<double>(); break;
    default: out << YAML::Null; break;
  }
}

}  // namespace

std::string to_yaml(const nlohmann::json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit(out, value);
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += '\n';
  return s;
}

}  // namespace ir::cli
