#pragma once
// Time as an injected dependency, so retries, caches and timestamps are deterministic in tests.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ir::util {

using TimePoint = std::chrono::system_clock::time_point;
// Monotonic time: deadlines, timeouts and durations (never goes back when the wall clock is set).
using MonoTime = std::chrono::steady_clock::time_point;

// Wall-clock time, monotonic time and sleeping. RealClock is the system; FakeClock advances only
// when told to (sleep_for and advance move both its wall and its monotonic time instantly, and
// sleep_for records the total slept), so every deadline and sleep that goes through a Clock is
// deterministic in tests.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  virtual MonoTime steady_now() const = 0;
  virtual void sleep_for(std::chrono::milliseconds d) = 0;

  // Seconds since `start` on the monotonic clock (for "took 1.2 s" figures).
  [[nodiscard]] double seconds_since(MonoTime start) const {
    return std::chrono::duration<double>(steady_now() - start).count();
  }
};

class RealClock final : public Clock {
 public:
  TimePoint now() const override;
  MonoTime steady_now() const override;
  void sleep_for(std::chrono::milliseconds d) override;
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint{} + std::chrono::hours(24 * 365 * 56)) : m_now(start) {}
  TimePoint now() const override { return m_now; }
  MonoTime steady_now() const override { return m_mono; }
  void sleep_for(std::chrono::milliseconds d) override {
    advance(d);
    m_slept += d;
  }
  void advance(std::chrono::milliseconds d) {
    m_now += d;
    m_mono += d;
  }
  std::chrono::milliseconds slept() const { return m_slept; }

 private:
  TimePoint m_now;
  MonoTime m_mono{std::chrono::hours(1)};
  std::chrono::milliseconds m_slept{0};
};

// "2026-11-21T16:02:28Z" (seconds precision, UTC).
std::string format_rfc3339(TimePoint t);

// "20261121T160228Z": ISO 8601 basic format, for file names.
std::string format_compact_utc(TimePoint t);

// Seconds since the Unix epoch (as a file's mtime or a tar header gives them, so any value at
// all) as "2026-11-21T16:02:28Z"; nullopt outside years 0000..9999, which RFC 3339 cannot write.
std::optional<std::string> format_rfc3339_seconds(std::int64_t seconds);

// Parses RFC 3339 timestamps as Kubernetes writes them ("...Z", fractional seconds and numeric
// offsets accepted). nullopt if malformed.
std::optional<TimePoint> parse_rfc3339(std::string_view s);

}  // namespace ir::util

namespace ir::util {

// Parses a duration as kubectl and Go write them: "0", "30" (seconds), "500ms", "30s", "5m",
// "1h30m", "1.5s". nullopt if malformed or negative.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view s);

// A duration for messages, in a form parse_duration reads back: "2s" when whole seconds, else
// "300ms" (timeouts in tests are often sub-second). Never fails.
std::string format_duration(std::chrono::milliseconds d);

}  // namespace ir::util
