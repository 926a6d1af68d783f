#include <doctest/doctest.h>

#include <vector>

#include "util/crypto.hpp"

using namespace ir::util;

TEST_CASE("sha256_hex") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  SUBCASE("incremental equals one-shot") {
    Sha256 h;
    h.update("a");
    h.update("bc");
    CHECK(h.hex_digest() == sha256_hex("abc"));
  }
}

TEST_CASE("Digest: MD5 and SHA-256, raw and hex") {
  Digest md5(DigestAlgorithm::md5);
  md5.update("ab");
  md5.update("c");
  CHECK(md5.hex_digest() == "900150983cd24fb0d6963f7d28e17f72");  // RFC 1321's "abc"
  Digest sha(DigestAlgorithm::sha256);
  sha.update("abc");
  const std::string raw = sha.raw();
  CHECK(raw.size() == 32);
  CHECK(base64_encode(raw) == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
}

TEST_CASE("base64") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  const std::vector<std::string> inputs{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff\x10", 3)};
  for (const auto& s : inputs) {
    CAPTURE(s);
    auto d = base64_decode(base64_encode(s));
    REQUIRE(d);
    CHECK(*d == s);
  }
  SUBCASE("white space is ignored (wrapped PEM data)") {
    auto d = base64_decode("Zm9v\nYmFy\n");
    REQUIRE(d);
    CHECK(*d == "foobar");
  }
  SUBCASE("invalid input") {
    for (const char* bad : {"Zm9", "Zm9v!", "Z=9v", "Zg=a"}) {
      CAPTURE(bad);
      auto d = base64_decode(bad);
      REQUIRE_FALSE(d);
      CHECK(d.error().code == ir::Errc::invalid);
    }
  }
}
