#include "util/clock.hpp"

#include <ctime>
#include <thread>

#include <fmt/format.h>

namespace ir::util {

TimePoint RealClock::now() const { return std::chrono::system_clock::now(); }

MonoTime RealClock::steady_now() const { return std::chrono::steady_clock::now(); }

void RealClock::sleep_for(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }

std::string format_rfc3339(TimePoint t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string format_compact_utc(TimePoint t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
}

std::optional<std::string> format_rfc3339_seconds(std::int64_t seconds) {
  constexpr std::int64_t k_first = -62'167'219'200;  // 0000-01-01T00:00:00Z
  constexpr std::int64_t k_last = 253'402'300'799;   // 9999-12-31T23:59:59Z
  if (seconds < k_first || seconds > k_last) return std::nullopt;
  // Civil calendar arithmetic in std::chrono (proleptic Gregorian), not time_t and gmtime: the
  // range above does not fit system_clock's nanoseconds, and time_t may be 32 bits.
  const std::chrono::sys_seconds t{std::chrono::seconds{seconds}};
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{t - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hms.hours().count(),
                     hms.minutes().count(), hms.seconds().count());
}

namespace {
bool read_int(std::string_view s, std::size_t pos, std::size_t len, int& out) {
  if (pos + len > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + len; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}
}  // namespace

std::optional<TimePoint> parse_rfc3339(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (!read_int(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !read_int(s, 5, 2, mo) || s[7] != '-' ||
      !read_int(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !read_int(s, 11, 2, h) ||
      s[13] != ':' || !read_int(s, 14, 2, mi) || s[16] != ':' || !read_int(s, 17, 2, se)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
  std::size_t pos = 19;
  std::chrono::nanoseconds frac{0};
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    long long scale = 100000000;
    long long ns = 0;
    const std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      ns += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
    frac = std::chrono::nanoseconds(ns);
  }
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (!read_int(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !read_int(s, pos + 4, 2, om)) {
      return std::nullopt;
    }
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                        std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  const auto days = std::chrono::sys_days{ymd};
  auto tp = TimePoint{days.time_since_epoch()} + std::chrono::hours(h) + std::chrono::minutes(mi) +
            std::chrono::seconds(se) - std::chrono::minutes(offset_minutes);
  return tp + std::chrono::duration_cast<TimePoint::duration>(frac);
}

}  // namespace ir::util

namespace ir::util {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s.find_first_not_of("0123456789") == std::string_view::npos) {
    if (s.size() > 9) return std::nullopt;
    return std::chrono::seconds(std::stoll(std::string(s)));
  }
  double total_ms = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t num_start = i;
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
    if (i == num_start || i - num_start > 12) return std::nullopt;
    const double value = std::stod(std::string(s.substr(num_start, i - num_start)));
    const std::size_t unit_start = i;
    while (i < s.size() && ((s[i] >= 'a' && s[i] <= 'z') || s[i] == 'u')) ++i;
    const auto unit = s.substr(unit_start, i - unit_start);
    double factor = 0;
    if (unit == "ns") factor = 1e-6;
    else if (unit == "us") factor = 1e-3;
    else if (unit == "ms") factor = 1;
    else if (unit == "s") factor = 1e3;
    else if (unit == "m") factor = 60e3;
    else if (unit == "h") factor = 3600e3;
    else return std::nullopt;
    total_ms += value * factor;
  }
  if (total_ms > 1e12) return std::nullopt;
  return std::chrono::milliseconds(static_cast<long long>(total_ms));
}

std::string format_duration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return fmt::format("{}s", d.count() / 1000);
  return fmt::format("{}ms", d.count());
}

}  // namespace ir::util
