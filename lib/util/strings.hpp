#pragma once
// String helpers that know nothing of Kubernetes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/escape.hpp"  // util::esc and the other escapers of untrusted text

namespace ir::util {

// Removes leading and trailing ASCII white space.
std::string_view trim(std::string_view s);

// Splits on every occurrence of `sep`; keeps empty fields ("a,,b" -> {"a","","b"}).
std::vector<std::string> split(std::string_view s, char sep);

// Joins with `sep` between elements.
std::string join(const std::vector<std::string>& parts, std::string_view sep);

std::string to_lower(std::string_view s);

// Whether escape_for_terminal keeps line breaks and tabs (multi-line output) or escapes them too
// (one-line messages, table cells).
enum class Lines { escape, keep };

// Makes untrusted bytes safe to show on a terminal or in a one-line message: C0 controls, DEL,
// C1 controls and bytes that are not valid UTF-8 become visible escapes (\n, \t, \x1b, \xff);
// backslash becomes "\\". Valid printable UTF-8 passes unchanged. With Lines::keep, '\n' and
// '\t' pass unchanged. At most `max_bytes` input bytes are rendered; longer input ends in
// "...(N more bytes)".
std::string escape_for_terminal(std::string_view s, std::size_t max_bytes = std::string::npos,
                                Lines lines = Lines::escape);

// True if `s` is entirely valid UTF-8 (RFC 3629: no overlongs, surrogates or code points above
// U+10FFFF). Control characters are valid UTF-8.
bool is_valid_utf8(std::string_view s);

// Length of an incomplete UTF-8 sequence at the very end of `s` (0-3 bytes), so a stream can hold
// it back until the rest arrives.
std::size_t incomplete_utf8_tail(std::string_view s);

// Levenshtein edit distance, for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` within distance `max_distance`, or "" if none.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates,
                          std::size_t max_distance = 2);

// Parses a byte size as the CLI and playbooks write it: "1048576", "64Ki", "64Mi", "1Gi", "2Ti",
// "1K", "1M", "1G" (K/M/G = powers of 10). nullopt if malformed, fractional or more than 15 digits.
std::optional<std::uint64_t> parse_byte_size(std::string_view text);

// Percent-encodes a URL query value or path segment (RFC 3986 unreserved characters pass).
std::string url_encode(std::string_view s);

}  // namespace ir::util
