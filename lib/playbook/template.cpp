#include "playbook/template.hpp"

#include <exception>

#include "util/escape.hpp"
#include "util/strings.hpp"

namespace ir::playbook {

namespace {

constexpr std::string_view k_open = "{{";
constexpr std::string_view k_close = "}}";

bool is_segment_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// Renders one string; `out` receives the typed value or the text.
Result<nlohmann::json> render_string(const std::string& s, const nlohmann::json& scope) {
  if (!has_template(s)) return nlohmann::json(s);
  IR_TRY(parts, split_template(s));
  const auto value_of = [&](const Reference& ref) -> Result<const nlohmann::json*> {
    const nlohmann::json* v = lookup(scope, ref.path);
    if (v == nullptr) return fail(Errc::invalid, "undefined reference " + util::quoted(ref.text, util::Cap::word));
    return v;
  };
  if (parts.size() == 1 && parts[0].is_reference) {
    IR_TRY(v, value_of(parts[0].reference));
    return *v;
  }
  std::string text;
  for (const auto& part : parts) {
    if (!part.is_reference) {
      text += part.literal;
      continue;
    }
    IR_TRY(v, value_of(part.reference));
    text += v->is_string() ? v->get_ref<const std::string&>() : to_json_text(*v);
  }
  return nlohmann::json(std::move(text));
}

Result<nlohmann::json> render_value(const nlohmann::json& value, const nlohmann::json& scope) {
  if (value.is_string()) return render_string(value.get_ref<const std::string&>(), scope);
  if (value.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      IR_TRY(v, render_value(it.value(), scope));
      out[it.key()] = std::move(v);
    }
    return out;
  }
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& element : value) {
      IR_TRY(v, render_value(element, scope));
      out.push_back(std::move(v));
    }
    return out;
  }
  return value;
}

}  // namespace

std::optional<std::vector<std::string>> parse_reference(std::string_view text) {
  if (text.empty()) return std::nullopt;
  const char first = text.front();
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || first == '_')) return std::nullopt;
  std::vector<std::string> path;
  std::string segment;
  for (const char c : text) {
    if (c == '.') {
      if (segment.empty()) return std::nullopt;
      path.push_back(std::move(segment));
      segment.clear();
    } else if (is_segment_char(c)) {
      segment += c;
    } else {
      return std::nullopt;
    }
  }
  if (segment.empty()) return std::nullopt;
  path.push_back(std::move(segment));
  return path;
}

Result<std::vector<TemplatePart>> split_template(std::string_view s, std::size_t* error_offset) {
  std::vector<TemplatePart> parts;
  std::size_t pos = 0;
  const auto error = [&](std::size_t at, std::string message) {
    if (error_offset != nullptr) *error_offset = at;
    return fail(Errc::invalid, std::move(message));
  };
  while (pos < s.size()) {
    const std::size_t open = s.find(k_open, pos);
    if (open == std::string_view::npos) {
      parts.push_back(TemplatePart{false, std::string(s.substr(pos)), {}});
      break;
    }
    if (open > pos) parts.push_back(TemplatePart{false, std::string(s.substr(pos, open - pos)), {}});
    const std::size_t close = s.find(k_close, open + k_open.size());
    if (close == std::string_view::npos) return error(open, "\"{{\" without a closing \"}}\"");
    const std::string_view raw = s.substr(open + k_open.size(), close - open - k_open.size());
    const std::string_view inner = util::trim(raw);
    const std::size_t inner_offset = open + k_open.size() + static_cast<std::size_t>(inner.data() - raw.data());
    if (inner.empty()) return error(open, "empty template \"{{ }}\"");
    auto path = parse_reference(inner);
    if (!path) {
      return error(open, "template " + util::quoted(s.substr(open, close + k_close.size() - open), util::Cap::word) +
                             " is not a reference (like {{ params.name }} or {{ steps.id.output }})");
    }
    parts.push_back(TemplatePart{true, {}, Reference{std::string(inner), std::move(*path), inner_offset}});
    pos = close + k_close.size();
  }
  return parts;
}

std::optional<Reference> single_reference(std::string_view s) {
  if (s.substr(0, k_open.size()) != k_open) return std::nullopt;
  auto parts = split_template(s);
  if (!parts || parts->size() != 1 || !(*parts)[0].is_reference) return std::nullopt;
  return std::move((*parts)[0].reference);
}

bool has_template(std::string_view s) {
  return s.find(k_open) != std::string_view::npos;
}

const nlohmann::json* lookup(const nlohmann::json& scope, const std::vector<std::string>& path) {
  const nlohmann::json* current = &scope;
  for (const auto& segment : path) {
    if (current->is_object()) {
      const auto it = current->find(segment);
      if (it == current->end()) return nullptr;
      current = &*it;
    } else if (current->is_array()) {
      if (segment.empty() || segment.size() > 9 || segment.find_first_not_of("0123456789") != std::string::npos) {
        return nullptr;
      }
      const auto index = static_cast<std::size_t>(std::stoul(segment));
      if (index >= current->size()) return nullptr;
      current = &(*current)[index];
    } else {
      return nullptr;
    }
  }
  return current;
}

Result<nlohmann::json> render(const nlohmann::json& value, const nlohmann::json& scope) {
  try {
    return render_value(value, scope);
  } catch (const std::exception& e) {
    return fail(Errc::failure, std::string("render: internal error: ") + e.what());
  }
}

std::string describe_value(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::string:
      return "string " + util::quoted(value.get_ref<const std::string&>(), util::Cap::word);
    case nlohmann::json::value_t::boolean:
      return value.get<bool>() ? "bool true" : "bool false";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return "int " + to_json_text(value);
    case nlohmann::json::value_t::number_float:
      return "number " + to_json_text(value);
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::array:
      return "list";
    case nlohmann::json::value_t::object:
      return "map";
    default:
      return "value";
  }
}

std::string to_json_text(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ir::playbook
