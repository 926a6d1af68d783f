#include <doctest/doctest.h>

#include "cmd/exec.hpp"

using ir::cli::parse_byte_size;

TEST_CASE("parse_byte_size") {
  CHECK(parse_byte_size("1048576") == 1048576U);
  CHECK(parse_byte_size("64Ki") == 65536U);
  CHECK(parse_byte_size("64Mi") == 64ULL << 20);
  CHECK(parse_byte_size("1Gi") == 1ULL << 30);
  CHECK(parse_byte_size("2G") == 2000000000ULL);
  for (const char* bad : {"", "Mi", "12MB", "-1", "1.5Gi", "99999999999999999"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_byte_size(bad));
  }
}
