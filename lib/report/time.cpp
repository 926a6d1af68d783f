#include "report/time.hpp"

#include <chrono>

#include <fmt/format.h>

#include "util/clock.hpp"

namespace ir::report {

namespace {

constexpr std::int64_t k_us_per_s = 1'000'000;

// Floor division, so times before 1970 split into a second and a positive fraction.
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0 && (a < 0) != (b < 0)) ? 1 : 0);
}

}  // namespace

std::optional<std::int64_t> parse_time_us(std::string_view text) {
  if (text.empty()) return std::nullopt;
  const auto t = util::parse_rfc3339(text);
  if (!t) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::microseconds>(t->time_since_epoch()).count();
}

std::string format_time_us(std::int64_t us) {
  const std::int64_t seconds = floor_div(us, k_us_per_s);
  const std::int64_t fraction = us - seconds * k_us_per_s;
  const auto text = util::format_rfc3339_seconds(seconds);
  if (!text) return fmt::format("@{}", seconds);
  if (fraction == 0) return *text;
  return text->substr(0, text->size() - 1) + fmt::format(".{:06d}Z", fraction);
}

std::string format_iso8601_us(std::int64_t us) {
  const std::int64_t seconds = floor_div(us, k_us_per_s);
  const std::int64_t fraction = us - seconds * k_us_per_s;
  const auto text = util::format_rfc3339_seconds(seconds);
  if (!text) return fmt::format("@{}", seconds);
  return text->substr(0, text->size() - 1) + fmt::format(".{:06d}+00:00", fraction);
}

}  // namespace ir::report
