#include "cmd/output.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "util/strings.hpp"

namespace ir::cli {

namespace {

constexpr std::size_t k_max_cell = 512;  // bytes of one table cell shown (image references can be long)

// Replaces each byte that does not start a valid UTF-8 sequence with U+FFFD, as JSON output does
// (YAML must be Unicode; yaml-cpp would pass the bytes through).
std::string valid_utf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = n != 0 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && n > 1) {
      // Overlong forms, surrogates and values past U+10FFFF are invalid too (RFC 3629 §3).
      unsigned cp = c & (0xFF >> (n + 1));
      for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      static constexpr unsigned k_min[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= k_min[n] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (ok) {
      out.append(s, i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

bool is_yaml_number_like(const std::string& s) {
  // Anything starting like a number (ints, floats, 0x/0o, 1_000, dates, versions) or YAML's
  // special floats: quoted, as kubectl does, so a reader never retypes it.
  if (s[0] >= '0' && s[0] <= '9') return true;
  if ((s[0] == '-' || s[0] == '+' || s[0] == '.') && s.size() > 1 && s[1] >= '0' && s[1] <= '9') return true;
  const std::string l = util::to_lower(s);
  return l == ".inf" || l == "-.inf" || l == "+.inf" || l == ".nan";
}

bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  static const char* const k_retyped[] = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"};
  const std::string l = util::to_lower(s);
  for (const char* w : k_retyped) {
    if (l == w) return true;
  }
  return is_yaml_number_like(s);  // yaml-cpp quotes what would be misread (": ", "#", "- ", ...) itself
}

void emit_string(YAML::Emitter& out, const std::string& raw) {
  const std::string s = valid_utf8(raw);
  if (needs_quotes(s)) out << YAML::DoubleQuoted;
  out << s;
}

void emit(YAML::Emitter& out, const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::object:
      if (v.empty()) out << YAML::Flow;  // "{}" on the key's line
      out << YAML::BeginMap;
      for (auto it = v.begin(); it != v.end(); ++it) {
        out << YAML::Key;
        emit_string(out, it.key());
        out << YAML::Value;
        emit(out, it.value());
      }
      out << YAML::EndMap;
      break;
    case nlohmann::json::value_t::array:
      if (v.empty()) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const auto& e : v) emit(out, e);
      out << YAML::EndSeq;
      break;
    case nlohmann::json::value_t::string: emit_string(out, v.get_ref<const std::string&>()); break;
    case nlohmann::json::value_t::boolean: out << v.get<bool>(); break;
    case nlohmann::json::value_t::number_integer: out << v.get<long long>(); break;
    case nlohmann::json::value_t::number_unsigned: out << v.get<unsigned long long>(); break;
    case nlohmann::json::value_t::number_float: out << v.get<double>(); break;
    default: out << YAML::Null; break;
  }
}

// Display width of an escaped cell: escaped text is printable UTF-8, one column per code point
// (wide East Asian characters are not measured; names are DNS labels in practice).
std::size_t width(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

}  // namespace

const char* to_string(OutputFormat format) {
  switch (format) {
    case OutputFormat::table: return "table";
    case OutputFormat::json: return "json";
    case OutputFormat::yaml: return "yaml";
    case OutputFormat::name: return "name";
  }
  return "table";
}

Result<OutputFormat> parse_output_format(const std::string& text, std::initializer_list<OutputFormat> allowed) {
  std::vector<std::string> names;
  for (const auto f : allowed) {
    names.emplace_back(to_string(f));
    if (text == to_string(f) || (text.empty() && f == OutputFormat::table)) return f;
  }
  return fail(Errc::usage, fmt::format("invalid output format \"{}\": want one of {}",
                                       util::escape_for_terminal(text, 64), util::join(names, ", ")));
}

std::string to_json(const nlohmann::json& value) {
  return value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string to_yaml(const nlohmann::json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit(out, value);
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += '\n';
  return s;
}

Table::Table(std::vector<std::string> headers) : m_headers(std::move(headers)) {}

void Table::add_row(std::vector<std::string> cells, util::Text kind) {
  cells.resize(m_headers.size());
  for (auto& c : cells) c = util::visible_text(c, kind, k_max_cell);
  m_lines.push_back(std::move(cells));
  ++m_rows;
}

void Table::add_break() {
  if (!m_lines.empty() && !m_lines.back().empty()) m_lines.emplace_back();
}

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> widths;
  for (const auto& h : m_headers) widths.push_back(width(h));
  for (const auto& line : m_lines) {
    for (std::size_t i = 0; i < line.size(); ++i) widths[i] = std::max(widths[i], width(line[i]));
  }
  const auto print_line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      text += cells[i];
      if (i + 1 < cells.size()) text.append(widths[i] - width(cells[i]) + 3, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << '\n';
  };
  print_line(m_headers);
  for (std::size_t n = 0; n < m_lines.size(); ++n) {
    if (m_lines[n].empty()) {
      if (n + 1 < m_lines.size()) out << '\n';  // no trailing blank line
      continue;
    }
    print_line(m_lines[n]);
  }
}

std::string human_duration(std::chrono::seconds d) {
  // k8s.io/apimachinery/pkg/util/duration.HumanDuration, rule for rule.
  const long long s = d.count();
  if (s < 0) return "0s";
  if (s < 60 * 2) return fmt::format("{}s", s);
  const long long m = s / 60;
  if (m < 10) return s % 60 == 0 ? fmt::format("{}m", m) : fmt::format("{}m{}s", m, s % 60);
  if (m < 60 * 3) return fmt::format("{}m", m);
  const long long h = s / 3600;
  if (h < 8) return m % 60 == 0 ? fmt::format("{}h", h) : fmt::format("{}h{}m", h, m % 60);
  if (h < 48) return fmt::format("{}h", h);
  if (h < 24 * 8) return h % 24 == 0 ? fmt::format("{}d", h / 24) : fmt::format("{}d{}h", h / 24, h % 24);
  if (h < 24 * 365 * 2) return fmt::format("{}d", h / 24);
  if (h < 24 * 365 * 8) {
    const long long dy = (h / 24) % 365;
    return dy == 0 ? fmt::format("{}y", h / 24 / 365) : fmt::format("{}y{}d", h / 24 / 365, dy);
  }
  return fmt::format("{}y", h / 24 / 365);
}

std::string age_of(const std::string& rfc3339, util::TimePoint now) {
  const auto t = util::parse_rfc3339(rfc3339);
  if (!t) return "<unknown>";
  return human_duration(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
}

std::string pod_name_ref(const std::string& namespace_name, const std::string& name) {
  return namespace_name + "/pod/" + name;
}

Result<PodRef> parse_pod_ref(const std::string& text) {
  const auto parts = util::split(text, '/');
  const auto is_pod = [](const std::string& s) { return s == "pod" || s == "pods" || s == "po"; };
  const bool ok = std::all_of(parts.begin(), parts.end(), [](const std::string& p) { return !p.empty(); });
  if (ok && parts.size() == 1) return PodRef{"", parts[0]};
  if (ok && parts.size() == 2 && is_pod(parts[0])) return PodRef{"", parts[1]};
  if (ok && parts.size() == 3 && is_pod(parts[1])) return PodRef{parts[0], parts[2]};
  return fail(Errc::usage, fmt::format("invalid pod \"{}\": want NAME, pod/NAME or NAMESPACE/pod/NAME",
                                       util::escape_for_terminal(text, 256)));
}

Result<SummaryOutput> parse_summary_output(const std::string& output, const std::string& bundle) {
  SummaryOutput out;
  out.bundle = bundle;
  const auto ends_with = [&](std::string_view suffix) {
    return output.size() > suffix.size() && output.compare(output.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (output.empty() || output == "table") return out;
  if (output == "json" || output == "yaml") {
    out.format = output == "json" ? OutputFormat::json : OutputFormat::yaml;
    return out;
  }
  if (ends_with(".tar.gz") || ends_with(".tgz")) {
    if (!bundle.empty() && bundle != output) {
      return fail(Errc::usage, "two bundle paths: -o " + util::quoted(output, util::Cap::path) + " and --bundle " +
                                   util::quoted(bundle, util::Cap::path));
    }
    out.bundle = output;
    return out;
  }
  return unexpected(Error(Errc::usage, "invalid -o " + util::quoted(output, util::Cap::word) + ": want table, json or yaml")
                        .with_hint("the bundle's path is --bundle PATH (-O PATH)"));
}

}  // namespace ir::cli
