#include <doctest/doctest.h>

#include "util/strings.hpp"

using namespace ir::util;

TEST_CASE("escape_for_terminal") {
  struct Case {
    std::string in;
    std::string out;
  };
  const Case cases[] = {
      {"plain text", "plain text"},
      {"tab\there", "tab\\there"},
      {"line\nbreak\r", "line\\nbreak\\r"},
      {"\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"},
      {"title\x1b]0;pwned\x07", "title\\x1b]0;pwned\\x07"},
      {"del\x7f", "del\\x7f"},
      {"back\\slash", "back\\\\slash"},
      {"caf\xc3\xa9", "caf\xc3\xa9"},              // valid UTF-8 passes
      {"\xe2\x9c\x93 ok", "\xe2\x9c\x93 ok"},      // 3-byte sequence
      {"\xf0\x9f\x94\xa5", "\xf0\x9f\x94\xa5"},    // 4-byte sequence
      {"bad\xff\xfe", "bad\\xff\\xfe"},            // not UTF-8
      {"\xc2\x9b" "31m", "\\xc2\\x9b31m"},         // C1 CSI
      {"\xc0\xaf", "\\xc0\\xaf"},                  // overlong '/'
      {"\xed\xa0\x80", "\\xed\\xa0\\x80"},         // surrogate
      {"trunc\xe2\x9c", "trunc\\xe2\\x9c"},        // cut sequence
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    CHECK(escape_for_terminal(c.in) == c.out);
  }
  SUBCASE("bounded") {
    CHECK(escape_for_terminal(std::string(10, 'a'), 4) == "aaaa...(6 more bytes)");
    // A multi-byte sequence that straddles the limit is escaped, not split.
    CHECK(escape_for_terminal("ab\xc3\xa9", 3) == "ab\\xc3...(1 more bytes)");
  }
}

TEST_CASE("trim and split and join") {
  CHECK(trim("  a b \n") == "a b");
  CHECK(trim("") == "");
  CHECK(split("a,,b", ',') == std::vector<std::string>{"a", "", "b"});
  CHECK(split("", ',') == std::vector<std::string>{""});
  CHECK(join({"a", "b", "c"}, ", ") == "a, b, c");
  CHECK(to_lower("Content-Type") == "content-type");
}

TEST_CASE("closest_match") {
  const std::vector<std::string> commands{"isolate", "release", "collect", "siblings", "doctor", "version"};
  CHECK(closest_match("colect", commands) == "collect");
  CHECK(closest_match("isloate", commands) == "isolate");
  CHECK(closest_match("doctr", commands) == "doctor");
  CHECK(closest_match("zzzzzzz", commands).empty());
  CHECK(edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("url_encode") {
  CHECK(url_encode("app=web,tier in (a,b)") == "app%3Dweb%2Ctier%20in%20%28a%2Cb%29");
  CHECK(url_encode("a-b_c.d~e") == "a-b_c.d~e");
  CHECK(url_encode("\xff") == "%FF");
}

TEST_CASE("parse_byte_size (util)") {
  CHECK(parse_byte_size("512") == 512U);
  CHECK(parse_byte_size("2Ti") == 2ULL << 40);
  CHECK(parse_byte_size("3K") == 3000U);
  for (const char* bad : {"", "Ki", "1 Mi", "1mi", "1.5M", "1234567890123456"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_byte_size(bad));
  }
}
