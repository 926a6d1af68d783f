#include <doctest/doctest.h>

#include "util/clock.hpp"

using namespace ir::util;
using namespace std::chrono;

TEST_CASE("parse_rfc3339 and format_rfc3339") {
  auto t = parse_rfc3339("2026-11-21T16:02:28Z");
  REQUIRE(t);
  CHECK(format_rfc3339(*t) == "2026-11-21T16:02:28Z");
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

TEST_CASE("FakeClock sleeps instantly and records") {
  FakeClock c;
  const auto start = c.now();
  c.sleep_for(milliseconds(1500));
  CHECK(c.now() - start == milliseconds(1500));
  CHECK(c.slept() == milliseconds(1500));
}
