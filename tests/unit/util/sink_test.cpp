#include <doctest/doctest.h>

#include <sstream>

#include "util/sink.hpp"
#include "util/strings.hpp"

using namespace ir::util;

TEST_CASE("incomplete_utf8_tail") {
  CHECK(incomplete_utf8_tail("abc") == 0);
  CHECK(incomplete_utf8_tail("ab\xc3") == 1);
  CHECK(incomplete_utf8_tail("ab\xe2\x9c") == 2);
  CHECK(incomplete_utf8_tail("ab\xf0\x9f\x94") == 3);
  CHECK(incomplete_utf8_tail("ab\xe2\x9c\x93") == 0);  // complete
  CHECK(incomplete_utf8_tail("ab\xff") == 0);          // invalid lead: escaped now, not held
}

TEST_CASE("TerminalSink escapes a stream, keeping lines, across split sequences") {
  std::ostringstream os;
  OstreamSink inner(os);
  TerminalSink t(inner);
  REQUIRE(t.write("ok\tline\n\x1b[2J"));
  REQUIRE(t.write("caf\xc3"));
  REQUIRE(t.write("\xa9\r\n"));
  REQUIRE(t.write("end\xe2"));
  REQUIRE(t.finish());
  CHECK(os.str() == "ok\tline\n\\x1b[2Jcaf\xc3\xa9\\r\nend\\xe2");
}

TEST_CASE("HashingSink and MemorySink") {
  MemorySink mem(4);
  HashingSink h(mem);
  REQUIRE(h.write("ab"));
  REQUIRE(h.write("cdef"));
  CHECK(mem.data() == "abcd");
  CHECK(mem.overflowed());
  CHECK(h.bytes() == 6);
  CHECK(h.hex_digest() == sha256_hex("abcdef"));
}
