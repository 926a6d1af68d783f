#pragma once
// Timestamps as the report handles them: microseconds since the Unix epoch, UTC.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ir::report {

// Parses an RFC 3339 timestamp (Kubernetes' "2026-12-05T11:14:10Z", logs' nanosecond fractions,
// numeric offsets) to microseconds since the epoch (fractions below a microsecond dropped).
// nullopt if malformed or empty.
std::optional<std::int64_t> parse_time_us(std::string_view text);

// "2026-12-05T11:14:10Z", or "2026-12-05T11:14:10.077934Z" when there is a fraction. Times
// outside years 0000..9999 are written as "@<seconds since the epoch>".
std::string format_time_us(std::int64_t us);

// ISO 8601 for Timesketch: "2026-12-05T11:14:10.077934+00:00" (always with microseconds).
std::string format_iso8601_us(std::int64_t us);

}  // namespace ir::report
