#pragma once
// Internal to the playbook module: YAML text -> a tree that remembers where each node is, so the
// validator can point at it. yaml-cpp is only touched here, and its exceptions stay here.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "playbook/playbook.hpp"
#include "util/result.hpp"

namespace ir::playbook::detail {

struct YamlEntry;

struct YamlNode {
  enum class Kind { null, scalar, sequence, map };
  Kind kind = Kind::null;
  Position pos;                    // where the node starts (for an empty value: its key)
  std::size_t offset = 0;          // byte offset of `pos` in the text
  std::string text;                // a scalar's value
  bool plain = true;               // false for quoted and block scalars and !!str: always a string
  std::vector<YamlNode> items;     // sequence
  std::vector<YamlEntry> entries;  // map, in document order (duplicates kept)
};

// One key: value of a map. (Not a std::pair: a pair of an incomplete type is ill-formed.)
struct YamlEntry {
  YamlNode key;
  YamlNode value;
};

// Parses the text as one YAML document. On a syntax error (or a second document, or more than
// the limits: 64 levels, 100000 nodes after alias expansion), Errc::invalid with yaml-cpp's message
// and *error_pos set. An empty document is a null node at 1:1. Never throws.
Result<YamlNode> load_yaml(std::string_view text, Position* error_pos);

// A scalar's JSON value with YAML 1.2 core schema typing for plain scalars (null, ~, true, False,
// 12, -3, 0x1f, 1.5, 1e3); anything else, and every non-plain scalar, is a string. Sequences and
// maps convert deeply (the first of duplicate keys wins).
nlohmann::json to_json(const YamlNode& node);

// Where byte `offset_in_value` of a scalar's value is in the file, when that can be known (a plain
// or quoted scalar written on one line without escapes before the offset); else the node's
// position.
Position position_in_scalar(const YamlNode& node, std::string_view text, std::size_t offset_in_value);

}  // namespace ir::playbook::detail
