#include "util/escape.hpp"

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

#include "util/strings.hpp"

namespace ir::util {

namespace {

// Decodes the UTF-8 sequence at s[i]: its code point and length, or length 0 when the bytes there
// are not valid UTF-8 (RFC 3629: no overlongs, surrogates or values above U+10FFFF).
struct CodePoint {
  char32_t value = 0;
  std::size_t length = 0;
};
CodePoint decode(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<std::uint8_t>(s[i + k]); };
  const auto cont = [&](std::size_t k) { return i + k < s.size() && (b(k) & 0xC0U) == 0x80U; };
  const std::uint8_t b0 = b(0);
  if (b0 < 0x80U) return {b0, 1};
  if (b0 >= 0xC2U && b0 <= 0xDFU && cont(1)) return {static_cast<char32_t>(((b0 & 0x1FU) << 6) | (b(1) & 0x3FU)), 2};
  if (b0 >= 0xE0U && b0 <= 0xEFU && cont(1) && cont(2)) {
    const char32_t v = ((b0 & 0x0FU) << 12) | ((b(1) & 0x3FU) << 6) | (b(2) & 0x3FU);
    if (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF)) return {};
    return {v, 3};
  }
  if (b0 >= 0xF0U && b0 <= 0xF4U && cont(1) && cont(2) && cont(3)) {
    const char32_t v = ((b0 & 0x07U) << 18) | ((b(1) & 0x3FU) << 12) | ((b(2) & 0x3FU) << 6) | (b(3) & 0x3FU);
    if (v < 0x10000 || v > 0x10FFFF) return {};
    return {v, 4};
  }
  return {};
}

// Characters that reorder or hide text (see escape.hpp).
bool is_invisible(char32_t c) {
  return c == 0x00AD || c == 0x061C || c == 0x180E || (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 ||
         (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x2064) || (c >= 0x2066 && c <= 0x206F) || c == 0xFEFF ||
         (c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0xE0000 && c <= 0xE007F);
}

// Adds the Unicode part of the visible form to text already escaped for a terminal (and, should it
// not be, writes invalid bytes and controls as \xNN, so the result is visible whatever came in).
std::string escape_invisible(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const CodePoint cp = decode(s, i);
    if (cp.length == 0 || cp.value < 0x20 || cp.value == 0x7F || (cp.value >= 0x80 && cp.value < 0xA0)) {
      out += fmt::format("\\x{:02x}", static_cast<std::uint8_t>(s[i]));
      ++i;
      continue;
    }
    if (is_invisible(cp.value)) {
      out += cp.value > 0xFFFF ? fmt::format("\\U{:08x}", static_cast<std::uint32_t>(cp.value))
                               : fmt::format("\\u{:04x}", static_cast<std::uint32_t>(cp.value));
    } else {
      out.append(s.substr(i, cp.length));
    }
    i += cp.length;
  }
  return out;
}

}  // namespace

std::string visible_text(std::string_view s, Text kind, std::size_t max_bytes) {
  if (kind == Text::raw) return escape_invisible(escape_for_terminal(s, max_bytes));
  if (max_bytes >= s.size()) return escape_invisible(s);
  // Cut on a character boundary, so the cut does not leave half a sequence to be shown as \xNN.
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<std::uint8_t>(s[cut]) & 0xC0U) == 0x80U) --cut;
  return escape_invisible(s.substr(0, cut)) + fmt::format("...({} more bytes)", s.size() - cut);
}

std::string escape_markup(std::string_view s, std::string_view apostrophe) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += apostrophe;
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string escape_html(std::string_view s, Text kind, std::size_t max_bytes) {
  return escape_markup(visible_text(s, kind, max_bytes), "&#39;");
}

std::string escape_markdown(std::string_view s, Text kind, std::size_t max_bytes) {
  const std::string visible = visible_text(s, kind, max_bytes);
  std::string out;
  out.reserve(visible.size() + visible.size() / 4);
  constexpr std::string_view k_special = "\\`*_[]()<>&|~!#";
  constexpr std::string_view k_leading = "+-.=";  // list items, setext headings at a line's start
  for (std::size_t i = 0; i < visible.size(); ++i) {
    const char c = visible[i];
    if (k_special.find(c) != std::string_view::npos || (i == 0 && k_leading.find(c) != std::string_view::npos)) {
      out += '\\';
    }
    out += c;
  }
  return out;
}

std::string escape_script_json(std::string_view json) {
  std::string out;
  out.reserve(json.size() + json.size() / 16);
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xE2' && i + 2 < json.size() && json[i + 1] == '\x80' &&
               (json[i + 2] == '\xA8' || json[i + 2] == '\xA9')) {
      out += json[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

void append_script_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<std::uint8_t>(s[i]);
    if (c >= 0x80U) {
      const CodePoint cp = decode(s, i);
      if (cp.length == 0) {
        out += "\\ufffd";
        ++i;
      } else if (cp.value == 0x2028 || cp.value == 0x2029) {
        out += cp.value == 0x2028 ? "\\u2028" : "\\u2029";
        i += cp.length;
      } else {
        out.append(s.substr(i, cp.length));
        i += cp.length;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '<':
        out += "\\u003c";
        break;
      case '>':
        out += "\\u003e";
        break;
      case '&':
        out += "\\u0026";
        break;
      default:
        if (c < 0x20U) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

std::string esc(std::string_view s, Cap cap) { return visible_text(s, Text::raw, static_cast<std::size_t>(cap)); }

std::string quoted(std::string_view s, Cap cap) { return "\"" + esc(s, cap) + "\""; }

std::string esc(std::string_view s, Text kind, Cap cap) { return visible_text(s, kind, static_cast<std::size_t>(cap)); }

}  // namespace ir::util
