#include "util/strings.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <fmt/format.h>

namespace ir::util {

std::string_view trim(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.emplace_back(s.substr(start));
      return out;
    }
    out.emplace_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
  return out;
}

namespace {

// Length of the valid UTF-8 sequence starting at s[i] (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF), or 0 if the bytes there are not valid UTF-8.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<std::uint8_t>(s[i]);
  auto cont = [&](std::size_t k) {
    return i + k < s.size() && (static_cast<std::uint8_t>(s[i + k]) & 0xC0U) == 0x80U;
  };
  if (b0 < 0x80U) return 1;
  if (b0 >= 0xC2U && b0 <= 0xDFU) return cont(1) ? 2 : 0;
  if (b0 >= 0xE0U && b0 <= 0xEFU) {
    if (!cont(1) || !cont(2)) return 0;
    const auto b1 = static_cast<std::uint8_t>(s[i + 1]);
    if (b0 == 0xE0U && b1 < 0xA0U) return 0;   // overlong
    if (b0 == 0xEDU && b1 >= 0xA0U) return 0;  // surrogate
    return 3;
  }
  if (b0 >= 0xF0U && b0 <= 0xF4U) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const auto b1 = static_cast<std::uint8_t>(s[i + 1]);
    if (b0 == 0xF0U && b1 < 0x90U) return 0;   // overlong
    if (b0 == 0xF4U && b1 >= 0x90U) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string escape_for_terminal(std::string_view s, std::size_t max_bytes, Lines lines) {
  std::string out;
  const std::size_t limit = std::min(s.size(), max_bytes);
  out.reserve(limit);
  std::size_t i = 0;
  while (i < limit) {
    const auto c = static_cast<std::uint8_t>(s[i]);
    if (c == '\\') {
      out += "\\\\";
      ++i;
    } else if ((c == '\n' || c == '\t') && lines == Lines::keep) {
      out += static_cast<char>(c);
      ++i;
    } else if (c == '\n') {
      out += "\\n";
      ++i;
    } else if (c == '\t') {
      out += "\\t";
      ++i;
    } else if (c == '\r') {
      out += "\\r";
      ++i;
    } else if (c < 0x20U || c == 0x7FU) {
      out += fmt::format("\\x{:02x}", c);
      ++i;
    } else if (c < 0x80U) {
      out += static_cast<char>(c);
      ++i;
    } else {
      const std::size_t n = utf8_sequence_length(s, i);
      // C1 controls (U+0080..U+009F) are encoded C2 80..C2 9F; some terminals act on them.
      const bool c1 = n == 2 && c == 0xC2U && static_cast<std::uint8_t>(s[i + 1]) < 0xA0U;
      if (n == 0 || c1 || i + n > limit) {
        out += fmt::format("\\x{:02x}", c);
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
    }
  }
  if (limit < s.size()) out += fmt::format("...({} more bytes)", s.size() - limit);
  return out;
}

std::size_t incomplete_utf8_tail(std::string_view s) {
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
  for (std::size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    const auto c = static_cast<std::uint8_t>(s[s.size() - back]);
    if ((c & 0xC0U) == 0x80U) continue;  // continuation byte: keep looking for the lead
    std::size_t need = 0;
    if (c >= 0xC2U && c <= 0xDFU) need = 2;
    else if (c >= 0xE0U && c <= 0xEFU) need = 3;
    else if (c >= 0xF0U && c <= 0xF4U) need = 4;
    return need > back ? back : 0;
  }
  return 0;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1);
  std::vector<std::size_t> cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates,
                          std::size_t max_distance) {
  std::string best;
  std::size_t best_d = max_distance + 1;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

std::optional<std::uint64_t> parse_byte_size(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15) return std::nullopt;
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < digits; ++i) n = n * 10 + static_cast<std::uint64_t>(text[i] - '0');
  const std::string_view unit = text.substr(digits);
  static constexpr std::pair<std::string_view, std::uint64_t> k_units[] = {
      {"", 1},            {"K", 1000ULL},     {"M", 1000ULL * 1000}, {"G", 1000ULL * 1000 * 1000},
      {"Ki", 1ULL << 10}, {"Mi", 1ULL << 20}, {"Gi", 1ULL << 30},    {"Ti", 1ULL << 40}};
  for (const auto& [name, factor] : k_units) {
    if (unit == name) return n * factor;
  }
  return std::nullopt;
}

std::string url_encode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace ir::util
