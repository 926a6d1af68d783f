#include <doctest/doctest.h>

#include <cstdint>

#include "util/clock.hpp"

using namespace ir::util;
using namespace std::chrono;

TEST_CASE("parse_rfc3339 and format_rfc3339") {
  auto t = parse_rfc3339("2026-11-21T16:02:28Z");
  REQUIRE(t);
  CHECK(format_rfc3339(*t) == "2026-11-21T16:02:28Z");
  CHECK(format_compact_utc(*t) == "20261121T160228Z");
  auto frac = parse_rfc3339("2026-11-21T16:02:28.123456789Z");
  REQUIRE(frac);
  CHECK(duration_cast<milliseconds>(*frac - *t).count() == 123);
  auto off = parse_rfc3339("2026-11-21T18:02:28+02:00");
  REQUIRE(off);
  CHECK(*off == *t);
  for (const char* bad : {"", "2026-11-21", "2026-11-21T16:02:28", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                          "2026-11-21T16:02:28Zjunk", "2026-11-21T16:02:28.Z"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_rfc3339(bad));
  }
}

TEST_CASE("format_rfc3339_seconds: any epoch second in years 0000..9999, nullopt outside") {
  CHECK(format_rfc3339_seconds(0) == "1970-01-01T00:00:00Z");
  CHECK(format_rfc3339_seconds(-1) == "1969-12-31T23:59:59Z");
  CHECK(format_rfc3339_seconds(-315'619'200) == "1960-01-01T00:00:00Z");
  CHECK(format_rfc3339_seconds(1'795'290'148) == format_rfc3339(system_clock::time_point{seconds{1'795'290'148}}));
  CHECK(format_rfc3339_seconds(951'782'400) == "2000-02-29T00:00:00Z");
  CHECK(format_rfc3339_seconds(-62'167'219'200) == "0000-01-01T00:00:00Z");
  CHECK(format_rfc3339_seconds(253'402'300'799) == "9999-12-31T23:59:59Z");
  CHECK_FALSE(format_rfc3339_seconds(-62'167'219'201));
  CHECK_FALSE(format_rfc3339_seconds(253'402'300'800));
  CHECK_FALSE(format_rfc3339_seconds(INT64_MIN));
  CHECK_FALSE(format_rfc3339_seconds(INT64_MAX));
}

TEST_CASE("parse_duration") {
  struct Case {
    const char* in;
    long long ms;
  };
  const Case ok[] = {{"0", 0}, {"30", 30000}, {"500ms", 500}, {"30s", 30000}, {"2m", 120000}, {"1h30m", 5400000},
                     {"1.5s", 1500}};
  for (const auto& c : ok) {
    CAPTURE(c.in);
    auto d = parse_duration(c.in);
    REQUIRE(d);
    CHECK(d->count() == c.ms);
  }
  for (const char* bad : {"", "abc", "10x", "-1s", "s"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad));
  }
}

TEST_CASE("format_duration") {
  CHECK(format_duration(milliseconds(0)) == "0s");
  CHECK(format_duration(milliseconds(300)) == "300ms");
  CHECK(format_duration(milliseconds(1500)) == "1500ms");
  CHECK(format_duration(milliseconds(300000)) == "300s");
  // What it writes, parse_duration reads back.
  for (const long long ms : {0LL, 1LL, 300LL, 1500LL, 2000LL, 300000LL}) {
    CAPTURE(ms);
    CHECK(parse_duration(format_duration(milliseconds(ms))) == milliseconds(ms));
  }
}

TEST_CASE("FakeClock sleeps instantly and records") {
  FakeClock c;
  const auto start = c.now();
  c.sleep_for(milliseconds(1500));
  CHECK(c.now() - start == milliseconds(1500));
  CHECK(c.slept() == milliseconds(1500));
}
