#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "util/escape.hpp"

using namespace ir::util;

TEST_CASE("visible_text") {
  SUBCASE("controls, invalid UTF-8 and backslashes as in escape_for_terminal") {
    CHECK(visible_text("a\x1b[31mb\n\\\xff") == "a\\x1b[31mb\\n\\\\\\xff");
    CHECK(visible_text(std::string("nul\0byte", 8)) == "nul\\x00byte");
  }
  SUBCASE("characters that reorder or hide text") {
    CHECK(visible_text("invoice\u202egnp.exe") == "invoice\\u202egnp.exe");
    CHECK(visible_text("a\u2066b\u2069c\u200bd\ufeffe\u00adf") == "a\\u2066b\\u2069c\\u200bd\\ufeffe\\u00adf");
    CHECK(visible_text("line\u2028sep\u2029") == "line\\u2028sep\\u2029");
    CHECK(visible_text("tag\xf3\xa0\x81\x81") == "tag\\U000e0041");
  }
  SUBCASE("printable UTF-8 passes") {
    CHECK(visible_text("café ✓ 日本 😀") == "café ✓ 日本 😀");
  }
  SUBCASE("escaped text is not escaped twice") {
    const std::string once = visible_text("a\x1b\\b\u202e");
    CHECK(visible_text(once, Text::escaped) == once);
    CHECK(visible_text("\\x1b already", Text::escaped) == "\\x1b already");
    CHECK(visible_text("raw \x1b in escaped", Text::escaped) == "raw \\x1b in escaped");  // still made visible
  }
  SUBCASE("bounded") {
    CHECK(visible_text(std::string(100, 'a'), Text::raw, 10) == "aaaaaaaaaa...(90 more bytes)");
    CHECK(visible_text("ab\u00e9cd", Text::escaped, 3) == "ab...(4 more bytes)");  // not half of é
  }
}

TEST_CASE("quoted") {
  SUBCASE("the visible form between quotes") {
    CHECK(quoted("web") == "\"web\"");
    CHECK(quoted("a\x1b[2Jb\u202e") == "\"a\\x1b[2Jb\\u202e\"");
  }
  SUBCASE("bounded by the cap, the quotes kept") {
    const std::string long_value(100, 'x');
    const std::string q = quoted(long_value, Cap::word);
    CHECK(q.front() == '"');
    CHECK(q.back() == '"');
    CHECK(q.find(std::string(64, 'x')) == 1);
    CHECK(q.find(std::string(65, 'x')) == std::string::npos);
    CHECK(q.find("36 more bytes") != std::string::npos);
  }
}

TEST_CASE("escape_html") {
  CHECK(escape_html("<script>alert('x')</script>") == "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
  CHECK(escape_html("\"><img src=x onerror=y>") == "&quot;&gt;&lt;img src=x onerror=y&gt;");
  CHECK(escape_html("a & b &amp;") == "a &amp; b &amp;amp;");
  CHECK(escape_html("\u202e\x1b") == "\\u202e\\x1b");
  for (const char c : escape_html("<>\"'&\x01\u202e")) {
    CHECK(c != '<');
    CHECK(c != '>');
    CHECK(c != '"');
    CHECK(c != '\'');
  }
}

TEST_CASE("escape_markdown") {
  CHECK(escape_markdown("[x](javascript:alert(1))") == "\\[x\\]\\(javascript:alert\\(1\\)\\)");
  CHECK(escape_markdown("![i](http://h/x.png)") == "\\!\\[i\\]\\(http://h/x.png\\)");
  CHECK(escape_markdown("<b>*bold* _u_ `code` a|b ~~s~~ #h") ==
        "\\<b\\>\\*bold\\* \\_u\\_ \\`code\\` a\\|b \\~\\~s\\~\\~ \\#h");
  CHECK(escape_markdown("- item") == "\\- item");
  CHECK(escape_markdown("a - b") == "a - b");
  CHECK(escape_markdown("back\\slash") == "back\\\\\\\\slash");  // visible form doubles it, Markdown escapes both
  CHECK(escape_markdown("a\nb") == "a\\\\nb");                   // no line break: \n shown
}

TEST_CASE("escape_script_json") {
  const std::string json = nlohmann::json{{"x", "</script><!--<script>&\u2028\u2029"}}.dump();
  const std::string safe = escape_script_json(json);
  CHECK(safe.find('<') == std::string::npos);
  CHECK(safe.find('>') == std::string::npos);
  CHECK(safe.find('&') == std::string::npos);
  CHECK(safe.find("\u2028") == std::string::npos);
  CHECK(safe.find("\u2029") == std::string::npos);
  CHECK(nlohmann::json::parse(safe) == nlohmann::json::parse(json));  // the same value
}

TEST_CASE("append_script_json_string") {
  const std::string inputs[] = {
      "plain", "</script>", "quote\" back\\ nl\n tab\t cr\r", std::string("nul\0x\x1f", 7), "\u2028\u2029",
      "é😀",    "<!-- & -->"};
  for (const auto& in : inputs) {
    std::string out;
    append_script_json_string(out, in);
    CAPTURE(out);
    CHECK(out.find('<') == std::string::npos);
    CHECK(out.find('>') == std::string::npos);
    CHECK(out.find("\u2028") == std::string::npos);
    CHECK(nlohmann::json::parse(out).get<std::string>() == in);
  }
  std::string out;
  append_script_json_string(out, "bad \xff\xfe end");
  CHECK(nlohmann::json::parse(out).get<std::string>() == "bad \ufffd\ufffd end");
}
