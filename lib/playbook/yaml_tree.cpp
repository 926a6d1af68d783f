#include "playbook/yaml_tree.hpp"

#include <charconv>
#include <exception>
#include <optional>
#include <sstream>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "util/strings.hpp"

namespace ir::playbook::detail {

namespace {

// A playbook is a page of YAML; these bound what a hostile one can cost (aliases can expand a
// small file exponentially, and an alias can even refer to the node that contains it).
constexpr int k_max_depth = 64;
constexpr std::size_t k_max_nodes = 100000;

struct LimitExceeded {
  Position pos;
  std::string message;
};

Position position_of(const YAML::Mark& mark) {
  if (mark.line < 0 || mark.column < 0) return Position{1, 1};
  return Position{mark.line + 1, mark.column + 1};
}

class Converter {
 public:
  explicit Converter(std::string_view text) : m_text(text) {}

  YamlNode convert(const YAML::Node& node, int depth) {
    YamlNode out;
    const YAML::Mark mark = node.Mark();
    out.pos = position_of(mark);
    out.offset = mark.pos > 0 ? static_cast<std::size_t>(mark.pos) : 0;
    if (++m_nodes > k_max_nodes) throw LimitExceeded{out.pos, "more than 100000 nodes (aliases expanding?)"};
    if (depth > k_max_depth) throw LimitExceeded{out.pos, "nested deeper than 64 levels"};
    switch (node.Type()) {
      case YAML::NodeType::Scalar: {
        out.kind = YamlNode::Kind::scalar;
        out.text = node.Scalar();
        const std::string& tag = node.Tag();
        // "?" = plain, "!" = quoted or block; an explicit core tag other than !!str types as plain.
        out.plain = tag == "?" || (tag.rfind("tag:yaml.org,2002:", 0) == 0 && tag != "tag:yaml.org,2002:str");
        break;
      }
      case YAML::NodeType::Sequence:
        out.kind = YamlNode::Kind::sequence;
        for (const auto& item : node) out.items.push_back(convert(item, depth + 1));
        break;
      case YAML::NodeType::Map:
        out.kind = YamlNode::Kind::map;
        for (auto it = node.begin(); it != node.end(); ++it) {
          YamlNode key = convert(it->first, depth + 1);
          YamlNode value = convert(it->second, depth + 1);
          // yaml-cpp marks an empty value ("with:") at the next token, possibly lines below: point
          // at its key instead.
          if (value.kind == YamlNode::Kind::null && !is_written_null(value.offset)) {
            value.pos = key.pos;
            value.offset = key.offset;
          }
          out.entries.push_back(YamlEntry{std::move(key), std::move(value)});
        }
        break;
      default:
        out.kind = YamlNode::Kind::null;
        break;
    }
    return out;
  }

 private:
  [[nodiscard]] bool is_written_null(std::size_t offset) const {
    if (offset >= m_text.size()) return false;
    const std::string_view at = m_text.substr(offset);
    return at[0] == '~' || at.rfind("null", 0) == 0 || at.rfind("Null", 0) == 0 || at.rfind("NULL", 0) == 0;
  }

  std::string_view m_text;
  std::size_t m_nodes = 0;
};

bool all_of(std::string_view s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}
bool is_dec(char c) {
  return c >= '0' && c <= '9';
}
bool is_hex(char c) {
  return is_dec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_oct(char c) {
  return c >= '0' && c <= '7';
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?  (YAML 1.2 core schema float)
bool is_core_float(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  std::size_t int_digits = 0;
  while (i < s.size() && is_dec(s[i])) ++i, ++int_digits;
  std::size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_dec(s[i])) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    std::size_t exp_digits = 0;
    while (i < s.size() && is_dec(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

nlohmann::json plain_scalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  const std::string_view v = s;
  const std::string_view unsigned_part = (v[0] == '-' || v[0] == '+') ? v.substr(1) : v;
  if (all_of(unsigned_part, is_dec)) {
    std::int64_t n = 0;
    const char* begin = v[0] == '+' ? v.data() + 1 : v.data();
    const auto r = std::from_chars(begin, v.data() + v.size(), n);
    if (r.ec == std::errc() && r.ptr == v.data() + v.size()) return n;
    double d = 0;
    std::from_chars(begin, v.data() + v.size(), d);
    return d;
  }
  const auto radix = [&](std::string_view prefix, bool (*pred)(char), int base) -> std::optional<nlohmann::json> {
    if (v.substr(0, 2) != prefix || !all_of(v.substr(2), pred)) return std::nullopt;
    std::int64_t n = 0;
    const auto r = std::from_chars(v.data() + 2, v.data() + v.size(), n, base);
    if (r.ec != std::errc()) return std::nullopt;
    return nlohmann::json(n);
  };
  if (auto n = radix("0x", is_hex, 16)) return *n;
  if (auto n = radix("0o", is_oct, 8)) return *n;
  if (is_core_float(v)) {
    double d = 0;
    const char* begin = v[0] == '+' ? v.data() + 1 : v.data();
    const auto r = std::from_chars(begin, v.data() + v.size(), d);
    if (r.ec == std::errc()) return d;
  }
  return s;
}

// Where the second document of a stream starts, if there is one. YAML::LoadAll is not used: in
// yaml-cpp 0.7 it loops forever, allocating, on a stray "," (jbeder/yaml-cpp#1040, fixed by #1319
// in 0.8.1); this asks the parser for at most two documents.
class DocumentProbe : public YAML::EventHandler {
 public:
  static std::optional<Position> second_document(const std::string& text) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentProbe first;
    if (!parser.HandleNextDocument(first)) return std::nullopt;
    DocumentProbe second;
    if (!parser.HandleNextDocument(second)) return std::nullopt;
    return second.m_start;
  }

  void OnDocumentStart(const YAML::Mark& mark) override { m_start = position_of(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  Position m_start{1, 1};
};

}  // namespace

Result<YamlNode> load_yaml(std::string_view text, Position* error_pos) {
  const auto error = [&](Position pos, std::string message) {
    if (error_pos != nullptr) *error_pos = pos;
    return fail(Errc::invalid, std::move(message));
  };
  try {
    const std::string copy(text);
    const YAML::Node document = YAML::Load(copy);
    if (const auto second = DocumentProbe::second_document(copy)) {
      return error(*second, "a playbook is one YAML document; another one starts here");
    }
    return Converter(text).convert(document, 0);  // an empty stream is a null node at 1:1
  } catch (const LimitExceeded& e) {
    return error(e.pos, e.message);
  } catch (const YAML::DeepRecursion& e) {
    return error(position_of(e.mark), "nested too deeply");  // yaml-cpp 0.7 says "bad file"
  } catch (const YAML::Exception& e) {
    // The message can quote the offending byte raw ("unknown escape character: \n").
    return error(position_of(e.mark), util::escape_for_terminal(e.msg, 200));
  } catch (const std::exception& e) {
    return error(Position{1, 1}, util::escape_for_terminal(e.what(), 200));
  }
}

nlohmann::json to_json(const YamlNode& node) {
  switch (node.kind) {
    case YamlNode::Kind::null:
      return nullptr;
    case YamlNode::Kind::scalar:
      return node.plain ? plain_scalar(node.text) : nlohmann::json(node.text);
    case YamlNode::Kind::sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node.items) out.push_back(to_json(item));
      return out;
    }
    case YamlNode::Kind::map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& [key, value] : node.entries) {
        const std::string name = key.kind == YamlNode::Kind::scalar ? key.text : "";
        if (!out.contains(name)) out[name] = to_json(value);
      }
      return out;
    }
  }
  return nullptr;
}

Position position_in_scalar(const YamlNode& node, std::string_view text, std::size_t offset_in_value) {
  if (node.kind != YamlNode::Kind::scalar || node.offset >= text.size() || offset_in_value > node.text.size()) {
    return node.pos;
  }
  const char first = text[node.offset];
  const std::size_t quote = (first == '"' || first == '\'') ? 1 : 0;
  const std::string_view prefix = std::string_view(node.text).substr(0, offset_in_value);
  const std::size_t start = node.offset + quote;
  if (start > text.size() || text.substr(start, prefix.size()) != prefix ||
      prefix.find('\n') != std::string_view::npos) {
    return node.pos;
  }
  return Position{node.pos.line, node.pos.column + static_cast<int>(quote + offset_in_value)};
}

}  // namespace ir::playbook::detail
